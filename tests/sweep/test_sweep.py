"""vlmcal_utils.sweep: a demo-world C-TPT grid as shards on a local Ray, a worker killed mid-shard,
the rerun computing only what is missing, merged rows equal to a sequential run_tpt, row for row, and
the summary table equal to chapter 4's results table."""

from __future__ import annotations

import contextlib
import doctest
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlmcal_utils import sweep
from vlmcal_utils.models import load_model
from vlmcal_utils.sweep import ray_runner
from vlmcal_utils.tpt import RunSettings, read_tpt_rows, run_tpt
from vlmcal_utils.tpt.runner import COMPUTED_ROWS, logits_sidecar

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "params" / "sweep-demo.yaml").read_text())
VALUES = sweep.notebook_values(DEMO["04_ctpt"])
MODELS = [("vlmcal-demo", None)]
# compared row for row; ``seconds`` is a timing, not a result
SAME = ("index", "source_index", "source", "label", "pred", "method", "run", "temperature")


@pytest.fixture(scope="module")
def demo_model():
    model, _, tokenizer = load_model("vlmcal-demo", None, device="cpu")
    return model, tokenizer


def plan(tmp_path, **kw):
    return sweep.plan_runs(DEMO, tmp_path / "sweep", models=MODELS, shard_size=4, **kw)


def sequential(run, demo_model, folder):
    """The same run as one sequential run_tpt call into its own file (what chapter 4 does)."""
    model, tokenizer = demo_model
    ds = sweep.cell_dataset(VALUES, run.cell.dataset, None, run.calibration)
    return run_tpt(model, tokenizer, ds, ds.classnames, run.method, folder / Path(run.merged).name,
                   RunSettings.from_params(VALUES, run.cell.dataset, run.cell.init, run.method), batch_size=1,
                   progress=False)


def assert_same_rows(merged, reference):
    assert [r["index"] for r in merged] == list(range(len(reference)))  # no index lost or doubled
    for a, b in zip(merged, reference, strict=True):
        assert {k: a[k] for k in SAME} == {k: b[k] for k in SAME}
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)


def test_shard_ranges_are_disjoint_and_cover_every_image_once():
    for n in (0, 1, 7, 12, 13, 500):
        for size in (1, 4, 5, 500, 1000):
            ranges = sweep.shard_ranges(n, size)
            covered = [i for a, b in ranges for i in range(a, b)]
            assert covered == list(range(n))  # no padding: nothing twice, nothing left out
            assert all(0 < b - a <= size for a, b in ranges)
    with pytest.raises(ValueError, match="shard_size"):
        sweep.shard_ranges(10, 0)


def test_defaults_are_chapter_4s(repo_root):
    from vlmcal_book.reproduce import notebook_parameters, read_notebook

    defaults = notebook_parameters(read_notebook(repo_root / "notebooks" / "04_ctpt.md"))
    assert {k: defaults[k] for k in sweep.NOTEBOOK_DEFAULTS} == sweep.NOTEBOOK_DEFAULTS


def test_plan_of_the_demo_grid(tmp_path):
    runs = plan(tmp_path)
    assert [(r.cell.method, r.method, r.n_images, len(r.shards)) for r in runs] == [
        ("zeroshot", "zeroshot", 12, 3), ("tpt", "tpt", 12, 3), ("ctpt", "ctpt", 12, 3), ("tpt+ts", "tpt", 8, 2)]
    assert Path(runs[3].merged).name == "demo-photo__cal-auto__tpt.jsonl"  # chapter 4's file name
    names = [s.name for r in runs for s in r.shards]
    assert len(names) == len(set(names)) and len({s.path for r in runs for s in r.shards}) == len(names)


