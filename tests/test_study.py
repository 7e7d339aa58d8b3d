"""Tests for vlmcal_utils.study: the empirical study (Tu et al., 2024) on cached logits."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from vlmcal_utils import study  # noqa: E402
from vlmcal_utils.data import load_logits  # noqa: E402
from vlmcal_utils.metrics import accuracy, ece, softmax  # noqa: E402

T_TRUE = 2.5  # the synthetic model is overconfident by exactly this temperature


def synthetic(n: int, k: int = 5, seed: int = 0, T: float = T_TRUE):
    """Logits whose labels are drawn from softmax(z); the model reports z * T (overconfident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5
    z[np.arange(n), rng.integers(0, k, n)] += 2.0
    p = softmax(z)
    u = rng.random(n)[:, None]
    y = (p.cumsum(axis=1) < u).sum(axis=1).clip(max=k - 1)
    return z * T, y


@pytest.fixture(scope="module")
def syn():
    zc, yc = synthetic(3000, seed=1)
    zt, yt = synthetic(3000, seed=2)
    return zc, yc, zt, yt


# --------------------------------------------------------------------------------------------
# calibrate_and_score
# --------------------------------------------------------------------------------------------


def test_ts_recovers_known_temperature_and_keeps_accuracy(syn):
    zc, yc, zt, yt = syn
    r = study.calibrate_and_score(zc, yc, zt, yt, n_boot=50)
    assert r["T"] == pytest.approx(T_TRUE, rel=0.1)
    assert r["ts"]["acc"] == r["none"]["acc"] == pytest.approx(accuracy(zt, yt))
    assert r["nll_cal_after"] < r["nll_cal_before"] - 0.05
    assert r["ts"]["ece"] < 0.5 * r["none"]["ece"]
    assert r["ts"]["conf"] < r["none"]["conf"]  # T > 1 softens
    assert r["none"]["ece"] == pytest.approx(ece(softmax(zt), yt))
    for m in ("none", "ts"):
        assert 0 <= r[m]["ece_lo"] <= r[m]["ece_hi"] <= 1
        assert r[m]["n"] == len(yt)


def test_score_without_bootstrap_gives_nan_interval(syn):
    zc, yc, _, _ = syn
    s = study.score_logits(zc, yc, 1.0, n_boot=0)
    assert math.isnan(s["ece_lo"]) and math.isnan(s["ece_hi"])
    assert s["T"] == 1.0


def test_bootstrap_is_seeded(syn):
    zc, yc, _, _ = syn
    a = study.score_logits(zc[:500], yc[:500], n_boot=30, seed=3)
    b = study.score_logits(zc[:500], yc[:500], n_boot=30, seed=3)
    assert a == b


def test_calibrate_rejects_mismatched_inputs(syn):
    zc, yc, zt, yt = syn
    # Different K is fine (T is a scalar), different N within a split is not.
    study.calibrate_and_score(zc, yc, zt[:, :4], np.minimum(yt, 3), n_boot=0)
    with pytest.raises(ValueError, match="N must match"):
        study.calibrate_and_score(zc, yc[:-1], zt, yt)


# --------------------------------------------------------------------------------------------
# label_mismatch_split
# --------------------------------------------------------------------------------------------


def test_label_mismatch_split_restricts_columns_and_remaps():
    z = np.arange(6 * 4, dtype=float).reshape(6, 4)
    y = np.array([0, 1, 2, 3, 2, 0])
    (zc, yc), (zt, yt) = study.label_mismatch_split(z, y, [2, 0], [3, 1])
    np.testing.assert_array_equal(zc, z[[0, 2, 4, 5]][:, [2, 0]])
    np.testing.assert_array_equal(yc, [1, 0, 0, 1])  # class 2 -> 0, class 0 -> 1 (given order)
    np.testing.assert_array_equal(zt, z[[1, 3]][:, [3, 1]])
    np.testing.assert_array_equal(yt, [1, 0])


def test_label_mismatch_split_from_separate_test_arrays(syn):
    zc, yc, zt, yt = syn
    (a, ya), (b, yb) = study.label_mismatch_split(zc, yc, [0, 1], [2, 3, 4], test_logits=zt, test_labels=yt)
    assert a.shape == ((np.isin(yc, [0, 1])).sum(), 2) and set(ya) == {0, 1}
    assert b.shape == ((np.isin(yt, [2, 3, 4])).sum(), 3) and set(yb) == {0, 1, 2}
    # A temperature fitted on other classes still calibrates these ones (same miscalibration).
    r = study.calibrate_and_score(a, ya, b, yb, n_boot=0)
    assert r["T"] == pytest.approx(T_TRUE, rel=0.15)
    assert r["ts"]["ece"] < 0.5 * r["none"]["ece"]


@pytest.mark.parametrize(
    "cal, test, match",
    [
        ([], [1], "empty"),
        ([0, 1], [1, 2], "overlap"),
        ([0, 9], [1], r"\[0, 4\)"),
        ([0, 0], [1], "repeated"),
        ([0], [3], "no samples"),
    ],
)
def test_label_mismatch_split_validation(cal, test, match):
    z = np.zeros((4, 4))
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=match):
        study.label_mismatch_split(z, y, cal, test)


