"""Fault injection: kill -9 at seeded random points of every resumable loop, concurrent writers,
reruns with changed inputs and damaged files. Each test asserts the rows equal a clean run's
(none lost, none doubled).

The loops: feature extraction (:func:`vlmcal_utils.features.extract_features`), the TPT runner
(:func:`vlmcal_utils.tpt.run_tpt` on the perturbed tiny CLIP) and the study grid
(:func:`vlmcal_utils.study.run_grid`). A forked worker process runs a loop and is SIGKILLed once a
seeded number of its rows (chunks, lines) is on disk; the loop is then resumed in this process.
A few seeds run in ``make test``; the rest are marked ``slow``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vlmcal_utils import study, tpt
from vlmcal_utils.features import extract_features
from vlmcal_utils.storage import DamagedFileError

sys.path[:0] = [str(Path(__file__).resolve().parent / d) for d in ("study", "tpt")]
from _data import NAMES, make_images  # noqa: E402 - tests/tpt/_data.py
from synthetic import make_tasks  # noqa: E402 - tests/study/synthetic.py

del sys.path[:2]

TESTS = Path(__file__).resolve().parent
N_IMAGES, N_TPT = 24, 6  # feature items (chunks of 2), TPT images
GRID = dict(n_calib_grid=[10, 50], n_repeats=3, n_boot=10)
FAST_SEEDS = {"features": [0, 1, 2], "tpt": [0, 1, 2], "grid": [0, 1, 2, 3]}  # 10 kills in make test
SLOW_SEEDS = range(4, 9)

# Workers are forked from the test process (no second import of torch: a few ms per start, so
# the kills fit in make test); a forked worker runs torch single-threaded, as DataLoader workers do.
_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked (POSIX)")
pytestmark = _FORK


# --------------------------------------------------------------------------------------------
# the three loops
# --------------------------------------------------------------------------------------------
class SlowModel(torch.nn.Module):
    """A tiny image tower; ``slow`` adds a pause per batch so a kill can land between chunks."""

    def __init__(self, slow: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3 * 8 * 8, 5)
        self.slow = slow

    def encode_image(self, x):
        if self.slow:
            time.sleep(0.01)
        return self.proj(x.flatten(1))


def feature_dataset():
    import torchvision.transforms as T

    from vlmcal_utils.data import ArrayImageDataset
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N_IMAGES, 8, 8, 3), dtype=np.uint8)
    return ArrayImageDataset(images, rng.integers(0, 3, size=N_IMAGES), ["a", "b", "c"], T.ToTensor())


def run_features(out: Path, slow: bool = False):
    return extract_features(SlowModel(slow), feature_dataset(), "slow/seed0", "faults", cache_dir=out,
                            batch_size=2, chunk_size=2, progress=False)


TPT_SETTINGS = tpt.RunSettings(n_views=8, augmix=False, tuning=tpt.TPTConfig(selection=0.25, lr=5e-3))


def run_tpt_loop(out: Path, slow: bool = False, parts=None):
    model, tokenizer, data, names = parts
    return tpt.run_tpt(model, tokenizer, data, names, "tpt", out, TPT_SETTINGS, progress=False)


def run_grid_loop(out: Path, slow: bool = False, **kw):
    return study.run_grid(make_tasks(), out, progress=False, on_cell=(lambda rows: time.sleep(0.01)) if slow else None,
                          **{**GRID, **kw})


LOOPS = {"features": run_features, "tpt": run_tpt_loop, "grid": run_grid_loop}


def _progress(loop: str, out: Path) -> int:
    """How many units the loop has on disk: chunk files, or complete lines."""
    if loop == "features":
        return len(list(out.glob("*/chunk_*.safetensors")))
    return out.read_bytes().count(b"\n") if out.is_file() else 0


TOTAL = {"features": N_IMAGES // 2, "tpt": N_TPT, "grid": 2 * (4 + 2 * 3 * 2)}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _child(loop: str, out: Path, barrier, parts) -> None:
    torch.set_num_threads(1)
    if barrier is not None:
        barrier.wait()
    LOOPS[loop](out, slow=True, **({"parts": parts} if loop == "tpt" else {}))


def _start(loop: str, out: Path, parts=None, barrier=None) -> mp.process.BaseProcess:
    proc = mp.get_context("fork").Process(target=_child, args=(loop, out, barrier, parts), daemon=True)
    proc.start()
    return proc


def _kill_after(proc, loop: str, out: Path, n_units: int, timeout: float = 120) -> bool:
    """SIGKILL ``proc`` once ``n_units`` are on disk; False if it finished first."""
    t0 = time.time()
    while _progress(loop, out) < n_units:
        if not proc.is_alive():
            return False
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail(f"{loop} worker made no progress in {timeout} s")
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    return True


def _tpt_table(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows).drop(columns=["seconds", "view_seconds"])  # wall times differ run to run
    df["logits"] = df["logits"].map(tuple)
    return df.sort_values("index").reset_index(drop=True)


def _assert_tpt_equal(rows, clean) -> None:
    a, b = _tpt_table(rows), _tpt_table(clean)
    assert list(a["index"]) == list(b["index"]) == list(range(N_TPT))  # none lost, none doubled
    pd.testing.assert_frame_equal(a.drop(columns=["logits"]), b.drop(columns=["logits"]), rtol=1e-4)
    np.testing.assert_allclose(np.array(a["logits"].tolist()), np.array(b["logits"].tolist()), atol=1e-4)


def _file_keys(path: Path, key) -> list:
    return [key(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tpt_parts(tiny_clip):
    """The ``tiny_clip`` fixture's model (a copy: run_tpt freezes it), as the worker builds it."""
    import copy

    import open_clip
    return copy.deepcopy(tiny_clip), open_clip.get_tokenizer("ViT-B-32"), make_images(N_TPT), NAMES