def test_dry_run_prints_the_ctpt_grid(capsys):
    paper = str(REPO / "params" / "paper.yaml")
    assert sweep.main([paper, "--paper", "ctpt", "--dry-run", "--costs", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "ViT-B-16 openai imagenet hard ctpt: 100 shards" in out  # 50 000 images / 500
    assert "RN50 openai dtd ensemble tpt: 4 shards" in out  # 1692 images
    # no cost figure: the column shows "-" and one line says why, not "unknown" 270 times
    assert "ctpt: 270 cells" in out and "GPU-hours: not estimated" in out and " unknown  " not in out
    with pytest.raises(SystemExit):
        sweep.main([str(REPO / "params" / "paper.yaml"), "--paper", "tu"])  # dry run only


def test_merge_refuses_rows_of_another_run(tmp_path, demo_model):
    model, tokenizer = demo_model
    run = plan(tmp_path, methods=["ctpt"])[0]
    first, second = run.shards[:2]
    sweep.run_shard(first, VALUES, model, tokenizer)
    other = {**VALUES, "lam": 7.0}  # other settings: another fingerprint
    sweep.run_shard(second, other, model, tokenizer)
    before = [Path(s.path).read_text() for s in (first, second)]
    with pytest.raises(ValueError, match="refusing to merge rows of 2 different runs"):
        sweep.merge_shards([first.path, second.path], run.merged, run.n_images)
    assert not Path(run.merged).exists() and [Path(s.path).read_text() for s in (first, second)] == before
    report = sweep.merge_shards([first.path, first.path], run.merged, run.n_images)  # a shard listed twice
    assert report.rows == 4 and report.duplicates == 4 and report.missing == list(range(4, 12))


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'vlmcal-utils\[sweep\]'"):
        sweep.run_sweep([], VALUES)


@pytest.mark.slow
def test_killed_workers_then_rerun_computes_only_the_missing_rows(local_ray, tmp_path, demo_model, capsys,
                                                                 monkeypatch):
    runs = plan(tmp_path)
    tpt_run, ctpt = runs[1], runs[2]
    # batch 2: each victim's worker dies once 2 rows of its shard are written; the ctpt shard's
    # retry dies too (at once), so that shard is left with 2 of its 4 rows for the rerun
    retried, left = tpt_run.shards[2], ctpt.shards[1]
    monkeypatch.setattr(ray_runner, "FAULTS", {retried.name: 2, left.name: [2, 2]})  # the fault seam
    first = sweep.run_sweep(runs, VALUES, workers=2, max_retries=1)
    monkeypatch.setattr(ray_runner, "FAULTS", {})
    assert first.workers == 2 and not first.use_gpu
    assert sorted(first.died) == sorted([retried.name, left.name, left.name]) and list(first.failed) == [left.name]
    again = next(r for r in first.results if r.shard == retried.name)  # a fresh worker resumed it
    assert (again.resumed, again.computed) == (2, 2)
    assert [r["index"] for r in read_tpt_rows(left.path)] == [4, 5]
    assert ctpt.name not in first.merged and not Path(ctpt.merged).exists()  # incomplete: not merged
    assert set(first.merged) == {r.name for r in runs} - {ctpt.name}
    # every image computed once: all but the 2 rows of each victim (dead workers report nothing)
    # and the 2 images of `left` never reached
    assert first.computed == sum(r.n_images for r in runs) - 2 - 4
    assert len({r.pid for r in first.results}) >= 2  # worker processes shared the shards

    # the rerun, through the command line: the demo grid end to end on the same folder
    args = [str(REPO / "params" / "sweep-demo.yaml"), "--model", "section", "--shard-size", "4",
            "--output", str(tmp_path / "sweep"), "--workers", "2"]
    capsys.readouterr()
    monkeypatch.setenv("VLMCAL_PROGRESS", "1")
    assert sweep.main(args) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "4 runs, 11 shards, 44 images" in out and "1 CPU workers" in out  # one shard left to run
    assert "2 rows computed" in out  # only images 6 and 7 of `left`
    assert f"{left.name} [4:8]: 2 computed, 2 resumed" in out
    assert "10 shards had every row already" in out and "FAILED" not in out  # not even given to a worker
    assert all(f"merged {r.name}: {r.n_images} rows" in out for r in runs)
    # one overall bar on stderr: rows of all runs, rate and ETA, shards and failures
    assert "sweep: 100%" in captured.err and "44/44 [" in captured.err and "<00:00" in captured.err
    assert "shards 1/1, failed 0" in captured.err
    assert not list((tmp_path / "sweep").rglob("*.lock")) and not list((tmp_path / "sweep").rglob("shards/*"))
    assert sweep.main(["summarize", str(tmp_path / "sweep")]) == 0
    summary = __import__("pandas").read_csv(tmp_path / "sweep" / "summary.csv")
    assert list(summary["method"]) == ["zeroshot", "tpt", "ts_official", "ts_fitted", "ctpt"]

    for run in runs:
        merged = read_tpt_rows(run.merged)
        assert_same_rows(merged, sequential(run, demo_model, tmp_path / "sequential"))
        # chapter 4 pointed at the merged file finds every row: nothing is tuned again
        text = Path(run.merged).read_text()
        assert len(sequential(run, demo_model, Path(run.merged).parent)) == run.n_images
        assert Path(run.merged).read_text() == text


@pytest.mark.slow
def test_run_sweeps_docstring_example_runs_as_a_doctest(local_ray):
    """The Examples of run_sweep (the API reference's) run as written, on the tests' local Ray: it is not
    in `make test`'s doctest modules because it needs Ray. Before: every line was +SKIP, and its
    n_views 8 with the default selection 0.1 kept int(0.8) = 0 views (each shard failed)."""
    [test] = [t for t in doctest.DocTestFinder().find(ray_runner) if t.name.endswith(".run_sweep")]
    assert len(test.examples) >= 6 and not any(e.options for e in test.examples)  # nothing skipped
    out = io.StringIO()
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=out.write)
    assert result.failed == 0, out.getvalue()


def test_a_rerun_with_another_seed_writes_its_own_run_folder(tmp_path, demo_model):
    """Before (issue 25): the rerun shared the first run's shard files: "merged 24 rows" for a 12-image
    run, every position twice, accuracy over both draws."""
    model, tokenizer = demo_model
    reseeded = {**DEMO, "04_ctpt": {**DEMO["04_ctpt"], "seed": 1}}
    first, second = plan(tmp_path, methods=["zeroshot"])[0], sweep.plan_runs(
        reseeded, tmp_path / "sweep", models=MODELS, shard_size=4, methods=["zeroshot"])[0]
    assert Path(first.merged).parent != Path(second.merged).parent and "seed1" in second.merged
    for run, values in ((first, VALUES), (second, sweep.notebook_values(reseeded["04_ctpt"]))):
        for shard in run.shards:
            sweep.run_shard(shard, values, model, tokenizer)
        report = sweep.merge_shards([s.path for s in run.shards], run.merged, run.n_images)
        rows = read_tpt_rows(run.merged)
        assert report.rows == run.n_images == len(rows) and report.missing == []
        assert sorted(r["index"] for r in rows) == list(range(run.n_images))
        assert len({r["source"] for r in rows}) == 1
    # shard files of two draws handed to one merge: refused, nothing written
    mixed = tmp_path / "mixed.jsonl"
    with pytest.raises(ValueError, match="another draw of images"):
        sweep.merge_shards([first.shards[0].path, second.shards[1].path], mixed)
    assert not mixed.exists()


def test_a_finished_shard_reruns_with_zero_rows_computed(tmp_path, demo_model):
    # counted where rows are computed (tpt.runner.COMPUTED_ROWS), not as rows after minus before:
    # a resume that recomputed every row and let the store drop the duplicates would report 4 here
    model, tokenizer = demo_model
    shard = plan(tmp_path, methods=["zeroshot"])[0].shards[0]
    first = sweep.run_shard(shard, VALUES, model, tokenizer)
    assert (first.resumed, first.computed, first.rows) == (0, 4, 4)
    again = sweep.run_shard(shard, VALUES, model, tokenizer)
    assert (again.resumed, again.computed, again.rows) == (4, 0, 4)


def chapter4_table(tmp_path):
    """Chapter 4's results table for the demo grid, computed as the notebook does (its own run files)."""
    from vlmcal_utils.views import chapter4 as ch4

    clip = ch4.load_clip(VALUES["model"], VALUES["pretrained"], device="cpu", seed=VALUES["seed"])
    sets = ch4.test_sets(VALUES["datasets"], VALUES["n_samples"], seed=VALUES["seed"])
    protocol = {k: VALUES[k] for k in ("ensemble", "n_views", "augmix", "selection", "lr", "steps", "lam",
                                       "lam_shifts", "seed")}
    runs = ch4.run_methods(clip, sets, VALUES["inits"], tmp_path / "ch4", batch=VALUES["batch"], log=None, **protocol)
    temperatures = ch4.calibration_runs(clip, sets, VALUES["inits"], tmp_path / "ch4", n_cal=VALUES["n_cal"],
                                        cal_split=VALUES["cal_split"], batch=VALUES["batch"], log=None, **protocol)
    return ch4.results_table(runs, temperatures, [15, 20])


def assert_summary_is_chapter_4s(output, tmp_path):
    """``summarize(output)``'s rows equal chapter 4's results table, row for row and column for column."""
    table = sweep.summarize(output)
    expected = chapter4_table(tmp_path)
    assert set(table["provenance"]) == {"demo world"} and set(table["bins"]) == {20}
    ours = table.set_index(["dataset", "init", "method"])
    assert list(ours.index) == list(expected.index)  # zero-shot, TPT, TS fixed and fitted, C-TPT
    assert {"ts_official", "ts_fitted"} <= set(expected.index.get_level_values("method"))
    assert (table["seconds"] > 0).all()  # a timing: compared as such, not as a result
    for col in expected.columns.drop("seconds"):  # logits: float32 in the sidecar, 6 decimals in chapter 4's JSON
        np.testing.assert_allclose(ours[col].to_numpy(float), expected[col].to_numpy(float), rtol=1e-5, atol=1e-6,
                                   err_msg=col)
    assert ((table["accuracy"] >= 0) & (table["accuracy"] <= 1)).all() and (table["ece_20"] <= 1).all()  # fractions
    return table


def test_summary_rows_equal_chapter_4s_table_and_no_lock_is_left(tmp_path, demo_model):
    model, tokenizer = demo_model
    runs = plan(tmp_path)
    results = [sweep.run_shard(s, VALUES, model, tokenizer) for run in runs for s in run.shards]
    merged = sweep.finish_runs(runs, (), {r.shard.rsplit("#", 1)[0]: r.official_temperature for r in results})
    assert all(not rep.missing for rep in merged.values()) and len(merged) == 4
    out = tmp_path / "sweep"
    assert not list(out.rglob("*.lock")) and not list(out.rglob("shards/*"))  # only the merged files stay
    for run in runs:
        rows = read_tpt_rows(run.merged)  # the logits come back from the sidecar
        assert len(rows) == run.n_images and len({len(r["logits"]) for r in rows}) == 1 and len(rows[0]["logits"]) > 1
        assert '"logits"' not in Path(run.merged).read_text() and logits_sidecar(run.merged).is_file()
        frame = __import__("pandas").read_json(run.merged, lines=True)  # one file alone names its run
        assert set(frame["dataset_name"]) == {"demo-photo"} and set(frame["method"]) == {run.method}
        assert set(frame["split"]) == {"cal-auto" if run.calibration else "test"} and set(frame["init"]) == {"hard"}
    assert_summary_is_chapter_4s(out, tmp_path)
    assert sweep.main(["summarize", str(out)]) == 0
    assert (out / "summary.csv").is_file()


def test_another_shard_size_computes_only_the_missing_rows(tmp_path, demo_model):
    """Before (issue 25): rows were found by shard file, so --shard-size 5 after 4 recomputed all 12."""
    model, tokenizer = demo_model
    run = plan(tmp_path, methods=["zeroshot"])[0]
    for shard in run.shards[:2]:  # 8 of 12 images, in shards of 4
        sweep.run_shard(shard, VALUES, model, tokenizer)
    resized = sweep.plan_runs(DEMO, tmp_path / "sweep", models=MODELS, shard_size=5, methods=["zeroshot"])[0]
    todo, done = sweep.pending_shards(resized)
    assert done == 5 and [(s.start, s.stop) for s in todo] == [(5, 10), (10, 12)]  # [0, 5) had every row
    before = sum(COMPUTED_ROWS.values())
    for shard in todo:
        sweep.run_shard(shard, VALUES, model, tokenizer)
    assert sum(COMPUTED_ROWS.values()) - before == 4
    report = sweep.finish_runs([resized])[resized.name]
    assert report.rows == 12 and report.missing == []
    assert [r["index"] for r in read_tpt_rows(resized.merged)] == list(range(12))
    assert not resized.shard_dir.exists()  # both sizes' shard files went with the complete merge


DRIVER = """
import sys, time, psutil, ray
from vlmcal_utils.sweep.ray_runner import _ray_ends_with_driver
ray.init(num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=sys.argv[1])
with _ray_ends_with_driver(ray, True):
    print(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)), flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_driver_leaves_no_ray_process(tmp_path_factory):
    """Before (issue 25): after a kill -9 of the driver, Ray's DashboardAgent and RuntimeEnvAgent stayed alive."""
    import signal
    import subprocess

    psutil = pytest.importorskip("psutil")
    pytest.importorskip("ray")
    temp = tmp_path_factory.mktemp("ray")  # short: Ray's socket paths must fit in 107 bytes
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(temp)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in driver.stdout.readline().split()]
    assert len(pids) > 2  # Ray's node: gcs_server, raylet, agents (and our reaper)
    driver.send_signal(signal.SIGKILL)  # nothing in the driver runs: the reaper must do it
    driver.wait(timeout=120)
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=30)
    left = []
    for p in alive:  # a zombie is dead (a container's init may be slow to reap it)
        with contextlib.suppress(psutil.NoSuchProcess):
            left += [p.cmdline()[:2]] if p.status() != psutil.STATUS_ZOMBIE else []
    assert left == []


