"""Peak memory of the metrics and of temperature scaling, as a multiple of their input's size.

Each measurement runs in its own subprocess on a synthetic ``(N, K)`` input (random normal logits,
or their softmax for the functions that take probabilities; numpy by default, ``--torch`` for CPU
tensors). The function is first called once on a small input (imports, torch's first use), then:

- ``rss``: the rise of the process's peak resident memory during the call (Linux: the peak is
  reset through ``/proc/self/clear_refs`` just before it; everything counts, torch's buffers too);
- ``traced``: ``tracemalloc``'s peak during the call (numpy's allocations only; torch's CPU
  allocator is not traced).

Both are divided by the input's own size (``N * K * itemsize``): 1.0 means the call needed as
much memory again as its input. Not part of ``make test`` (``tests/test_memory.py`` checks the
numpy figures with tracemalloc on a smaller input).

    python benchmarks/bench_memory.py                      # N=200000, K=100, float64 and float32
    python benchmarks/bench_memory.py --n 50000 --k 1000 --torch
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

FUNCTIONS = {
    "ece": ("probs", "from vlmcal_utils.metrics import ece as f"),
    "mce": ("probs", "from vlmcal_utils.metrics import mce as f"),
    "classwise_ece": ("probs", "from vlmcal_utils.metrics import classwise_ece as f"),
    "brier": ("probs", "from vlmcal_utils.metrics import brier as f"),
    "nll": ("logits", "from vlmcal_utils.metrics import nll as f"),
    "accuracy": ("logits", "from vlmcal_utils.metrics import accuracy as f"),
    "fit_temperature(lbfgs)": ("logits", "from vlmcal_utils.temperature import fit_temperature as f"),
    "fit_temperature(bisection)": (
        "logits",
        "from functools import partial; from vlmcal_utils.temperature import fit_temperature; "
        "f = partial(fit_temperature, method='bisection')",
    ),
    "score_logits": ("logits", "from functools import partial; from vlmcal_utils.scores import score_logits; "
                               "f = partial(score_logits, estimators=False)"),
    "score_probs": ("probs", "from functools import partial; from vlmcal_utils.scores import score_probs; "
                             "f = partial(score_probs, estimators=False)"),
}

CHILD = r"""
import json, sys, tracemalloc
import numpy as np
n, k, dtype, kind, use_torch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
{imp}

def make(n):
    rng = np.random.default_rng(0)
    z = (3 * rng.standard_normal((n, k))).astype(dtype)
    y = rng.integers(0, k, n)
    if kind == "probs":
        z = np.exp(z - z.max(axis=1, keepdims=True), dtype=np.float64)
        z = (z / z.sum(axis=1, keepdims=True)).astype(dtype)
    if use_torch:
        import torch
        z = torch.from_numpy(z)
    return z, y

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise KeyError(field)

f(*make(64))  # imports and first use, outside the measurement
x, y = make(n)
nbytes = n * k * np.dtype(dtype).itemsize
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak resident size (VmHWM) to the current one
before = status("VmRSS")
tracemalloc.start()
f(x, y)
_, traced = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss = status("VmHWM") - before
print(json.dumps(dict(rss=rss / nbytes, traced=traced / nbytes, input_mb=nbytes / 2**20)))
"""


def measure(name: str, n: int, k: int, dtype: str, use_torch: bool) -> dict:
    """One function's peak memory over its input size, measured in a fresh subprocess."""
    kind, imp = FUNCTIONS[name]
    code = CHILD.replace("{imp}", imp)
    out = subprocess.run([sys.executable, "-c", code, str(n), str(k), dtype, kind, "1" if use_torch else "0"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    """Print one line per function and dtype: the input's size and the peak memory over it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--torch", action="store_true", help="pass CPU torch tensors instead of numpy arrays")
    parser.add_argument("--only", nargs="+", choices=sorted(FUNCTIONS), default=sorted(FUNCTIONS))
    args = parser.parse_args(argv)
    print(f"peak memory during the call / input size; N={args.n}, K={args.k}, "
          f"{'torch CPU tensors' if args.torch else 'numpy arrays'} (synthetic random logits)")
    print(f"{'function':28s} {'dtype':8s} {'input MB':>9s} {'rss x':>7s} {'traced x':>9s}")
    for name in args.only:
        for dtype in args.dtypes:
            r = measure(name, args.n, args.k, dtype, args.torch)
            print(f"{name:28s} {dtype:8s} {r['input_mb']:9.1f} {r['rss']:7.2f} {r['traced']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
