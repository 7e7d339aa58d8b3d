"""Views made in DataLoader workers: the same views and rows as made in line, shards, failures."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vlmcal_utils import tpt
from vlmcal_utils.tpt.views import ViewSet, default_num_workers, view_batches

from ._data import CFG, NAMES, make_images

SETTINGS = tpt.RunSettings(n_views=10, augmix=True, tuning=tpt.TPTConfig(**CFG))
TIMES = ("seconds", "view_seconds")  # wall times: the only fields that may differ run to run


def run(model, tokenizer, data, path, settings=SETTINGS, method="ctpt", **kw):
    return tpt.run_tpt(model, tokenizer, data, NAMES, method, path, settings, progress=False, **kw)


def _no_times(rows):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


def test_worker_views_equal_serial_views_bit_for_bit(model):
    data = make_images(7)
    pp = tpt.preprocess_config(model)
    positions, keys = [5, 0, 3, 6, 1, 2, 4], [50, 0, 30, 60, 10, 20, 40]
    kw = dict(n_views=9, augmix=True, seed=3, batch_size=3)
    serial = list(view_batches(data, positions, keys, pp, num_workers=0, **kw))
    workers = list(view_batches(data, positions, keys, pp, num_workers=2, **kw))
    assert [b[0] for b in serial] == [b[0] for b in workers] == [[5, 0, 3], [6, 1, 2], [4]]
    for (_, v0, l0, s0), (_, v1, l1, s1) in zip(serial, workers, strict=True):
        assert v0.dtype == torch.float32 and v0.shape[1:] == (9, 3, 32, 32)
        assert torch.equal(v0, v1)  # bit for bit, AugMix included
        assert l0 == l1 and all(s > 0 for s in s0 + s1)
    # and equal to make_views itself, keyed by the given index (not the position)
    first = tpt.make_views(data[5][0], pp, n_views=9, augmix=True, seed=3, index=50)
    assert torch.equal(serial[0][1][0], first)
    other = tpt.make_views(data[5][0], pp, n_views=9, augmix=True, seed=3, index=5)
    assert not torch.equal(other[1:], first[1:])


def test_run_rows_are_identical_with_and_without_workers(model, tokenizer, tmp_path):
    data = make_images(5)
    inline = run(model, tokenizer, data, tmp_path / "w0.jsonl", dataclasses.replace(SETTINGS, num_workers=0),
                 batch_size=2)
    workers = run(model, tokenizer, data, tmp_path / "w2.jsonl", dataclasses.replace(SETTINGS, num_workers=2),
                  batch_size=2)
    assert [r["index"] for r in workers] == list(range(5))
    assert _no_times(inline) == _no_times(workers)  # logits included, exactly
    assert all(r["view_seconds"] > 0 and r["seconds"] > 0 for r in workers)
    # the worker count is a speed option: a run started without workers resumes with them
    path = tmp_path / "mixed.jsonl"
    run(model, tokenizer, data, path, dataclasses.replace(SETTINGS, num_workers=0), indices=[0, 3])
    mixed = run(model, tokenizer, data, path, dataclasses.replace(SETTINGS, num_workers=2), batch_size=2)
    assert [r["index"] for r in mixed] == list(range(5)) and {r["run"] for r in mixed} == {inline[0]["run"]}
    for a, b in zip(mixed, inline, strict=True):  # other batches: equal up to float rounding (batched tuning)
        assert a["pred"] == b["pred"] and a["logits"] == pytest.approx(b["logits"], abs=1e-4)


def test_disjoint_shards_make_the_full_run(model, tokenizer, tmp_path):
    data = make_images(6)
    full = run(model, tokenizer, data, tmp_path / "full.jsonl", method="tpt")
    path = tmp_path / "shards.jsonl"
    a = run(model, tokenizer, data, path, method="tpt", indices=[4, 0, 2])
    assert sorted(r["index"] for r in a) == [0, 2, 4]
    b = run(model, tokenizer, data, path, dataclasses.replace(SETTINGS, num_workers=2), method="tpt",
            indices=range(1, 6, 2))
    assert _no_times(b) == _no_times(full)
    assert len(tpt.read_tpt_rows(path)) == 6


class FailsAt:
    """A dataset whose item ``bad`` cannot be read (a corrupt image file)."""

    def __init__(self, data, bad: int):
        self.data, self.bad = data, bad

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        if i == self.bad:
            raise OSError(f"image {i} is truncated")
        return self.data[i]


def test_a_failure_in_a_worker_stops_the_run_and_resume_completes_it(model, tokenizer, tmp_path):
    data = make_images(6)
    path = tmp_path / "run.jsonl"
    settings = dataclasses.replace(SETTINGS, num_workers=2)
    with pytest.raises(OSError, match="image 4 is truncated"):
        run(model, tokenizer, FailsAt(data, 4), path, settings, batch_size=2)
    # batches come in order: the failure surfaces when the model asks for the third batch
    assert [r["index"] for r in tpt.read_tpt_rows(path)] == [0, 1, 2, 3]
    resumed = run(model, tokenizer, data, path, settings, batch_size=2)
    clean = run(model, tokenizer, data, tmp_path / "clean.jsonl", batch_size=2)
    # ("source" and "dataset_text" name the dataset object: the failing wrapper is another one; the
    # content identity "dataset" is the same, else the resume would have been refused)
    assert {r["dataset"] for r in resumed} == {r["dataset"] for r in clean}
    def same(rows):
        return [{**r, "source": None, "dataset_text": None} for r in _no_times(rows)]

    assert same(resumed) == same(clean)


def test_default_num_workers_and_bad_arguments(model, monkeypatch):
    assert default_num_workers("cpu") == 0
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert default_num_workers(torch.device("cuda")) == 8
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(5)), raising=False)
    assert default_num_workers("cuda:0") == 4
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert default_num_workers("cuda") == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_num_workers("cuda") == 0
    pp = tpt.preprocess_config(model)
    data = make_images(2)
    with pytest.raises(ValueError, match="batch_size"):
        next(view_batches(data, [0], [0], pp, batch_size=0))
    with pytest.raises(ValueError, match="num_workers"):
        next(view_batches(data, [0], [0], pp, num_workers=-1))
    with pytest.raises(ValueError, match="one key per position"):
        ViewSet(data, [0, 1], [0], pp)
