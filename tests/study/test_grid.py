"""Tests for vlmcal_utils.study.grid: the resumable grid runner and its results file."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from vlmcal_utils import study
from vlmcal_utils.storage import DamagedFileError

from .synthetic import make_tasks, synthetic

GRID = dict(n_calib_grid=[10, 50], n_repeats=2, n_boot=20)
N_CELLS = 2 * (1 + 2 * 2)  # per task: the full split + 2 sizes x 2 repeats


def test_run_grid_resume_equals_uninterrupted(tmp_path):
    full = study.run_grid(make_tasks(), tmp_path / "full.jsonl", progress=False, **GRID)
    # rows: per task, the full cell has 2 splits x 2 methods, each draw 2 splits x 1 method
    assert len(full) == 2 * (4 + 4 * 2)
    assert not full.duplicated(list(study.KEY_COLUMNS)).any()

    path = tmp_path / "resumed.jsonl"
    seen: list[tuple] = []

    def crash_after_3(rows):
        seen.append(study.grid_key(rows[0]))
        if len(seen) == 3:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        study.run_grid(make_tasks(), path, on_cell=crash_after_3, progress=False, **GRID)
    assert len(study.read_grid(path)) > 0
    counter: dict = {}
    second: list[tuple] = []
    resumed = study.run_grid(make_tasks(counter), path, on_cell=lambda r: second.append(study.grid_key(r[0])),
                             progress=False, **GRID)
    assert len(seen) + len(second) == N_CELLS  # every cell computed exactly once overall
    assert not set(seen) & set(second)
    assert not resumed.duplicated(list(study.KEY_COLUMNS)).any()
    pd.testing.assert_frame_equal(resumed, full)
    # A finished grid loads nothing and computes nothing.
    counter.clear()
    again = study.run_grid(make_tasks(counter), path, on_cell=lambda r: pytest.fail("recomputed"),
                           progress=False, **GRID)
    assert counter == {}
    pd.testing.assert_frame_equal(again, full)
    pd.testing.assert_frame_equal(study.read_grid(path), full)


def test_config_object_and_keywords_are_the_same_run(tmp_path):
    a = study.run_grid(make_tasks()[:1], tmp_path / "a.jsonl", study.GridConfig(**GRID), progress=False)
    b = study.run_grid(make_tasks()[:1], tmp_path / "b.jsonl", progress=False, **GRID)
    pd.testing.assert_frame_equal(a, b)
    # keywords override the config's fields
    c = study.run_grid(make_tasks()[:1], tmp_path / "c.jsonl", study.GridConfig(**GRID), n_calib_grid=[10],
                       progress=False)
    assert set(c["n_calib"]) == {10, 400}
    with pytest.raises(TypeError, match="n_repeats"):
        study.run_grid(make_tasks(), tmp_path / "d.jsonl", n_repeat=3)


def test_run_grid_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "grid.jsonl"
    full = study.run_grid(make_tasks(), path, progress=False, **GRID)
    lines = path.read_text().splitlines(keepends=True)
    last_cell = json.loads(lines[-1])
    n_last = sum(1 for ln in lines if json.loads(ln)["seed"] == last_cell["seed"]
                 and json.loads(ln)["cell"] == last_cell["cell"]
                 and json.loads(ln)["model"] == last_cell["model"])
    assert n_last >= 2
    # Simulate a kill in the middle of the last cell's write: its rows are partly on disk —
    # first only a torn first line, then one complete row and a torn second one.
    for partial in (lines[-n_last][:25], lines[-n_last] + lines[-n_last + 1][:25]):
        path.write_text("".join(lines[: -n_last]) + partial)
        calls = []
        again = study.run_grid(make_tasks(), path, on_cell=calls.append, progress=False, **GRID)
        assert len(calls) == 1
        pd.testing.assert_frame_equal(again, full)


def test_a_damaged_line_inside_the_file_is_refused(tmp_path):
    # a bad line that is not the last one was not left by a kill: the file was edited or damaged
    # (it used to be dropped silently, and its cell recomputed)
    path = tmp_path / "grid.jsonl"
    study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0][:20] + "\n" + "".join(lines[1:]))
    with pytest.raises(DamagedFileError, match="line 1"):
        study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)


def test_run_grid_validation(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        study.run_grid(make_tasks() * 2, tmp_path / "x.jsonl", progress=False)
    with pytest.raises(ValueError, match="larger than"):
        study.run_grid(make_tasks(), tmp_path / "y.jsonl", n_calib_grid=[10**5], progress=False)
    with pytest.raises(ValueError, match="whole calibration split"):
        study.run_grid(make_tasks(), tmp_path / "w.jsonl", n_calib_grid=[10, 400], progress=False)
    study.run_grid(make_tasks()[:1], tmp_path / "v.jsonl", n_bins=15, n_boot=0, progress=False)
    with pytest.raises(ValueError, match="other settings.*n_bins: file 15, this run 10"):
        study.run_grid(make_tasks()[:1], tmp_path / "v.jsonl", n_bins=10, n_boot=0, progress=False)
    bad = [study.StudyTask("m", "d", lambda: {"test": synthetic(20)})]
    with pytest.raises(ValueError, match="'cal'"):
        study.run_grid(bad, tmp_path / "z.jsonl", progress=False)


@pytest.mark.parametrize("field, value, match", [
    ("n_boot", -1, "n_boot must be an integer >= 0"),
    ("n_boot", 2.5, "n_boot must be an integer >= 0"),
    ("n_repeats", 0, "n_repeats must be an integer >= 1"),
    ("n_repeats", True, "n_repeats must be an integer >= 1"),
    ("seed", -1, "seed must be an integer >= 0"),
    ("n_bins", 0, "n_bins"),
    ("alpha", 1.5, "alpha"),
    ("method", "newton", "temperature method"),
    ("n_calib_grid", [10, 0], "n_calib_grid entries"),
    ("n_calib_grid", 10, "list of sizes"),
    ("stratified", "yes", "stratified"),
])
def test_grid_config_validation(tmp_path, field, value, match):
    with pytest.raises(ValueError, match=match):
        study.GridConfig(**{field: value})
    # refused before any logits are loaded or any file is written
    with pytest.raises(ValueError, match=match):
        study.run_grid(make_tasks({}), tmp_path / "g.jsonl", progress=False, **{field: value})
    assert not (tmp_path / "g.jsonl").exists()


def test_rerun_with_another_seed_is_refused_not_mixed(tmp_path):
    path = tmp_path / "g.jsonl"
    first = study.run_grid(make_tasks(), path, progress=False, **GRID)
    # the old runner reused the other seed's overlapping draws and returned both seeds' rows,
    # which broke the plots with a pandas "cannot reindex on an axis with duplicate labels"
    with pytest.raises(ValueError, match="other settings.*seed: file 0, this run 1"):
        study.run_grid(make_tasks(), path, progress=False, seed=1, **GRID)
    pd.testing.assert_frame_equal(study.read_grid(path), first)  # the file is untouched
    other = study.run_grid(make_tasks(), tmp_path / "seed1.jsonl", progress=False, seed=1, **GRID)
    assert set(other["seed"]) == {1, 2} and set(first["seed"]) == {0, 1}
    fig, ax = plt.subplots()
    study.plot_ece_before_after(other, ax=ax)
    plt.close(fig)


def test_rows_record_their_identity_and_other_inputs_are_refused(tmp_path):
    path = tmp_path / "g.jsonl"
    table = study.run_grid(make_tasks(), path, progress=False, **GRID)
    assert json.loads(table["settings"].iloc[0]) == {"n_bins": 15, "n_boot": 20, "alpha": 0.05,
                                                      "method": "bisection", "stratified": False, "seed": 0}
    assert table.groupby(["model", "cell", "seed"])["cell_digest"].nunique().eq(1).all()
    assert table["cell_digest"].nunique() == N_CELLS
    # the same model names backed by another source are other inputs: not reused
    with pytest.raises(ValueError, match="other inputs than this task.*source 'other file'"):
        study.run_grid(make_tasks(source="other file"), path, progress=False, **GRID)


def test_a_file_without_row_identity_is_refused(tmp_path):
    path = tmp_path / "old.jsonl"
    study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)
    old_settings = json.dumps({"n_bins": 15, "n_boot": 0, "alpha": 0.05, "method": "bisection", "stratified": False},
                              sort_keys=True)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**{k: v for k, v in r.items() if k != "cell_digest"},
                                        "settings": old_settings}) + "\n" for r in rows))
    with pytest.raises(ValueError, match="seed: file '\\(not recorded\\)', this run 0"):
        study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)


def test_a_file_of_rows_before_the_scores_record_is_refused(tmp_path):
    path = tmp_path / "old.jsonl"
    study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)
    renamed = {"accuracy": "acc", "mean_confidence": "conf", "ece_15": "ece", "temperature": "T"}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({renamed.get(k, k): v for k, v in r.items()}) + "\n" for r in rows))
    with pytest.raises(ValueError, match="format before vlmcal_utils.scores"):
        study.run_grid(make_tasks()[:1], path, progress=False, n_boot=0)


def test_run_grid_returns_only_this_runs_cells(tmp_path):
    path = tmp_path / "g.jsonl"
    study.run_grid(make_tasks(), path, progress=False, **GRID)
    smaller = study.run_grid(make_tasks()[:1], path, progress=False, **{**GRID, "n_calib_grid": [10]})
    assert set(smaller["model"]) == {"model_a"} and set(smaller["n_calib"]) == {10, 400}
    assert len(study.read_grid(path)) == 2 * (4 + 4 * 2)  # the other rows stay in the file


def test_a_size_listed_twice_is_one_set_of_draws(tmp_path):
    cells = []
    df = study.run_grid(make_tasks()[:1], tmp_path / "g.jsonl", n_calib_grid=[10, 10], n_repeats=2, n_boot=0,
                        on_cell=cells.append, progress=False)
    assert len(cells) == 1 + 2 and not df.duplicated(list(study.KEY_COLUMNS)).any()


def test_grid_rows_match_direct_calls(tmp_path):
    df = study.run_grid(make_tasks()[:1], tmp_path / "g.jsonl", n_boot=0, progress=False)
    data = make_tasks()[0].load()
    r = study.calibrate_and_score(*data["cal"], *data["shifted"], n_boot=0)
    row = df[(df["split"] == "shifted") & (df["method"] == "ts")].iloc[0]
    assert row["ece_15"] == pytest.approx(r["ts"].ece[15]) and row["temperature"] == pytest.approx(r["temperature"])
    assert row["n_calib"] == 400 and row["source"] == "synthetic"
    assert row["nll_cal_after"] <= row["nll_cal_before"]
    assert list(df.columns[: len(study.KEY_COLUMNS)]) == list(study.KEY_COLUMNS)
    assert set(study.RESULT_COLUMNS) | {"ece_15"} <= set(df.columns)


def test_read_grid_of_a_missing_file_is_empty(tmp_path):
    df = study.read_grid(tmp_path / "none.jsonl")
    assert df.empty and list(df.columns) == list(study.RESULT_COLUMNS)


def test_lowering_n_repeats_returns_only_this_runs_draws(tmp_path):
    path = tmp_path / "grid.jsonl"
    study.run_grid(make_tasks(), path, progress=False, n_calib_grid=[10], n_repeats=4, n_boot=0)
    fewer = study.run_grid(make_tasks(), path, progress=False, n_calib_grid=[10], n_repeats=2, n_boot=0,
                           on_cell=lambda rows: pytest.fail("recomputed"))
    assert sorted(set(fewer.loc[fewer["n_calib"] == 10, "seed"])) == [0, 1]
    clean = study.run_grid(make_tasks(), tmp_path / "clean.jsonl", progress=False, n_calib_grid=[10],
                           n_repeats=2, n_boot=0)
    pd.testing.assert_frame_equal(fewer, clean)


def test_rerun_with_other_task_inputs_is_refused(tmp_path):
    """A task whose ``inputs`` (which images, sizes, subset seed) changed never reuses rows."""
    path = tmp_path / "grid.jsonl"
    tasks = make_tasks()
    for t in tasks:
        t.inputs = "cal n=400 seed=0"
    study.run_grid(tasks, path, progress=False, **GRID)
    for t in tasks:
        t.inputs = "cal n=300 seed=0"
    with pytest.raises(ValueError, match="other inputs.*n=300"):
        study.run_grid(tasks, path, progress=False, **GRID)
