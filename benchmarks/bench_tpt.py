"""Per-image time and peak memory of TPT/C-TPT: the straightforward loop vs each speed-up.

Random weights (no downloads). Each mode runs in its own subprocess so that its peak memory is
its own (CPU: peak RSS from ``getrusage``; CUDA: ``torch.cuda.max_memory_allocated``).

    python benchmarks/bench_tpt.py --arch ViT-B-32 --classes 100 --views 64 --images 3 --device cpu

Modes (all run ``--method``, default C-TPT, one AdamW step):
  straightforward  the official algorithm as written: 77-token text passes, the image tower run
                   on the 64 views for the step and again on view 0 for the prediction (65 passes)
  truncate         + text passes cut at the longest EOT
  share_prefix     + SOS/context hidden states computed once per image, shared by the K classes
  cache_images     + image features of the views computed once, reused (= the library default)
  batched          + all ``--images`` tuned together, one text pass over B x K prompts
The final predictions of every mode are compared with the straightforward one (max |logit diff|).
Timings on a shared machine are noisy; views are generated before timing starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

MODES = {
    "straightforward": dict(truncate=False, share_prefix=False, cache_image_features=False),
    "truncate": dict(truncate=True, share_prefix=False, cache_image_features=False),
    "share_prefix": dict(truncate=True, share_prefix=True, cache_image_features=False),
    "cache_images": dict(truncate=True, share_prefix=True, cache_image_features=True),
    "batched": dict(truncate=True, share_prefix=True, cache_image_features=True),
}


def make_model(arch: str, device, threads: int | None = None):
    """A random-weight open_clip model on ``device``, frozen, in eval mode (seed 0)."""
    import open_clip
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    return open_clip.create_model(arch, pretrained=None).to(torch.device(device)).eval().requires_grad_(False)


def make_learner(model, arch: str, classes: int):
    """A prompt learner over ``classes`` ImageNet class names (repeated past 1000)."""
    import open_clip

    from vlmcal_utils import tpt
    from vlmcal_utils.device import model_device

    names = list(open_clip.IMAGENET_CLASSNAMES)
    names = (names * (classes // len(names) + 1))[:classes]
    return tpt.PromptLearner(model, open_clip.get_tokenizer(arch), names).to(model_device(model))


def build(arch: str, classes: int, device, threads: int | None = None):
    """:func:`make_model`, :func:`make_learner` and the model's preprocess config: ``(model, learner, pp)``."""
    from vlmcal_utils import tpt

    model = make_model(arch, device, threads)
    return model, make_learner(model, arch, classes), tpt.preprocess_config(model)


def test_views(pp: dict, n_images: int, n_views: int):
    """``(n_images, n_views, 3, S, S)`` views of random ``(256, 320)`` images (seed 0)."""
    import numpy as np
    import torch

    from vlmcal_utils import tpt

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (256, 320, 3), dtype=np.uint8) for _ in range(n_images)]
    return torch.stack([tpt.make_views(im, pp, n_views=n_views, seed=0, index=i) for i, im in enumerate(imgs)])