def test_logits_sidecar_round_trip_and_a_missing_or_foreign_sidecar_is_named(tmp_path):
    from vlmcal_utils.storage import RecordStore
    from vlmcal_utils.tpt.runner import save_logits_sidecar

    rng = np.random.default_rng(0)
    rows = [{"index": i, "source_index": 10 + i, "label": i % 3, "run": "abc", "method": "tpt",
             "logits": rng.normal(size=5).tolist()} for i in range(4)]
    path = tmp_path / "r.jsonl"
    RecordStore(path, key=lambda r: r["source_index"]).replace_all(save_logits_sidecar(path, rows))
    back = read_tpt_rows(path)
    np.testing.assert_allclose([r["logits"] for r in back], [r["logits"] for r in rows], rtol=1e-6)  # float32
    assert [r["source_index"] for r in back] == [10, 11, 12, 13]
    save_logits_sidecar(path, [{**r, "run": "other"} for r in rows])  # another run's logits: never served
    with pytest.raises(ValueError, match="lacks the logits of 4 rows"):
        read_tpt_rows(path)
    logits_sidecar(path).unlink()  # logits are optional for a reader; the summary names the missing file
    assert [r.get("logits") for r in read_tpt_rows(path)] == [None] * 4
    run = tmp_path / "sweep" / "m__None" / "n4" / "runs"
    run.mkdir(parents=True)
    path.rename(run / path.name)
    with pytest.raises(ValueError, match=r"r\.jsonl\.logits\.npz is missing"):
        sweep.summarize(tmp_path / "sweep")