def test_label_mismatch_split_needs_both_test_arrays():
    with pytest.raises(ValueError, match="both"):
        study.label_mismatch_split(np.zeros((3, 3)), [0, 1, 2], [0], [1], test_logits=np.zeros((3, 3)))


# --------------------------------------------------------------------------------------------
# n_calib_curve
# --------------------------------------------------------------------------------------------


def test_n_calib_curve_deterministic_and_converges(syn):
    zc, yc, zt, yt = syn
    kw = dict(n_grid=[20, 200, "all"], n_repeats=4)
    a = study.n_calib_curve(zc, yc, zt, yt, seed=5, **kw)
    b = study.n_calib_curve(zc, yc, zt, yt, seed=5, **kw)
    c = study.n_calib_curve(zc, yc, zt, yt, seed=6, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["T"][a["n_calib"] == 20], c["T"][c["n_calib"] == 20])
    assert list(a.groupby("n_calib").size()) == [4, 4, 1]  # 'all' is one deterministic draw
    full = study.calibrate_and_score(zc, yc, zt, yt, n_boot=0)["ts"]["ece"]
    assert a.loc[a["n_calib"] == len(yc), "ece"].item() == pytest.approx(full)
    s = study.summarise_n_calib_curve(a)
    assert abs(s.loc[s["n_calib"] == 200, "ece_mean"].item() - full) < 0.02
    # More samples -> a tighter spread of the fitted temperature.
    assert a.loc[a["n_calib"] == 200, "T"].std() < a.loc[a["n_calib"] == 20, "T"].std()
    assert (a["acc"] == a["acc"].iloc[0]).all()


def test_draws_do_not_depend_on_the_grid(syn):
    zc, yc, zt, yt = syn
    a = study.n_calib_curve(zc, yc, zt, yt, n_grid=[50], n_repeats=2, seed=1)
    b = study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 50], n_repeats=3, seed=1)
    np.testing.assert_array_equal(a["T"], b.loc[b["n_calib"] == 50, "T"].iloc[:2])


def test_stratified_draw_covers_every_class(syn):
    _, yc, _, _ = syn
    idx = study.draw_calibration_subset(yc, 12, seed=0, stratified=True)
    assert len(idx) == len(set(idx)) == 12
    assert set(yc[idx]) == set(range(5))
    np.testing.assert_array_equal(idx, study.draw_calibration_subset(yc, 12, seed=0, stratified=True))
    with pytest.raises(ValueError, match="per class"):
        study.draw_calibration_subset(yc, 3, stratified=True)


def test_n_calib_validation(syn):
    zc, yc, zt, yt = syn
    with pytest.raises(ValueError, match="larger than"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 10**6])
    with pytest.raises(ValueError, match="positive"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[0])
    with pytest.raises(ValueError, match="empty"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[])


def test_tiny_separable_calibration_set_is_flagged():
    z = np.array([[5.0, 0.0], [0.0, 5.0], [4.0, 1.0]])
    y = np.array([0, 1, 0])  # all correct: the NLL keeps falling as T -> 0
    r = study.calibrate_and_score(z, y, z, y, n_boot=0)
    assert r["T_at_bound"]


# --------------------------------------------------------------------------------------------
# confidence_accuracy_correlation
# --------------------------------------------------------------------------------------------


