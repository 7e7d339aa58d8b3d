"""vlmcal_utils.tpt.runner: resumable runs that never mix, lose or double rows."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from vlmcal_utils import tpt
from vlmcal_utils.storage import DamagedFileError
from vlmcal_utils.tpt.runner import fingerprint_settings

from ._data import CFG, NAMES, TEMPLATES, make_images

SETTINGS = tpt.RunSettings(n_views=10, augmix=True, tuning=tpt.TPTConfig(**CFG))


def run(model, tokenizer, data, method, path, settings=SETTINGS, **kw):
    return tpt.run_tpt(model, tokenizer, data, NAMES, method, path, settings, progress=False, **kw)


class KilledAfter:
    """A dataset whose ``__getitem__`` dies after ``n`` items, as a run killed mid-way."""

    def __init__(self, data, n: int):
        self.data, self.n, self.calls = data, n, 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        if self.calls >= self.n:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        return self.data[i]


def test_resume_after_kill_loses_and_duplicates_nothing(model, tokenizer, tmp_path):
    data = make_images(7)
    full = run(model, tokenizer, data, "ctpt", tmp_path / "full.jsonl")
    assert [r["index"] for r in full] == list(range(7))

    path = tmp_path / "killed.jsonl"
    with pytest.raises(KeyboardInterrupt, match="simulated kill"):
        run(model, tokenizer, KilledAfter(data, 3), "ctpt", path, batch_size=2)
    partial = tpt.read_tpt_rows(path)
    assert [r["index"] for r in partial] == [0, 1]  # the batch being loaded was never written
    with open(path, "a") as fh:  # a write cut off mid-line by the kill
        fh.write('{"index": 6, "label": 1, "lo')
    resumed = run(model, tokenizer, data, "ctpt", path, batch_size=2)
    assert [r["index"] for r in resumed] == list(range(7))
    lines = path.read_text().splitlines()
    assert len(lines) == 7 and all(json.loads(x) for x in lines)
    for a, b in zip(full, resumed, strict=True):
        assert a["label"] == b["label"] and a["pred"] == b["pred"]
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)
    with pytest.raises(ValueError, match="method"):
        run(model, tokenizer, data, "tpt", path)


def test_read_tpt_rows_drops_a_torn_last_line_and_refuses_damage(tmp_path):
    path = tmp_path / "run.jsonl"
    assert tpt.read_tpt_rows(path) == []
    path.write_text('{"index": 1, "x": 1}\n{"index": 0, "x": 2}\n{"index": 1, "x": 3}\n{"index": 2, "x"')
    assert [(r["index"], r["x"]) for r in tpt.read_tpt_rows(path)] == [(1, 1), (0, 2)]  # first row per index
    path.write_text('{"index": 0}\nnot json\n{"index": 1}\n')
    with pytest.raises(DamagedFileError, match="line 2"):
        tpt.read_tpt_rows(path)


def test_resume_refuses_rows_of_another_model_or_settings(model, tokenizer, tmp_path):
    data = make_images(3)
    path = tmp_path / "run.jsonl"
    run(model, tokenizer, data, "tpt", path, indices=[0, 1])
    with pytest.raises(ValueError, match="another model or other settings"):
        run(model, tokenizer, data, "tpt", path, dataclasses.replace(SETTINGS, n_views=12))
    with pytest.raises(ValueError, match="another model or other settings"):
        slower = tpt.TPTConfig(selection=0.2, lr=1e-3)
        run(model, tokenizer, data, "tpt", path, dataclasses.replace(SETTINGS, tuning=slower))
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.text_projection.mul_(1.01)
    with pytest.raises(ValueError, match="another model or other settings"):
        run(other, tokenizer, data, "tpt", path)
    # the same model and settings resume (batch size and speed options give the same results)
    fast_off = dataclasses.replace(SETTINGS, tuning=tpt.TPTConfig(**CFG, share_prefix=False, amp=None))
    assert [r["index"] for r in run(model, tokenizer, data, "tpt", path, fast_off, batch_size=2)] == [0, 1, 2]


def test_resume_with_another_seed_refuses(model, tokenizer, tmp_path):
    # the seed decides every view: rows of seed 0 must not be completed with rows of seed 1
    data = make_images(3)
    path = tmp_path / "run.jsonl"
    run(model, tokenizer, data, "tpt", path, indices=[0])
    with pytest.raises(ValueError, match="another model or other settings"):
        run(model, tokenizer, data, "tpt", path, dataclasses.replace(SETTINGS, seed=1))
    assert "seed" in fingerprint_settings("tpt", SETTINGS, 1.0, ensemble=False)


def test_fingerprint_settings_keep_the_format_of_earlier_files():
    # files written before RunSettings existed carry fingerprints of exactly these keys and values
    assert fingerprint_settings("ctpt", tpt.RunSettings(augmix=False), 1.0, ensemble=False) == {
        "method": "ctpt", "n_views": 64, "augmix": False, "ctx_init": "a photo of a", "n_ctx": 4,
        "temperature": 1.0, "seed": 0, "selection": 0.1, "lr": 5e-3, "steps": 1, "lam": 50.0, "weight_decay": 0.01,
    }
    ens = fingerprint_settings("tpt", tpt.RunSettings(dataset="imagenet", ctx_init=tuple(TEMPLATES), renormalize=True),
                               1.0, ensemble=True)
    assert ens["augmix"] is False  # "auto": the protocol's rule for the dataset, resolved
    assert ens["ctx_init"] == TEMPLATES and ens["ensemble_renormalize"] is True


def test_tpt_ts_divides_logits_and_summary(model, tokenizer, tmp_path):
    data = make_images(4)
    t = run(model, tokenizer, data, "tpt", tmp_path / "t.jsonl")
    ts = run(model, tokenizer, data, "tpt+ts", tmp_path / "ts.jsonl", dataclasses.replace(SETTINGS, temperature=2.0))
    np.testing.assert_allclose(np.array(ts[0]["logits"]) * 2.0, t[0]["logits"], atol=1e-4)
    assert ts[0]["confidence"] < t[0]["confidence"] and ts[0]["temperature"] == 2.0
    s = tpt.summarise(t, bins=(20, 15))
    assert {"n", "accuracy", "ece_15", "ece_20", "smooth_ece", "debiased_ece", "atfd", "seconds"} <= set(s)
    assert s["n"] == 4 and s["accuracy"] == np.mean([r["pred"] == r["label"] for r in t])
    # the scoring record, fractions: the summary of TPT's rows at T=2 is the summary of the TPT+TS rows
    scaled = tpt.summarise(t, bins=(20, 15), temperature=2.0)
    assert scaled["ece_20"] == pytest.approx(tpt.summarise(ts, bins=(20, 15))["ece_20"], abs=1e-5)
    assert scaled["mean_confidence"] < s["mean_confidence"] <= 1
    with pytest.raises(ValueError, match="no rows"):
        tpt.summarise([])
    with pytest.raises(ValueError, match="temperature"):
        run(model, tokenizer, data, "tpt+ts", tmp_path / "bad.jsonl", dataclasses.replace(SETTINGS, temperature=0.0))


class Named(list):
    """A list dataset with ``classnames``, as ``vlmcal_utils.data`` datasets have."""

    def __init__(self, items, classnames):
        super().__init__(items)
        self.classnames = classnames


def test_wrong_class_names_fail_before_any_tuning(model, tokenizer, tmp_path):
    data = make_images(3)
    path = tmp_path / "run.jsonl"
    with pytest.raises(ValueError, match="5 class names were passed but the dataset has 6"):
        tpt.run_tpt(model, tokenizer, Named(data, NAMES), NAMES[:5], "tpt", path, SETTINGS, progress=False)
    assert not path.exists()
    # a dataset without class names: a label outside the classes stops the run before its row is written
    bad = [(data[0][0], 0), (data[1][0], len(NAMES))]
    with pytest.raises(ValueError, match="sample 1 has label 6, outside the 6 classes"):
        run(model, tokenizer, bad, "zeroshot", path, batch_size=2)
    assert tpt.read_tpt_rows(path) == []  # the batch with the bad label was not written
    with pytest.raises(ValueError, match="batch_size"):
        run(model, tokenizer, data, "tpt", path, batch_size=0)
    with pytest.raises(ValueError, match="method"):
        run(model, tokenizer, data, "bogus", path)


def test_resume_tells_hard_prompt_and_ensemble_runs_apart(model, tokenizer, tmp_path):
    data = make_images(3)
    hard, ens = tmp_path / "hard.jsonl", tmp_path / "ens.jsonl"
    with_ens = dataclasses.replace(SETTINGS, ctx_init=TEMPLATES)
    run(model, tokenizer, data, "ctpt", hard, indices=[0])
    run(model, tokenizer, data, "ctpt", ens, with_ens, indices=[0])
    fewer = dataclasses.replace(with_ens, ctx_init=TEMPLATES[:3])
    renormalised = dataclasses.replace(with_ens, renormalize=True)
    for path, settings in [(hard, with_ens), (ens, SETTINGS), (ens, fewer), (ens, renormalised)]:
        with pytest.raises(ValueError, match="another model or other settings"):
            run(model, tokenizer, data, "ctpt", path, settings)
    rows = run(model, tokenizer, data, "ctpt", ens, with_ens)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert len({r["run"] for r in rows}) == 1
    assert rows[0]["run"] != tpt.read_tpt_rows(hard)[0]["run"]


def test_rows_hold_the_documented_keys(model, tokenizer, tmp_path):
    rows = run(model, tokenizer, make_images(2), "zeroshot", tmp_path / "z.jsonl", batch_size=2)
    assert set(rows[0]) == {"index", "source_index", "source", "dataset", "dataset_text", "label", "pred",
                            "confidence", "entropy", "atfd",
                            "orthogonality", "min_angle", "seconds", "view_seconds", "method", "run", "temperature",
                            "logits"}
    assert len(rows[0]["logits"]) == len(NAMES) and rows[0]["temperature"] == 1.0
    # views made in line (no workers on CPU): a row's time includes its image's view time
    assert all(0 < r["view_seconds"] <= r["seconds"] * len(rows) for r in rows)


def test_fingerprint_holds_only_what_changes_the_rows():
    lam20 = dataclasses.replace(SETTINGS, tuning=tpt.TPTConfig(**CFG, lam=20.0))
    tau = dataclasses.replace(SETTINGS, tuning=tpt.TPTConfig(**CFG, tau=0.9))
    views = dataclasses.replace(SETTINGS, n_views=12, seed=3, augmix=False)

    def fp(method, settings):
        return fingerprint_settings(method, settings, 1.0, ensemble=False)

    for method, same, differ in [
        ("zeroshot", [lam20, tau, views], []),  # view 0 and the initial prompt only
        ("tpt", [lam20, tau], [views]),
        ("ctpt", [tau], [lam20, views]),
        ("otpt", [tau], [lam20, views]),
        ("atpt", [], [lam20, tau, views]),
    ]:
        assert all(fp(method, s) == fp(method, SETTINGS) for s in same), method
        assert all(fp(method, s) != fp(method, SETTINGS) for s in differ), method
    assert fp("atpt", SETTINGS)["tau"] == tpt.ATPT_TAU and fp("otpt", SETTINGS)["method"] == "otpt"


def test_changing_lam_keeps_zeroshot_files(model, tokenizer, tmp_path):
    data = make_images(2)
    path = tmp_path / "z.jsonl"
    run(model, tokenizer, data, "zeroshot", path, indices=[0])
    other = dataclasses.replace(SETTINGS, tuning=tpt.TPTConfig(**CFG, lam=20.0))
    assert [r["index"] for r in run(model, tokenizer, data, "zeroshot", path, other)] == [0, 1]


def test_a_larger_subset_reuses_only_the_rows_of_its_own_images(model, tokenizer, tmp_path):
    # chapter runs draw `subsample(ds, n, seed)`: the 3-image draw and the 5-image draw share some
    # images at other positions; rows are keyed by the base index, so each image keeps its own row
    base = make_images(8)
    small = torch.utils.data.Subset(base, [1, 4, 6])
    large = torch.utils.data.Subset(torch.utils.data.Subset(base, [0, 1, 2, 4, 5, 6, 7]), [0, 1, 3, 4, 5])  # 0,1,4,5,6
    path = tmp_path / "run.jsonl"
    first = run(model, tokenizer, small, "otpt", path)
    assert [(r["index"], r["source_index"]) for r in first] == [(0, 1), (1, 4), (2, 6)]
    again = run(model, tokenizer, large, "otpt", path)
    assert [(r["index"], r["source_index"]) for r in again] == [(0, 0), (1, 1), (2, 4), (3, 5), (4, 6)]
    assert len(tpt.read_tpt_rows(path)) == 5  # the shared images 1, 4, 6 were not tuned again
    fresh = run(model, tokenizer, large, "otpt", tmp_path / "fresh.jsonl")
    for a, b in zip(again, fresh, strict=True):
        assert a["label"] == b["label"] and a["source_index"] == b["source_index"]
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)
    assert {r["source"] for r in first} != {r["source"] for r in fresh}  # the digest names the draw
    assert tpt.source_indices(large)[0] == [0, 1, 4, 5, 6]
    # rows of an older file (no source_index) cannot be placed in a subset: refused, not guessed
    old = tmp_path / "old.jsonl"
    rows = run(model, tokenizer, base, "zeroshot", old, indices=[0])
    old.write_text(json.dumps({k: v for k, v in rows[0].items() if k not in ("source_index", "source")}) + "\n")
    with pytest.raises(ValueError, match="identity"):
        run(model, tokenizer, small, "zeroshot", old)
    assert [r["index"] for r in run(model, tokenizer, base, "zeroshot", old, indices=[0, 1])] == [0, 1]


def _file_dataset(folder, seed):
    """Four PNG files under ``folder`` (labels 0..3): another seed, other pictures of other sizes."""
    from PIL import Image

    from vlmcal_utils.data.images import FileListDataset

    paths = []
    for i, (img, _) in enumerate(make_images(4, seed=seed)):
        path = folder / "images" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[: 30 + seed]).save(path)
        paths.append(path)
    return FileListDataset(paths, [0, 1, 2, 3], NAMES)


def test_rows_of_another_dataset_with_the_same_classes_and_size_are_refused(model, tokenizer, tmp_path):
    """Before (issue 25): demo-sketch rows were served for demo-photo images (same class names, same size)."""
    from vlmcal_utils.demo.world import make_demo_dataset

    photo, sketch = (make_demo_dataset(d, "test", n=3, classes="heldout") for d in ("photo", "sketch"))
    path = tmp_path / "demo-photo__test__zeroshot.jsonl"
    rows = tpt.run_tpt(model, tokenizer, sketch, sketch.classnames, "zeroshot", path, SETTINGS, progress=False)
    assert len(rows) == 3
    with pytest.raises(ValueError, match=r"other images \(demo sketch/test.*not of this dataset \(demo photo/test"):
        tpt.run_tpt(model, tokenizer, photo, photo.classnames, "zeroshot", path, SETTINGS, progress=False)
    assert len(tpt.read_tpt_rows(path)) == 3, "the file is left as it was"


def test_a_replaced_image_folder_is_refused_and_a_moved_one_resumes(model, tokenizer, tmp_path):
    import shutil

    first = _file_dataset(tmp_path / "a", seed=0)
    path = tmp_path / "run.jsonl"
    tpt.run_tpt(model, tokenizer, first, NAMES, "zeroshot", path, SETTINGS, progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "elsewhere" / "a")  # the same files under another root
    moved = _file_dataset(tmp_path / "elsewhere" / "a", seed=0)
    calls = []
    moved_getitem = type(moved).__getitem__
    type(moved).__getitem__ = lambda self, i: calls.append(i) or moved_getitem(self, i)
    try:
        assert len(tpt.run_tpt(model, tokenizer, moved, NAMES, "zeroshot", path, SETTINGS, progress=False)) == 4
    finally:
        type(moved).__getitem__ = moved_getitem
    assert calls == [], "a moved folder is the same dataset: nothing is computed again"
    replaced = _file_dataset(tmp_path / "b", seed=1)  # same names, same size, other pictures
    with pytest.raises(ValueError, match="other images .*4 files in 'images'"):
        tpt.run_tpt(model, tokenizer, replaced, NAMES, "zeroshot", path, SETTINGS, progress=False)


def test_a_rerun_of_a_finished_run_computes_nothing(model, tokenizer, tmp_path, monkeypatch):
    # rows compare equal whether a resume skips or recomputes (the store drops duplicates), so count
    # the images that reach the tuning step (the runner's seam) and the rows it reports computed
    from vlmcal_utils.tpt import runner

    tuned = []
    real = runner._tune
    monkeypatch.setattr(runner, "_tune", lambda m, lrn, views, *a: tuned.append(len(views)) or real(m, lrn, views, *a))
    data, path = make_images(5), tmp_path / "run.jsonl"
    first = run(model, tokenizer, data, "ctpt", path, indices=[0, 1, 2], batch_size=2)
    assert sum(tuned) == 3 and runner.COMPUTED_ROWS[str(path)] == 3
    again = run(model, tokenizer, data, "ctpt", path, indices=[0, 1, 2], batch_size=2)
    assert sum(tuned) == 3 and runner.COMPUTED_ROWS[str(path)] == 3  # nothing tuned again
    assert again == first
    run(model, tokenizer, data, "ctpt", path, batch_size=2)  # the whole set: only images 3 and 4 are new
    assert sum(tuned) == 5 and runner.COMPUTED_ROWS[str(path)] == 5


def test_the_fingerprints_weight_sums_are_the_float64_sums_of_every_tensor():
    """run_fingerprint sums float tensors in float64 without a float64 copy: the same values as the copy's
    (a changed sum would change every fingerprint, so every saved run would look like another run's)."""
    from vlmcal_utils.tpt.runner import _abs_sum

    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(512, 768, generator=gen), torch.randn(3, 7, generator=gen, dtype=torch.float64) * 1e6,
               (torch.randn(1000, generator=gen) * 1e-3).half(), torch.arange(-5, 77), torch.tensor(True)]
    assert [_abs_sum(t) for t in tensors] == [float(t.double().abs().sum()) for t in tensors]