def time_mode(model, learner, views, mode: str, method: str = "ctpt", warmup_views: int | None = 10) -> dict:
    """Time ``mode`` on ``views`` ``(N, V, 3, S, S)``: one image at a time, or all N together (batched).

    An untimed warm-up first (first-call costs — allocator, thread pools, kernel choice — are not
    per-image costs) on ``warmup_views`` views (``None``: all). Returns ``times`` and ``cpu``
    (seconds per image, one per image), ``peak_mb`` (CUDA: ``max_memory_allocated`` since the
    warm-up, ``reserved_mb`` beside it; CPU: the process's peak RSS so far) and ``logits`` ``(N, K)``.
    """
    import numpy as np
    import torch

    from vlmcal_utils import tpt
    from vlmcal_utils.device import model_device

    device = model_device(model)
    # the protocol's step on ImageNet (λ 50), with the mode's speed options
    cfg = tpt.RunSettings.protocol("imagenet", "hard", method).replace(**MODES[mode]).tuning
    n = views.shape[0]
    warm = views[:, :warmup_views] if mode == "batched" else views[0, :warmup_views]
    tpt.tpt_predict(model, learner, warm, method, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu, logits = [], [], []
    if mode == "batched":
        t0, c0 = time.perf_counter(), time.process_time()
        out = tpt.tpt_predict(model, learner, views, method, cfg)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = [(time.perf_counter() - t0) / n] * n
        cpu = [(time.process_time() - c0) / n] * n
        logits = out["logits"].numpy()
    else:
        for i in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            out = tpt.tpt_predict(model, learner, views[i], method, cfg)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            logits.append(out["logits"].numpy())
        logits = np.stack(logits)
    res = {"times": times, "cpu": cpu, "logits": logits}
    if device.type == "cuda":
        res.update(peak_mb=torch.cuda.max_memory_allocated() / 2**20,
                   reserved_mb=torch.cuda.max_memory_reserved() / 2**20)
    else:
        import resource

        res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return res


def run_mode(args) -> None:
    import numpy as np

    model, learner, pp = build(args.arch, args.classes, args.device, args.threads)
    views = test_views(pp, args.images, args.views)
    res = time_mode(model, learner, views, args.mode, args.method)
    np.save(args.out, res["logits"])
    print(json.dumps({"mode": args.mode, "times": res["times"], "cpu": res["cpu"], "peak_mb": res["peak_mb"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--views", type=int, default=64)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--method", default="ctpt", choices=["tpt", "ctpt"])
    ap.add_argument("--device", default=None, help="default: cuda where there is a GPU, else cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.device = args.device or ("cuda" if _cuda() else "cpu")  # torch only after --help
    if args.mode:
        return run_mode(args)

    import numpy as np

    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {list(MODES)}")
    print(f"# {args.method} | {args.arch} random weights | K={args.classes} classes | {args.views} views | "
          f"{args.images} images | device={args.device} | torch threads={args.threads}")
    rows, ref = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            out = os.path.join(tmp, f"{mode}.npy")
            passed_on = ("arch", "classes", "views", "images", "method", "device", "threads")
            cmd = [sys.executable, __file__, "--mode", mode, "--out", out] + [
                f"--{k}={v}" for k, v in vars(args).items() if k in passed_on
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0 or not res.stdout.strip():
                print(f"{mode}: FAILED\n{res.stderr[-2000:]}")
                continue
            info = json.loads(res.stdout.strip().splitlines()[-1])
            logits = np.load(out)
            ref = logits if mode == "straightforward" else ref
            diff = float(np.abs(logits - ref).max()) if ref is not None else float("nan")
            t, c = np.array(info["times"]), np.array(info["cpu"])
            rows.append((mode, float(np.mean(t)), float(np.mean(c)), info["peak_mb"], diff))
            print(f"  done {mode}: wall {np.mean(t):.2f} s/image, cpu {np.mean(c):.2f} s/image", flush=True)
    base = next((r for r in rows if r[0] == "straightforward"), None)
    # CPU time (all threads) is less disturbed than wall time by other jobs on a shared machine
    print(f"{'mode':16s} {'wall s/img':>10s} {'ratio':>6s} {'cpu s/img':>10s} {'ratio':>6s} {'peak MiB':>9s} "
          f"{'max|dlogit|':>12s}")
    for mode, wall, cpu, peak, diff in rows:
        rw = wall / base[1] if base else float("nan")
        rc = cpu / base[2] if base else float("nan")
        print(f"{mode:16s} {wall:10.2f} {rw:6.3f} {cpu:10.2f} {rc:6.3f} {peak:9.0f} {diff:12.2e}")


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


if __name__ == "__main__":
    main()