def test_correlation_identity_and_offset():
    x = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    r = study.confidence_accuracy_correlation(confidence=x, accuracy=x)
    assert r["r2"] == pytest.approx(1) and r["spearman"] == pytest.approx(1)
    assert r["mae"] == 0
    off = study.confidence_accuracy_correlation(pd.DataFrame({"conf": x + 0.05, "acc": x}))
    assert off["r2_linear"] == pytest.approx(1) and off["r2"] < 0.9  # perfectly ranked, not calibrated
    assert off["mae"] == pytest.approx(0.05)


def test_correlation_validation():
    with pytest.raises(ValueError, match="at least 3"):
        study.confidence_accuracy_correlation(confidence=[0.1, 0.2], accuracy=[0.1, 0.2])
    with pytest.raises(ValueError, match="pair up"):
        study.confidence_accuracy_correlation(confidence=[0.1, 0.2, 0.3], accuracy=[0.1, 0.2])
    with pytest.raises(ValueError, match="column"):
        study.confidence_accuracy_correlation(pd.DataFrame({"x": [1, 2, 3]}))


# --------------------------------------------------------------------------------------------
# run_grid: resumable
# --------------------------------------------------------------------------------------------


def _tasks(load_counter: dict | None = None):
    def make(seed):
        def load():
            if load_counter is not None:
                load_counter[seed] = load_counter.get(seed, 0) + 1
            zc, yc = synthetic(400, seed=seed)
            zt, yt = synthetic(300, seed=seed + 100)
            zs, ys = synthetic(300, seed=seed + 200, T=4.0)  # a "shift": more overconfident
            return {"cal": (zc, yc), "test": (zt, yt), "shifted": (zs, ys)}
        return load

    return [
        study.StudyTask("model_a", "syn", make(1), source="synthetic", family="vlm"),
        study.StudyTask("model_b", "syn", make(2), source="synthetic", family="baseline"),
    ]


GRID = dict(n_calib_grid=[10, 50], n_repeats=2, n_boot=20, progress=False)
N_CELLS = 2 * (1 + 2 * 2)  # per task: the full split + 2 sizes x 2 repeats


def test_run_grid_resume_equals_uninterrupted(tmp_path):
    full = study.run_grid(_tasks(), tmp_path / "full.jsonl", **GRID)
    # rows: per task, the full cell has 2 splits x 2 methods, each draw 2 splits x 1 method
    assert len(full) == 2 * (4 + 4 * 2)
    assert not full.duplicated(list(study.KEY_COLUMNS)).any()

    path = tmp_path / "resumed.jsonl"
    seen: list[tuple] = []

    def crash_after_3(rows):
        seen.append(study._key(rows[0]))
        if len(seen) == 3:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        study.run_grid(_tasks(), path, on_cell=crash_after_3, **GRID)
    assert len(study.read_results(path)) > 0
    counter: dict = {}
    second: list[tuple] = []
    resumed = study.run_grid(_tasks(counter), path, on_cell=lambda r: second.append(study._key(r[0])), **GRID)
    assert len(seen) + len(second) == N_CELLS  # every cell computed exactly once overall
    assert not set(seen) & set(second)
    assert not resumed.duplicated(list(study.KEY_COLUMNS)).any()
    pd.testing.assert_frame_equal(resumed, full)
    # A finished grid loads nothing and computes nothing.
    counter.clear()
    again = study.run_grid(_tasks(counter), path, on_cell=lambda r: pytest.fail("recomputed"), **GRID)
    assert counter == {}
    pd.testing.assert_frame_equal(again, full)


def test_run_grid_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "grid.jsonl"
    full = study.run_grid(_tasks(), path, **GRID)
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
        again = study.run_grid(_tasks(), path, on_cell=calls.append, **GRID)
        assert len(calls) == 1
        pd.testing.assert_frame_equal(again, full)