@pytest.fixture(scope="module")
def clean(tmp_path_factory, tpt_parts):
    """Each loop's uninterrupted result."""
    root = tmp_path_factory.mktemp("clean")
    return {"features": run_features(root / "features"), "grid": run_grid_loop(root / "grid.jsonl"),
            "tpt": run_tpt_loop(root / "tpt.jsonl", parts=tpt_parts)}


def _resume_and_check(loop: str, out: Path, clean, tpt_parts) -> None:
    if loop == "features":
        feats, labels = run_features(out)
        torch.testing.assert_close(feats, clean["features"][0], rtol=0, atol=0)
        assert torch.equal(labels, clean["features"][1])
    elif loop == "tpt":
        _assert_tpt_equal(run_tpt_loop(out, parts=tpt_parts), clean["tpt"])
        keys = _file_keys(out, lambda r: r["index"])
        assert sorted(keys) == list(range(N_TPT))  # on disk too: nothing doubled
    else:
        resumed = run_grid_loop(out)
        pd.testing.assert_frame_equal(resumed, clean["grid"])
        keys = _file_keys(out, study.grid_key)
        assert len(keys) == len(set(keys)) == len(clean["grid"])


def _kill_case(loop: str, seed: int, tmp_path, clean, tpt_parts) -> None:
    out = tmp_path / ("features" if loop == "features" else f"{loop}.jsonl")
    n_units = int(np.random.default_rng(seed).integers(1, TOTAL[loop]))
    killed = _kill_after(_start(loop, out, tpt_parts), loop, out, n_units)
    assert killed, f"the {loop} worker finished before {n_units} units: the kill tested nothing"
    _resume_and_check(loop, out, clean, tpt_parts)


# --------------------------------------------------------------------------------------------
# kill -9 at seeded points
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loop, seed", [(loop, s) for loop, seeds in FAST_SEEDS.items() for s in seeds])
def test_kill_9_then_resume_equals_a_clean_run(loop, seed, tmp_path, clean, tpt_parts):
    _kill_case(loop, seed, tmp_path, clean, tpt_parts)


@pytest.mark.slow
@pytest.mark.parametrize("loop, seed", [(loop, s) for loop in LOOPS for s in SLOW_SEEDS])
def test_kill_9_then_resume_equals_a_clean_run_more_seeds(loop, seed, tmp_path, clean, tpt_parts):
    _kill_case(loop, seed, tmp_path, clean, tpt_parts)


# --------------------------------------------------------------------------------------------
# two writers at once
# --------------------------------------------------------------------------------------------
def _concurrent(loop: str, tmp_path: Path, clean, tpt_parts) -> None:
    out = tmp_path / f"{loop}.jsonl"
    barrier = mp.get_context("fork").Barrier(2)  # both start writing at the same moment
    procs = [_start(loop, out, tpt_parts, barrier) for _ in range(2)]
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0, f"a {loop} writer failed (exit code {p.exitcode})"
    key = (lambda r: r["index"]) if loop == "tpt" else study.grid_key
    keys = _file_keys(out, key)
    assert len(keys) == len(set(keys)), "two writers doubled rows in the file"
    _resume_and_check(loop, out, clean, tpt_parts)


@pytest.mark.parametrize("loop", ["tpt", "grid"])
def test_two_concurrent_writers_never_double_a_row(loop, tmp_path, clean, tpt_parts):
    _concurrent(loop, tmp_path, clean, tpt_parts)


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(4))
@pytest.mark.parametrize("loop", ["tpt", "grid"])
def test_two_concurrent_writers_repeated(loop, repeat, tmp_path, clean, tpt_parts):
    _concurrent(loop, tmp_path, clean, tpt_parts)


# --------------------------------------------------------------------------------------------
# reruns with changed inputs, damaged files
# --------------------------------------------------------------------------------------------
def test_grid_rerun_with_another_seed_or_inputs_is_refused_not_mixed(tmp_path, clean):
    out = tmp_path / "grid.jsonl"
    run_grid_loop(out)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="seed"):
        run_grid_loop(out, seed=1)
    tasks = make_tasks()
    for t in tasks:
        t.inputs = "n_images_cal=300"
    with pytest.raises(ValueError, match="other inputs"):
        study.run_grid(tasks, out, progress=False, **GRID)
    assert out.read_bytes() == before  # nothing written by the refused runs
    pd.testing.assert_frame_equal(run_grid_loop(out), clean["grid"])


def test_feature_chunk_with_a_flipped_bit_is_recomputed(tmp_path, clean):
    out = tmp_path / "features"
    run_features(out)
    chunk = next(out.glob("*/chunk_00003.safetensors"))
    raw = bytearray(chunk.read_bytes())
    raw[-3] ^= 0x10
    chunk.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="checksum"):
        feats, _ = run_features(out)
    torch.testing.assert_close(feats, clean["features"][0], rtol=0, atol=0)


@pytest.mark.parametrize("loop", ["tpt", "grid"])
def test_a_torn_line_mid_file_is_refused_naming_it_or_repaired(loop, tmp_path, clean, tpt_parts):
    out = tmp_path / f"{loop}.jsonl"
    if loop == "tpt":
        run_tpt_loop(out, parts=tpt_parts)
    else:
        run_grid_loop(out)
    lines = out.read_text().splitlines(keepends=True)
    lines[2] = lines[2][: len(lines[2]) // 2] + "\n"  # a torn line in the middle of the file
    out.write_text("".join(lines))
    try:
        _resume_and_check(loop, out, clean, tpt_parts)  # repaired: equal to a clean run
    except DamagedFileError as err:
        assert "line 3" in str(err) and str(out) in str(err)  # or refused, naming the line
