"""The cost card: what C-TPT costs per image on this machine, written to ``benchmarks/results/<device>.json``.

Random weights (no downloads), one AdamW step, 64 views, C-TPT (lambda 50), for ViT-B/16 and RN50:

- tuning: seconds per image and peak memory at ``K`` classes (default 10, 100, and 1000 on a GPU)
  for the straightforward loop, the library default (one image at a time) and batched tuning of
  ``B`` images (GPU: 8, 16, 32; CPU: at most 8), the modes of ``bench_tpt.py`` (imported);
- views: seconds per image of making 64 views of a 375 x 500 image, without and with AugMix,
  in line and in ``num_workers`` DataLoader workers (:func:`vlmcal_utils.tpt.views.view_batches`);
- features: images per second of the image tower alone (zero-shot feature extraction);
- end to end (``--end-to-end``, on by default on a GPU): :func:`vlmcal_utils.tpt.run_tpt` at
  K = 1000 with AugMix, views in workers as the library does by default, wall seconds per image.

Each measurement runs in a subprocess: on a CPU one per measurement (its peak RSS is its own), on
a GPU one per model (peak memory from ``torch.cuda.max_memory_allocated`` / ``_reserved``,
reset before each). Not part of ``make test``.

    python benchmarks/cost_card.py                        # everything, this machine's defaults
    python benchmarks/cost_card.py --check benchmarks/results/nvidia-h200.json   # the GPU targets

``--budget-s`` stops starting measurements after that many seconds; the ones left are recorded as
skipped. ``--figures`` also writes the end-to-end seconds per image as cost figures for
``python -m vlmcal_utils.paper_sets`` (:func:`vlmcal_utils.paper_sets.load_cost_figures`) to
``<out stem>-cost-figures.json``; the card itself is one JSON object without a cost figure's keys,
so ``load_cost_figures`` skips it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_tpt  # noqa: E402  (the modes and their timing: one definition for both benchmarks)

SCHEMA = "vlmcal-cost-card/1"
CARD_MODES = {"straightforward": "straightforward", "default": "cache_images", "batched": "batched"}
GB = 1e9 / 2**20  # MiB in one GB (10^9 bytes)
VIEW_IMAGE = (375, 500)  # a typical ImageNet photo, height x width


# ---------------------------------------------------------------- the worker (one subprocess)

def _worker(spec: dict) -> None:
    import torch

    from vlmcal_utils import tpt

    device = torch.device(spec["device"])
    torch.set_num_threads(spec["threads"])
    model = bench_tpt.make_model(spec["arch"], device) if spec.get("arch") else None
    pp = tpt.preprocess_config(model) if model is not None else None
    views_cache, learners = None, {}

    def views_for(n: int):
        nonlocal views_cache
        if views_cache is None or views_cache.shape[0] < n:
            views_cache = bench_tpt.test_views(pp, n, spec["n_views"])
        return views_cache[:n]

    for job in spec["jobs"]:
        if time.time() > spec["deadline"]:
            print(json.dumps({**job, "skipped": "time budget spent"}), flush=True)
            continue
        try:
            out = _measure(job, spec, device, model, pp, views_for, learners)
        except Exception as err:  # e.g. out of GPU memory at the largest batch: the other jobs still run
            out = {**job, "skipped": f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"}
            if device.type == "cuda":
                torch.cuda.empty_cache()
        print(json.dumps(out), flush=True)


def _measure(job: dict, spec: dict, device, model, pp, views_for, learners) -> dict:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()  # the reserved-memory peak is this job's, not an earlier one's cache
    return {**job, **_MEASURES[job["kind"]](job, spec, device, model, pp, views_for, learners)}


def _measure_tuning(job, spec, device, model, pp, views_for, learners) -> dict:
    import numpy as np

    if job["classes"] not in learners:
        learners.clear()
        learners[job["classes"]] = bench_tpt.make_learner(model, spec["arch"], job["classes"])
    n = job["batch"] if job["mode"] == "batched" else job["images"]
    warm = None if device.type == "cuda" else 10  # a GPU warms up at full size: kernels are chosen per shape
    res = bench_tpt.time_mode(model, learners[job["classes"]], views_for(n), CARD_MODES[job["mode"]],
                              spec["method"], warmup_views=warm)
    return dict(seconds_per_image=float(np.mean(res["times"])), cpu_seconds_per_image=float(np.mean(res["cpu"])),
                peak_mb=res["peak_mb"], reserved_mb=res.get("reserved_mb"), logits=res["logits"].tolist())


def _measure_features(job, spec, device, model, pp, views_for, learners) -> dict:
    import torch

    from vlmcal_utils.device import autocast

    size = pp["size"]
    x = torch.randn(job["batch"], 3, size, size, device=device)
    n_batches = max(1, job["images"] // job["batch"])
    with torch.no_grad(), autocast(device, "auto"):
        model.encode_image(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n_batches):
            model.encode_image(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return dict(images=n_batches * job["batch"], images_per_second=n_batches * job["batch"] / wall)


def _measure_views(job, spec, device, model, pp, views_for, learners) -> dict:
    import numpy as np

    from vlmcal_utils.tpt.views import view_batches

    cfg = {"size": 224, "mean": (0.48145466, 0.4578275, 0.40821073),
           "std": (0.26862954, 0.26130258, 0.27577711)}  # CLIP's, as open_clip's ViT-B/16 and RN50
    rng = np.random.default_rng(0)
    data = [(rng.integers(0, 256, (*VIEW_IMAGE, 3), dtype=np.uint8), 0) for _ in range(job["images"])]
    idx = list(range(job["images"]))
    t0 = time.perf_counter()
    secs = []
    for _, _, _, s in view_batches(data, idx, idx, cfg, n_views=spec["n_views"], augmix=job["augmix"],
                                   num_workers=job["num_workers"]):
        secs += s
    wall = time.perf_counter() - t0
    return dict(seconds_per_image=wall / job["images"], view_seconds_per_image=float(np.mean(secs)))


def _measure_end_to_end(job, spec, device, model, pp, views_for, learners) -> dict:
    import numpy as np
    import open_clip
    import torch

    from vlmcal_utils import tpt
    from vlmcal_utils.tpt.views import default_num_workers

    base = list(open_clip.IMAGENET_CLASSNAMES)
    names = (base * (job["classes"] // len(base) + 1))[: job["classes"]]
    rng = np.random.default_rng(1)
    data = [(rng.integers(0, 256, (*VIEW_IMAGE, 3), dtype=np.uint8), i % job["classes"])
            for i in range(job["images"])]
    workers = default_num_workers(device) if job["num_workers"] is None else job["num_workers"]
    # the protocol's settings on ImageNet's classes (λ 50), with the job's AugMix and workers
    settings = tpt.RunSettings.protocol("imagenet", "hard", job["method"], n_views=spec["n_views"],
                                        augmix=job["augmix"], num_workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        rows = tpt.run_tpt(model, open_clip.get_tokenizer(spec["arch"]), data, names, job["method"],
                           Path(tmp) / "run.jsonl", settings, progress=False)
        wall = time.perf_counter() - t0
    return dict(workers_used=workers, seconds_per_image=wall / len(rows),
                row_seconds=float(np.mean([r["seconds"] for r in rows])),
                view_seconds=float(np.mean([r["view_seconds"] for r in rows])))


#: One measurement per job kind.
_MEASURES = {"tuning": _measure_tuning, "features": _measure_features, "views": _measure_views,
             "end_to_end": _measure_end_to_end}


# ---------------------------------------------------------------- the plan and the card

def device_info(device: str) -> dict:
    """The machine as the card names it: type, name, a file-name slug, CPUs, library versions."""
    import open_clip
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        slug = name
    else:
        name = platform.processor() or platform.machine()
        try:
            models = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
            name = models[0].strip() if models else name
        except OSError:
            pass
        slug = "cpu-" + name
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"type": "cuda" if device.startswith("cuda") else "cpu", "name": name,
            "slug": re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-"), "cpus": cpus,
            "torch": torch.__version__, "open_clip": open_clip.__version__,
            "cuda": torch.version.cuda if device.startswith("cuda") else None}


def plan(args, gpu: bool) -> list[dict]:
    """Subprocess specs ``{"arch", "jobs": [...]}`` in the order they run: views, then per model the
    library default and the straightforward loop at each K, batched at K <= 100, features, end to
    end, batched at larger K."""
    specs = [{"arch": None, "jobs": [{"kind": "views", "augmix": a, "num_workers": w, "images": args.view_images}
                                     for a in (False, True) for w in [0, *args.view_workers]]}]
    for arch in args.archs:
        jobs = []
        for k in args.classes:  # library default, then the straightforward loop
            jobs += [{"kind": "tuning", "arch": arch, "classes": k, "mode": m, "images": args.images}
                     for m in ("default", "straightforward")]

        def batched(ks, arch=arch):
            return [{"kind": "tuning", "arch": arch, "classes": k, "mode": "batched", "batch": b}
                    for k in ks if k in args.batched_classes for b in args.batch_sizes]

        jobs += batched([k for k in args.classes if k <= 100])
        jobs.append({"kind": "features", "arch": arch, "batch": args.feature_batch, "images": args.feature_images})
        if args.end_to_end:
            for method, workers in (("ctpt", None), ("tpt", None), ("ctpt", 0)):
                jobs.append({"kind": "end_to_end", "arch": arch, "classes": max(args.classes), "method": method,
                             "images": args.e2e_images, "augmix": True, "num_workers": workers})
        jobs += batched([k for k in args.classes if k > 100])  # the largest (and slowest) batches last
        # on a CPU every measurement gets its own process: its peak RSS is its own
        specs += [{"arch": arch, "jobs": jobs}] if gpu else [{"arch": arch, "jobs": [j]} for j in jobs]
    return specs


def _diffs(tuning: list[dict]) -> None:
    """``max_abs_logit_diff``: each mode's logits vs the straightforward loop's, same images and K."""
    import numpy as np

    ref = {(r["arch"], r["classes"]): np.array(r["logits"]) for r in tuning
           if r.get("mode") == "straightforward" and "logits" in r}
    for r in tuning:
        base = ref.get((r["arch"], r["classes"]))
        if "logits" in r and base is not None:
            mine = np.array(r["logits"])
            n = min(len(mine), len(base))
            r["max_abs_logit_diff"] = float(np.abs(mine[:n] - base[:n]).max())
        r.pop("logits", None)


def _rate(rows, **match) -> float | None:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items()) and "seconds_per_image" in r]
    return 1.0 / found[0]["seconds_per_image"] if found else None


def check_targets(card: dict) -> list[dict]:
    """The GPU targets: ``{"target", "arch", "status": "met"|"missed"|"not measured", "detail"}``.

    1. C-TPT at K = 1000 (library default) within 16 GB (peak reserved memory, else allocated);
    2. batched (best B) at least 2x the library default's images/s at every K <= 100;
    3. the library default at least 3x the straightforward loop's images/s at K = 1000.
    """
    rows = card.get("tuning", [])
    out = []
    for arch in card["config"]["archs"]:
        mine = [r for r in rows if r["arch"] == arch]
        mem = [r for r in mine if r["classes"] == 1000 and r["mode"] == "default" and "peak_mb" in r]
        if mem:
            mb = mem[0].get("reserved_mb") or mem[0]["peak_mb"]
            out.append({"target": "K=1000 C-TPT within 16 GB", "arch": arch,
                        "status": "met" if mb <= 16 * GB else "missed", "detail": f"peak {mb / GB:.2f} GB"})
        else:
            out.append({"target": "K=1000 C-TPT within 16 GB", "arch": arch, "status": "not measured", "detail": ""})
        for k in [k for k in card["config"]["classes"] if k <= 100]:
            base = _rate(mine, classes=k, mode="default")
            best = max((1 / r["seconds_per_image"] for r in mine if r["classes"] == k and r["mode"] == "batched"
                        and "seconds_per_image" in r), default=None)
            name = f"batched >= 2x default images/s at K={k}"
            if base is None or best is None:
                out.append({"target": name, "arch": arch, "status": "not measured", "detail": ""})
            else:
                out.append({"target": name, "arch": arch, "status": "met" if best >= 2 * base else "missed",
                            "detail": f"best batched {best:.2f} vs default {base:.2f} images/s ({best / base:.2f}x)"})
        base, slow = _rate(mine, classes=1000, mode="default"), _rate(mine, classes=1000, mode="straightforward")
        name = "default >= 3x straightforward images/s at K=1000"
        if base is None or slow is None:
            out.append({"target": name, "arch": arch, "status": "not measured", "detail": ""})
        else:
            out.append({"target": name, "arch": arch, "status": "met" if base >= 3 * slow else "missed",
                        "detail": f"default {base:.2f} vs straightforward {slow:.2f} images/s ({base / slow:.2f}x)"})
    return out


def cost_figures(card: dict) -> list[dict]:
    """The end-to-end runs with the default view workers, as ``paper_sets.load_cost_figures`` reads them.

    None from a CPU card: ``paper_sets`` reads cost figures as GPU seconds.
    """
    dev = card["device"]
    if dev["type"] != "cuda":
        return []
    return [{"model": r["arch"], "method": r["method"], "seconds_per_image": round(r["seconds_per_image"], 4),
             "n_views": card["config"]["views"], "device": dev["name"], "n_classes": r["classes"],
             "augmix": r["augmix"],
             "source": f"benchmarks/cost_card.py end to end on {r['images']} random images, K={r['classes']}, "
                       f"AugMix on, {r['workers_used']} view workers (an upper bound for smaller K or no AugMix)"}
            for r in card.get("end_to_end", []) if r.get("num_workers") is None and "seconds_per_image" in r]


def _print_targets(targets: list[dict]) -> int:
    for t in targets:
        print(f"{t['status']:>12s}  {t['arch']:9s} {t['target']}: {t['detail']}")
    return int(any(t["status"] == "missed" for t in targets))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="default: cuda where there is a GPU, else cpu")
    ap.add_argument("--archs", default="ViT-B-16,RN50")
    ap.add_argument("--classes", help="comma-separated K (default 10,100 and 1000 on a GPU)")
    ap.add_argument("--batch-sizes", help="batched B (default GPU 8,16,32; CPU 8)")
    ap.add_argument("--batched-classes", help="the K at which batched modes run (default all)")
    ap.add_argument("--images", type=int, help="images timed per one-at-a-time mode (default GPU 8, CPU 1)")
    ap.add_argument("--views", type=int, default=64)
    ap.add_argument("--method", default="ctpt", choices=["tpt", "ctpt"])
    ap.add_argument("--threads", type=int, help="torch threads (default: the usable CPUs)")
    ap.add_argument("--view-images", type=int, help="images per view measurement (default GPU 32, CPU 4)")
    ap.add_argument("--view-workers", help="worker counts to compare with in line (default GPU 4,8; CPU 2)")
    ap.add_argument("--feature-batch", type=int, help="(default GPU 256, CPU 8)")
    ap.add_argument("--feature-images", type=int, help="(default GPU 2560, CPU 8)")
    ap.add_argument("--end-to-end", action=argparse.BooleanOptionalAction, default=None,
                    help="run_tpt at the largest K with AugMix (default: on a GPU only)")
    ap.add_argument("--e2e-images", type=int, default=32)
    ap.add_argument("--budget-s", type=float, default=float("inf"), help="start no measurement after this")
    ap.add_argument("--note", default="", help="why this configuration (stored in the card)")
    ap.add_argument("--out", type=Path, help="default benchmarks/results/<device slug>.json")
    ap.add_argument("--figures", action="store_true",
                    help="also write the end-to-end cost figures for paper_sets to <out stem>-cost-figures.json")
    ap.add_argument("--check", type=Path, help="print the targets of an existing card; exit 1 if one is missed")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    if args.check:
        return _print_targets(check_targets(json.loads(args.check.read_text())))
    args.device = args.device or ("cuda" if bench_tpt._cuda() else "cpu")  # torch only after --help
    gpu = args.device.startswith("cuda")
    ints = lambda text, default: [int(x) for x in (text or default).split(",") if x]  # noqa: E731
    args.archs = [a for a in args.archs.split(",") if a]
    args.classes = ints(args.classes, "10,100,1000" if gpu else "10,100")
    args.batch_sizes = ints(args.batch_sizes, "8,16,32" if gpu else "8")
    args.batched_classes = ints(args.batched_classes, ",".join(map(str, args.classes)))
    args.view_workers = ints(args.view_workers, "4,8" if gpu else "2")
    args.images = args.images or (8 if gpu else 1)
    args.view_images = args.view_images or (32 if gpu else 4)
    args.feature_batch = args.feature_batch or (256 if gpu else 8)
    args.feature_images = args.feature_images or (2560 if gpu else 8)
    args.end_to_end = gpu if args.end_to_end is None else args.end_to_end
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    args.threads = args.threads or cpus
    dev = device_info(args.device)
    out_path = args.out or HERE / "results" / f"{dev['slug']}.json"
    config = {k: v for k, v in vars(args).items() if k not in ("worker", "check", "out", "figures")}
    config.update(budget_s=None if args.budget_s == float("inf") else args.budget_s, view_image=list(VIEW_IMAGE),
                  weights="random (open_clip create_model, pretrained=None, seed 0)", steps=1, lam=50.0)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    card = {"schema": SCHEMA, "device": dev, "created": created,
            "command": shlex.join(["python", "benchmarks/cost_card.py", *(sys.argv[1:] if argv is None else argv)]),
            "config": config, "tuning": [], "views": [], "features": [], "end_to_end": [], "skipped": []}
    card["load_average_start"] = [round(x, 2) for x in os.getloadavg()]  # a shared machine's timings are slower
    t_start = time.time()
    deadline = t_start + args.budget_s if args.budget_s != float("inf") else 1e18
    print(f"# cost card | {dev['name']} | {args.method} | {args.views} views | K={args.classes} | "
          f"threads={args.threads}", flush=True)
    for spec in plan(args, gpu):
        if time.time() > deadline:
            card["skipped"] += [{**j, "skipped": "time budget spent"} for j in spec["jobs"]]
            continue
        full = {**spec, "device": args.device, "threads": args.threads, "n_views": args.views, "method": args.method,
                "deadline": deadline}
        res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(full)], capture_output=True, text=True)
        done = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
        for r in done:
            if "skipped" in r:
                card["skipped"].append(r)
            else:
                card[{"tuning": "tuning", "features": "features", "views": "views",
                      "end_to_end": "end_to_end"}[r["kind"]]].append(r)
                print(f"  {r['kind']:10s} {r.get('arch') or '':9s} K={r.get('classes', '-')!s:5s} "
                      f"{r.get('mode') or r.get('method') or ''} B={r.get('batch', '-')} "
                      f"workers={r.get('workers_used', r.get('num_workers', '-'))} augmix={r.get('augmix', '-')}: "
                      + (f"{r['seconds_per_image']:.3f} s/image" if "seconds_per_image" in r
                         else f"{r['images_per_second']:.1f} images/s")
                      + (f", peak {r['peak_mb']:.0f} MiB" if "peak_mb" in r else ""), flush=True)
        if res.returncode != 0:
            missing = spec["jobs"][len(done):]
            err = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"
            card["skipped"] += [{**j, "skipped": f"failed: {err}"} for j in missing]
            print(f"  FAILED {spec['arch']}: {err}", flush=True)
    _diffs(card["tuning"])
    card["wall_seconds"] = round(time.time() - t_start, 1)
    card["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    card["targets"] = check_targets(card)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"# card: {out_path} ({card['wall_seconds']:.0f} s)")
    if args.figures:
        figures = out_path.with_name(out_path.stem + "-cost-figures.json")
        figures.write_text(json.dumps(cost_figures(card), indent=1) + "\n")
        print(f"# cost figures: {figures}")
    return _print_targets(card["targets"]) if gpu else 0


if __name__ == "__main__":
    sys.exit(main())