def test_run_grid_validation(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        study.run_grid(_tasks() * 2, tmp_path / "x.jsonl", progress=False)
    with pytest.raises(ValueError, match="larger than"):
        study.run_grid(_tasks(), tmp_path / "y.jsonl", n_calib_grid=[10**5], progress=False)
    with pytest.raises(ValueError, match="whole calibration split"):
        study.run_grid(_tasks(), tmp_path / "w.jsonl", n_calib_grid=[10, 400], progress=False)
    study.run_grid(_tasks()[:1], tmp_path / "v.jsonl", n_bins=15, n_boot=0, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        study.run_grid(_tasks()[:1], tmp_path / "v.jsonl", n_bins=10, n_boot=0, progress=False)
    bad = [study.StudyTask("m", "d", lambda: {"test": synthetic(20)})]
    with pytest.raises(ValueError, match="'cal'"):
        study.run_grid(bad, tmp_path / "z.jsonl", progress=False)


def test_grid_rows_match_direct_calls(tmp_path):
    df = study.run_grid(_tasks()[:1], tmp_path / "g.jsonl", n_boot=0, progress=False)
    data = _tasks()[0].load()
    r = study.calibrate_and_score(*data["cal"], *data["shifted"], n_boot=0)
    row = df[(df["split"] == "shifted") & (df["method"] == "ts")].iloc[0]
    assert row["ece"] == pytest.approx(r["ts"]["ece"]) and row["T"] == pytest.approx(r["T"])
    assert row["n_calib"] == 400 and row["source"] == "synthetic"


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def test_plots_draw_on_given_axes(tmp_path, syn):
    df = study.run_grid(_tasks(), tmp_path / "p.jsonl", **GRID)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3))
    assert study.plot_ece_before_after(df, ax=axes[0]) is axes[0]
    assert len(axes[0].patches) >= 4
    assert study.plot_ece_across_shifts(df, ax=axes[1]) is axes[1]
    pts = pd.DataFrame({"conf": [0.6, 0.7, 0.8, 0.9], "acc": [0.62, 0.69, 0.81, 0.88]})
    assert study.plot_confidence_vs_accuracy(pts, ax=axes[2]) is axes[2]
    assert "R²" in axes[2].get_legend().get_texts()[0].get_text()
    zc, yc, zt, yt = syn
    curve = study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 100, "all"], n_repeats=3)
    assert study.plot_n_calib_curve(curve, ax=axes[3], band="percentile") is axes[3]
    with pytest.raises(ValueError, match="band"):
        study.plot_n_calib_curve(curve, ax=axes[3], band="iqr")
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# real published logits (skipped without $VLMCAL_SHARED)
# --------------------------------------------------------------------------------------------


def test_clip_cifar10_ts_on_published_logits(shared):
    f = load_logits(shared / "data/logits/clip_vitb32_cifar10_zeroshot.npz")
    r = study.calibrate_and_score(f.logits_val, f.labels_val, f.logits_test, f.labels_test, n_boot=100)
    # Measured: ECE 6.70 % -> 1.14 %, T = 0.685 (underconfident), accuracy 88.62 % on test[5000:].
    assert r["none"]["ece"] == pytest.approx(0.067, abs=0.003)
    assert r["ts"]["ece"] == pytest.approx(0.0114, abs=0.003)
    assert 0.6 < r["T"] < 0.75
    assert r["none"]["ece_lo"] <= r["none"]["ece"] <= r["none"]["ece_hi"]
    assert r["ts"]["ece_hi"] < r["none"]["ece_lo"]  # the drop is far outside the sampling noise


def test_clip_cifar10_label_mismatched_ts(shared):
    f = load_logits(shared / "data/logits/clip_vitb32_cifar10_zeroshot.npz")
    (zc, yc), (zt, yt) = study.label_mismatch_split(
        f.logits_val, f.labels_val, range(5), range(5, 10), test_logits=f.logits_test, test_labels=f.labels_test
    )
    r = study.calibrate_and_score(zc, yc, zt, yt, n_boot=0)
    # Measured: 5-way test on classes 5-9, ECE 4.91 % -> 1.98 % with T = 0.746 fitted on classes 0-4.
    assert r["none"]["ece"] == pytest.approx(0.049, abs=0.003)
    assert r["ts"]["ece"] < 0.5 * r["none"]["ece"]
    assert r["T"] < 1


def test_cnn_baseline_is_overconfident(shared):
    f = load_logits(shared / "data/logits/markus93_densenet40_cifar10.npz")
    r = study.calibrate_and_score(f.logits_val, f.labels_val, f.logits_test, f.labels_test, n_boot=0)
    # Measured: ECE 5.50 % -> 0.95 %, T = 2.88 (README: 5.5 % -> 0.95 %).
    assert r["none"]["ece"] == pytest.approx(0.055, abs=0.002)
    assert r["ts"]["ece"] == pytest.approx(0.0095, abs=0.002)
    assert r["T"] > 2


