"""Tests for vlmcal_utils.storage: atomic writes and the locked JSON-lines record store."""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import pytest

from vlmcal_utils.storage import (
    DamagedFileError,
    RecordStore,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


def by_index(row):
    return row["index"]


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    atomic_write_json(target, {"c": 3})
    assert json.loads(target.read_text()) == {"c": 3}
    assert sorted(os.listdir(target.parent)) == ["a.json"]


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert atomic.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_atomic_write_failure_keeps_old_content(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails mid-write, before the rename
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_append_skips_existing_keys_and_read_keeps_first(tmp_path):
    store = RecordStore(tmp_path / "rows.jsonl", by_index)
    assert store.read() == []
    assert store.append([{"index": 0, "v": "a"}, {"index": 1, "v": "b"}]) == 2
    assert store.append([{"index": 1, "v": "other"}, {"index": 2, "v": "c"}]) == 1
    assert [r["v"] for r in store.read()] == ["a", "b", "c"]
    # A duplicate written behind the store's back is not counted twice on read.
    with open(store.path, "a") as fh:
        fh.write(json.dumps({"index": 0, "v": "dup"}) + "\n")
    assert [r["v"] for r in store.read()] == ["a", "b", "c"]
    assert store.repair() is True
    assert len(store.path.read_text().splitlines()) == 3


def test_torn_last_line_is_dropped_and_repaired_before_the_next_append(tmp_path):
    store = RecordStore(tmp_path / "rows.jsonl", by_index)
    store.append([{"index": 0}])
    with open(store.path, "a") as fh:
        fh.write('{"index": 1, "v"')  # a kill mid-write
    assert store.keys() == {0}
    store.append([{"index": 2}])
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 2]


def test_append_sees_what_other_writers_did_since_its_last_look(tmp_path):
    # the store parses only lines added after what it saw last; a rewrite elsewhere must not fool it
    store, other = RecordStore(tmp_path / "rows.jsonl", by_index), RecordStore(tmp_path / "rows.jsonl", by_index)
    store.append([{"index": 0}, {"index": 1}])
    other.append([{"index": 2}])  # appended behind its back: seen
    assert store.append([{"index": 2}, {"index": 3}]) == 1
    other.replace_all([{"index": 5}])  # rewritten: 0-3 are gone, so they are written again
    assert store.append([{"index": 0}, {"index": 5}]) == 1
    assert [r["index"] for r in store.read()] == [5, 0]
    with open(store.path, "a") as fh:
        fh.write("not json\n")  # a bad line after its last look is still refused
    with pytest.raises(DamagedFileError, match="line 3"):
        store.append([{"index": 7}])


def test_bad_line_in_the_middle_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"index": 0}\nnot json\n{"index": 2}\n')
    store = RecordStore(path, by_index)
    with pytest.raises(DamagedFileError, match="line 2"):
        store.read()
    assert [r["index"] for r in store.read(skip_damaged=True)] == [0, 2]


def _writer(path: str, start: int, barrier, n: int) -> None:
    store = RecordStore(path, by_index)
    barrier.wait()
    for i in range(n):
        # Both writers try every index: only one copy of each may land.
        store.append([{"index": i, "writer": start}])


@pytest.mark.parametrize("trial", range(3))
def test_two_concurrent_writers_never_double_a_row(tmp_path, trial):
    path = str(tmp_path / f"rows{trial}.jsonl")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, w, barrier, 60)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = open(path).read().splitlines()
    indices = [json.loads(line)["index"] for line in lines]
    assert sorted(indices) == list(range(60))  # every index exactly once, in the file itself
