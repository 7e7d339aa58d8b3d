"""Views made in DataLoader workers: the same views and rows as made in line, shards, failures."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vlmcal_utils import tpt
from vlmcal_utils.tpt.views import ViewCache, ViewSet, default_num_workers, view_batches

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


class _Images(list):
    """A list of images that takes a weak reference (a plain list does not: it is never cached)."""


def test_cache_serves_the_same_views_and_only_for_the_same_dataset_object(model):
    data = _Images(make_images(6))
    pp = tpt.preprocess_config(model)
    cache = ViewCache(1 << 30)
    kw = dict(n_views=7, augmix=True, seed=2, batch_size=4)
    fresh = list(view_batches(data, [4, 1, 2], [40, 10, 20], pp, **kw))
    first = list(view_batches(data, [4, 1, 2], [40, 10, 20], pp, cache=cache, **kw))
    assert len(cache) == 3
    again = list(view_batches(data, [4, 1, 2], [40, 10, 20], pp, cache=cache, num_workers=2, **kw))  # all held
    for a, b, c in zip(fresh, first, again, strict=True):
        assert a[0] == b[0] == c[0] and a[2] == b[2] == c[2]
        assert torch.equal(a[1], b[1]) and torch.equal(a[1], c[1])
    # another stream index or seed is another entry; so is an equal copy of the dataset (another object)
    list(view_batches(data, [4], [41], pp, cache=cache, **kw))
    list(view_batches(data, [4], [40], pp, cache=cache, **{**kw, "seed": 3}))
    copy = _Images(data)
    list(view_batches(copy, [4], [40], pp, cache=cache, **kw))
    assert len(cache) == 6
    list(view_batches(list(data), [4], [40], pp, cache=cache, **kw))  # a plain list takes no weak reference
    assert len(cache) == 6
    del data, first, again
    assert len(cache) == 1  # the dataset gone, its entries go; the copy's stays until it goes too


def test_cache_made_by_workers_and_bounded_in_bytes(model):
    data = _Images(make_images(5))
    pp = tpt.preprocess_config(model)
    one = 7 * 3 * 32 * 32 * 4  # bytes of one image's 7 views
    cache = ViewCache(3 * one)
    kw = dict(n_views=7, augmix=False, seed=0, batch_size=2)
    made = list(view_batches(data, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], pp, cache=cache, num_workers=2, **kw))
    assert len(cache) == 3  # the 3 most recent: images 2, 3, 4
    assert cache.get(data, (0, 0, 32, pp["mean"], pp["std"], 7, False, 0, 1)) is None
    held, label = cache.get(data, (4, 4, 32, pp["mean"], pp["std"], 7, False, 0, 1))
    assert torch.equal(held, made[2][1][0]) and label == made[2][2][0]
    cache.max_bytes = 0
    cache.clear()
    list(view_batches(data, [0], [0], pp, cache=cache, **kw))
    assert len(cache) == 0


def test_a_run_makes_each_view_set_once_per_process(model, tokenizer, tmp_path, monkeypatch):
    from vlmcal_utils.tpt import views as views_module

    data = _Images(make_images(4))
    calls = []
    real = views_module.make_views
    monkeypatch.setattr(views_module, "make_views", lambda *a, **k: calls.append(k["index"]) or real(*a, **k))
    monkeypatch.setattr(views_module, "VIEW_CACHE", ViewCache(1 << 30))
    monkeypatch.setattr("vlmcal_utils.tpt.runner.VIEW_CACHE", views_module.VIEW_CACHE)
    tpt_rows = run(model, tokenizer, data, tmp_path / "tpt.jsonl", method="tpt", batch_size=2)
    ctpt_rows = run(model, tokenizer, data, tmp_path / "ctpt.jsonl", batch_size=2)
    assert sorted(calls) == [0, 1, 2, 3]  # made for TPT, reused by C-TPT
    views_module.VIEW_CACHE.clear()
    fresh = run(model, tokenizer, data, tmp_path / "ctpt2.jsonl", batch_size=2)
    assert _no_times(fresh) == _no_times(ctpt_rows) and len(tpt_rows) == 4
