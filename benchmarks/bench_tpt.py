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


def run_mode(args) -> None:
    import numpy as np
    import open_clip
    import torch

    from vlmcal_utils import tpt

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = open_clip.create_model(args.arch, pretrained=None).to(device).eval().requires_grad_(False)
    tok = open_clip.get_tokenizer(args.arch)
    names = list(open_clip.IMAGENET_CLASSNAMES)
    names = (names * (args.classes // len(names) + 1))[: args.classes]
    learner = tpt.PromptLearner(model, tok, names).to(device)
    pp = tpt.preprocess_config(model)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (256, 320, 3), dtype=np.uint8) for _ in range(args.images)]
    views = torch.stack([tpt.make_views(im, pp, n_views=args.views, seed=0, index=i) for i, im in enumerate(imgs)])
    cfg = tpt.TPTConfig(lam=50.0, **MODES[args.mode])
    # untimed warm-up on 10 views: first-call costs (allocator, thread pools) are not per-image costs
    tpt.tpt_predict(model, learner, views[:, :10] if args.mode == "batched" else views[0, :10], args.method, cfg)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, cpu, logits = [], [], []
    if args.mode == "batched":
        t0, c0 = time.perf_counter(), time.process_time()
        out = tpt.tpt_predict(model, learner, views, args.method, cfg)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = [(time.perf_counter() - t0) / args.images] * args.images
        cpu = [(time.process_time() - c0) / args.images] * args.images
        logits = out["logits"].numpy()
    else:
        for i in range(args.images):
            t0, c0 = time.perf_counter(), time.process_time()
            out = tpt.tpt_predict(model, learner, views[i], args.method, cfg)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            logits.append(out["logits"].numpy())
        logits = np.stack(logits)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        import resource

        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    np.save(args.out, logits)
    print(json.dumps({"mode": args.mode, "times": times, "cpu": cpu, "peak_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--views", type=int, default=64)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--method", default="ctpt", choices=["tpt", "ctpt"])
    ap.add_argument("--device", default="cuda" if _cuda() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES))
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
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