def test_label_mismatch_rows_synthetic(syn):
    zc, yc, zt, yt = syn
    rows = pd.DataFrame(study.label_mismatch_rows("m", "syn", (zc, yc), (zt, yt)))
    assert len(rows) == 6 and set(rows["split"]) == {"classes 0-1", "classes 2-4"}
    for _, g in rows.groupby("split"):
        e = g.set_index("method")["ece"]
        assert e["ts_mismatched"] < 0.5 * e["none"] and e["ts_matched"] < 0.5 * e["none"]
        assert g["acc"].nunique() == 1


def test_published_tasks_use_common_test_images(shared):
    tasks = {t.model: t for t in study.published_tasks(shared / "data/logits")}
    assert {"CLIP ViT-B/32", "DenseNet-40"} <= set(tasks)
    clip, dense = tasks["CLIP ViT-B/32"].load(), tasks["DenseNet-40"].load()
    assert {"cal", "test", "test_french", "test_chinese", "test_swahili", "dermamnist"} <= set(clip)
    assert set(dense) == {"cal", "test"}
    np.testing.assert_array_equal(clip["test"][1], dense["test"][1])  # test[5000:] for both
    assert dense["test"][0].shape == (5000, 10) and clip["dermamnist"][0].shape[1] == 7
    pairs = study.published_pairs(shared / "data/logits")
    assert len(pairs) == 16  # 3 VLMs x 4 languages on CIFAR-10 + 4 models on DermaMNIST


def test_curve_from_results_and_samples_needed(tmp_path):
    df = study.run_grid(_tasks()[:1], tmp_path / "c.jsonl", n_calib_grid=[10, 50, 200], n_repeats=3,
                        n_boot=0, progress=False)
    curve = study.curve_from_results(df, "model_a", "syn")
    assert list(curve.groupby("n_calib").size()) == [3, 3, 3, 1]
    # With 200+ samples TS always helps; with 10 it may not (a separable draw sends T to a bound).
    assert (curve.loc[curve["n_calib"] >= 200, "ece"] < curve["ece_before"].iloc[0]).all()
    n = study.samples_needed(curve, tol=0.01)
    assert n in (10, 50, 200, 400)
    assert study.samples_needed(curve, tol=1.0) == 10  # everything is within 100 pp
    with pytest.raises(ValueError, match="no rows"):
        study.curve_from_results(df, "nope", "syn")


# --------------------------------------------------------------------------------------------
# end to end zero-shot tasks (random-weight demo models: tests the code path, not the numbers)
# --------------------------------------------------------------------------------------------


def _random_demo_loader(arch, pretrained, device):
    import open_clip
    import torch

    from vlmcal_utils.demo import create_demo_model, demo_preprocess

    torch.manual_seed(0)
    model = create_demo_model(arch).eval()
    return model, demo_preprocess(model.visual.image_size[0]), open_clip.get_tokenizer(arch)


def test_demo_study_tasks_end_to_end(tmp_path):
    tasks = study.demo_study_tasks(["vlmcal-demo-small"], n_val=24, n_test=12, device="cpu",
                                   cache_dir=tmp_path / "feat", model_loader=_random_demo_loader)
    data = tasks[0].load()
    assert set(data) == {"cal", "test", "clipart", "sketch", "painting"}
    assert data["cal"][0].shape == (24, 36) and data["sketch"][0].shape == (12, 36)
    again = tasks[0].load()  # features come from the cache: identical logits
    np.testing.assert_allclose(again["painting"][0], data["painting"][0], rtol=1e-6)
    assert len(list((tmp_path / "feat").glob("*/manifest.json"))) == 5
    df = study.run_grid(tasks, tmp_path / "demo.jsonl", n_boot=0, progress=False)
    assert set(df["split"]) == {"test", "clipart", "sketch", "painting"}


def test_dataset_spec_selection_and_validation(tmp_path):
    class Items(list):
        classnames = ["a", "b"]

    items = Items(range(100))
    a = study.DatasetSpec("x", index_range=(0, 50), shuffle=True).select(items, seed=0)
    b = study.DatasetSpec("x", index_range=(50, 100), shuffle=True).select(items, seed=0)
    assert sorted(list(a.indices) + list(b.indices)) == items  # the halves partition the set
    with pytest.raises(ValueError, match="outside"):
        study.DatasetSpec("x", index_range=(0, 200)).select(items, seed=0)
    with pytest.raises(ValueError, match="unknown study dataset"):
        study.dataset_specs("mnist")
    with pytest.raises(ValueError, match="reserved"):
        study.zeroshot_task("vlmcal-demo", None, "d", study.DatasetSpec("demo-photo"),
                            {"cal": study.DatasetSpec("demo-photo")})


def test_optional_missing_split_is_skipped(tmp_path):
    cal, _ = study.dataset_specs("demo", 12, 6)
    evals = {"test": study.DatasetSpec("demo-photo", "test", n=6),
             "imagenet-r": study.DatasetSpec("imagenet-r", "test", n=6, optional=True)}
    task = study.zeroshot_task("vlmcal-demo-small", None, "d", cal, evals, data_root=tmp_path,
                               cache_dir=tmp_path / "f", model_loader=_random_demo_loader)
    with pytest.warns(UserWarning, match="skipping split 'imagenet-r'"):
        data = task.load()
    assert set(data) == {"cal", "test"}


def test_cifar10_halves_from_shared_images(shared, tmp_path):
    from vlmcal_utils.models import save_random_weights

    # The default loader (models.load_model) with a weights file, as a user's download would be.
    weights = save_random_weights("vlmcal-demo-small", tmp_path / "random.safetensors")
    cal, evals = study.dataset_specs("cifar10-shared", n_cal=16, n_test=8)
    task = study.zeroshot_task("vlmcal-demo-small", str(weights), "CIFAR-10", cal, evals, device="cpu",
                               cache_dir=tmp_path)
    data = task.load()
    assert data["cal"][0].shape == (16, 10) and data["test"][0].shape == (8, 10)


def test_summarise_findings_and_claims(tmp_path):
    df = study.run_grid(_tasks(), tmp_path / "s.jsonl", n_calib_grid=[10, 50, 200], n_repeats=3,
                        n_boot=0, progress=False)
    lm = pd.DataFrame([r for t in _tasks() for r in study.label_mismatch_rows(t.model, t.dataset, t.load()["cal"],
                                                                             t.load()["test"])])
    s = study.summarise_findings(df, lm, reference_ece=0.05)
    assert set(s["vlm_ece_before"]) == {"model_a"} and set(s["baseline_ece_before"]) == {"model_b"}
    assert s["shift_n"] == 1 and s["samples_needed"]["model_a"] in (10, 50, 200, 400)
    claims = study.claims_table(s, "synthetic")
    assert len(claims) == 6 and claims["verdict"].str.len().gt(0).all()
    # the synthetic model is overconfident by 2.5: TS lowers its ECE; the verdict follows the rule
    after = s["vlm_ece_after"]["model_a"]
    assert after < s["vlm_ece_before"]["model_a"]
    assert claims.iloc[1]["verdict"] == ("holds" if after <= 0.05 else "does not hold here")


def test_grid_for():
    assert study.grid_for([10, 100, 1000, "all"], 1000) == [10, 100, "all"]


def test_random_weights_task_is_seeded_labelled_and_cached(tmp_path):
    # pretrained="random": seeded weights through a temporary .safetensors file (the user-file path)
    cal, evals = study.dataset_specs("demo", 12, 6)
    evals = {"test": evals["test"]}
    task = study.zeroshot_task("vlmcal-demo-small", "random", "demo", cal, evals, device="cpu",
                               cache_dir=tmp_path, seed=1)
    assert "random weights" in task.model and "plumbing only" in task.source
    first = task.load()
    again = study.zeroshot_task("vlmcal-demo-small", "random", "demo", cal, evals, device="cpu",
                                cache_dir=tmp_path, seed=1).load()
    np.testing.assert_allclose(again["test"][0], first["test"][0], rtol=1e-6)
    assert len(list(tmp_path.glob("*/manifest.json"))) == 2  # one per split: the second run hit the cache


def test_imagenet_shared_specs_are_disjoint_seeded_halves():
    cal, evals = study.dataset_specs("imagenet-shared", 100, 50)
    assert cal.name == evals["test"].name == "imagenet-shared"
    assert cal.index_range == (0, 500) and evals["test"].index_range == (500, 1000) and cal.shuffle
