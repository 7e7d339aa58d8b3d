"""Chapter 5's views (after C-TPT: C-TPT, O-TPT, A-TPT under one protocol): runs, tables, figures, verdicts.

Records are the scoring record's (:func:`vlmcal_utils.tpt.summarise`, fractions); percent and the
chapter's column labels exist only in :func:`display_table`. The published tables' cells stay as
the papers print them (percent).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from vlmcal_utils import papers, tpt
from vlmcal_utils.views.chapter4 import N_BOOT, Clip, run_one

__all__ = ["TUNED", "hparams_table", "one_step_moves", "plot_moves", "geometry_table", "run_family",
           "display_table", "verdict_lines", "flagged_lines", "paper_comparison", "comparison_text"]

#: The regularised methods (and TPT) whose one step :func:`one_step_moves` shows.
TUNED = ("tpt", "ctpt", "otpt", "atpt")

#: How much longer than the move the arrows of :func:`plot_moves` are drawn.
ARROW_SCALE = 20


def hparams_table() -> list[dict]:
    """The methods' official λ/τ per dataset family, with their sources (:data:`vlmcal_utils.tpt.FAMILY_HPARAMS`)."""
    return [{"method": m, "family": fam, **values, "source": tpt.FAMILY_SOURCES[m, fam]}
            for m, by_family in tpt.FAMILY_HPARAMS.items() for fam, values in by_family.items()]


def _check_methods(methods: Sequence[str]) -> None:
    unknown = set(methods) - set(tpt.FAMILY_METHODS)
    if unknown:
        raise ValueError(f"methods must come from {tpt.FAMILY_METHODS}, got {sorted(unknown)}")


def one_step_moves(clip: Clip, name: str, ds: Any, methods: Sequence[str], **protocol: Any) -> dict[str, torch.Tensor]:
    """The class features of image 0 before (``"initial"``) and after one step of each tuned method.

    Parameters
    ----------
    clip : Clip
    name : str
        The dataset's name (its λ and AugMix).
    ds : dataset
        Raw ``(image, label)`` items with ``classnames``.
    methods : sequence of str
        The chapter's methods; those of :data:`TUNED` among them are stepped.
    **protocol
        The chapter's parameters of :data:`vlmcal_utils.tpt.PARAMETER_KEYS`.

    Returns
    -------
    dict
        ``"initial"`` and each method -> ``(K, E)`` float32 class features (CPU).
    """
    _check_methods(methods)
    learner = tpt.make_learner(clip.model, clip.tokenizer, ds.classnames, tpt.HARD_PROMPT)
    base = tpt.RunSettings.from_params(protocol, name, "hard", "tpt")
    views = tpt.make_views(ds[0][0], tpt.preprocess_config(clip.model), n_views=base.n_views,
                           augmix=base.use_augmix, seed=base.seed, index=0)

    def features(ctx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tpt.text_features(clip.model, learner, ctx.to(clip.device)).float().cpu()

    moved = {"initial": features(learner.ctx_init_state)}
    for m in (m for m in TUNED if m in methods):
        step = tpt.RunSettings.from_params(protocol, name, "hard", m).tuning
        moved[m] = features(tpt.tpt_predict(clip.model, learner, views, m, step)["ctx"])
    return moved


def plot_moves(moves: Mapping[str, torch.Tensor], name: str, demo: bool = False) -> plt.Figure:
    """Each method's move of the class features, in the plane of the initial ones' first two principal axes."""
    before = moves["initial"]
    _, _, axes_pc = torch.linalg.svd(before - before.mean(0), full_matrices=False)

    def project(f: torch.Tensor) -> np.ndarray:
        return ((f - before.mean(0)) @ axes_pc[:2].T).numpy()

    tuned = {m: f for m, f in moves.items() if m != "initial"}
    fig, axs = plt.subplots(1, len(tuned), figsize=(3.4 * len(tuned), 3.3), squeeze=False)
    p0 = project(before)
    for ax, (m, after) in zip(axs[0], tuned.items(), strict=True):
        d = ARROW_SCALE * (project(after) - p0)
        ax.scatter(p0[:, 0], p0[:, 1], s=14, c="grey", label="initial")
        ax.quiver(p0[:, 0], p0[:, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1, width=0.006,
                  color="C3")
        ends = np.vstack([p0, p0 + d])  # the quiver is not part of autoscaling
        pad = 0.05 * np.ptp(ends, axis=0)
        ax.set(title=m, xticks=[], yticks=[], xlim=(ends[:, 0].min() - pad[0], ends[:, 0].max() + pad[0]),
               ylim=(ends[:, 1].min() - pad[1], ends[:, 1].max() + pad[1]))
    axs[0, 0].legend(fontsize=9, loc="best", framealpha=0.9)
    fig.suptitle(f"{'DEMO: ' if demo else ''}class features of {name}, PCA of the initial ones", fontsize=10)
    fig.tight_layout()
    return fig


def geometry_table(moves: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """ATFD, the orthogonality penalty and the minimum angle (degrees) of each row of :func:`one_step_moves`."""
    def geometry(f: torch.Tensor) -> dict[str, float]:
        return {"ATFD": float(tpt.atfd(f, normalize=False)), "orthogonality": float(tpt.orthogonality(f)),
                "min angle (deg)": float(np.degrees(float(tpt.min_angle(f, tau=1.0))))}

    return pd.DataFrame({m: geometry(f) for m, f in moves.items()}).T


def run_family(clip: Clip, sets: Mapping[str, Any], inits: Sequence[str], methods: Sequence[str],
               results_dir: str, *, ece_bins: Sequence[int] = (20,), batch: int = 8, log: Any = print,
               **protocol: Any) -> pd.DataFrame:
    """Every method on every set and initialisation (resumable), scored: one record per run (fractions).

    Parameters
    ----------
    clip : Clip
    sets : mapping
        ``name ->`` raw test set (:func:`vlmcal_utils.views.chapter4.test_sets`).
    inits, methods : sequence of str
    results_dir : str
        Run files under ``results_dir/runs``.
    ece_bins : sequence of int
        ECE bin counts (the first is the primary one: MCE, debiased ECE).
    batch : int
        Images tuned together.
    log : callable
        Gets one line per run; ``None``: silent.
    **protocol
        The chapter's parameters of :data:`vlmcal_utils.tpt.PARAMETER_KEYS`.

    Returns
    -------
    DataFrame
        Indexed by ``dataset, init, method``: :func:`vlmcal_utils.tpt.summarise` and the method's
        official ``lam`` (``tau``).
    """
    _check_methods(methods)
    table = []
    for name, ds in sets.items():
        for init in inits:
            for method in methods:
                t0 = time.perf_counter()
                rows = run_one(clip, name, ds, method, init, results_dir, protocol, batch=batch, progress=False)
                table.append({"dataset": name, "init": init, "method": method,
                              **tpt.summarise(rows, ece_bins, n_boot=N_BOOT), **tpt.family_hparams(method, name)})
                if log is not None:
                    log(f"{name:12s} {init:8s} {method:9s} {len(ds)} images in {time.perf_counter() - t0:6.1f} s")
    return pd.DataFrame(table).set_index(["dataset", "init", "method"])


def display_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The family's table as the chapter shows it: accuracy and ECEs in percent, angles in degrees."""
    bins = [int(c[4:]) for c in table.columns if c.startswith("ece_") and c[4:].isdigit()]
    cols = {"acc": 100 * table["accuracy"], **{f"ece{b}": 100 * table[f"ece_{b}"] for b in bins},
            "smece": 100 * table["smooth_ece"], f"dece{bins[0]}": 100 * table["debiased_ece"],
            "mean conf": 100 * table["mean_confidence"], "atfd": table["atfd"],
            "orthogonality": table["orthogonality"], "min_angle": np.degrees(table["min_angle"]),
            "seconds": table["seconds"]}
    cols.update({k: table[k] for k in ("lam", "tau") if k in table})
    return pd.DataFrame(cols, index=table.index).round(digits)


def verdict_lines(table: pd.DataFrame, demo: bool = False) -> str:
    """Per dataset and init: where each regularised method's primary-bin ECE ended against TPT's and C-TPT's."""
    key = next(c for c in table.columns if c.startswith("ece_") and c[4:].isdigit())
    lines = []
    for (name, init), grp in table.groupby(level=["dataset", "init"]):
        e = 100 * grp.droplevel([0, 1])[key]
        if "tpt" not in e:
            continue
        verdicts = [f"{m} {e[m]:.1f} ({'below' if e[m] < e['tpt'] else 'not below'} TPT's {e['tpt']:.1f}"
                    + (f", {'below' if e[m] < e['ctpt'] else 'not below'} C-TPT's)" if "ctpt" in e and m != "ctpt"
                       else ")")
                    for m in ("ctpt", "otpt", "atpt") if m in e]
        lines.append(f"{'DEMO ' if demo else ''}{name}/{init}, ECE({key[4:]} bins, %): " + "; ".join(verdicts))
    return "\n".join(lines)


def flagged_lines(averages: pd.DataFrame) -> str:
    """The printed averages that differ from the mean of their cells beyond rounding, one line each."""
    flagged = averages[averages.flagged]
    head = (f"{len(flagged)} of {len(averages)} printed averages differ from the mean of their cells by more than "
            f"{papers.AVERAGE_TOLERANCE} points:")
    return "\n".join([head] + [f"  {r.source}: row {r.row!r}, {r.metric}: printed {r.printed}, cells give "
                               f"{r.recomputed:.2f}" for r in flagged.itertuples()])


def paper_comparison(table: pd.DataFrame, clip: Clip) -> list[dict]:
    """Ours beside the published numbers (fractions), for CLIP ViT-B/16 with OpenAI weights, hard prompt; else ``[]``.

    Returns
    -------
    list of dict
        ``dataset, init, method, paper_accuracy, accuracy, paper_ece_20, ece_20, source``.
    """
    if clip.is_demo or clip.arch != "ViT-B-16" or str(clip.pretrained).lower() != "openai":
        return []
    rows = []
    for key in ("ctpt-table1-vitb16-hard", "ctpt-table2-vitb16-hard", "otpt-readme-vitb16"):
        t = papers.FAMILY_TABLES[key]
        for (name, init, method), ours in table.iterrows():
            if init != "hard" or name not in t.columns or (method, "acc") not in t.rows:
                continue
            j = t.columns.index(name)
            rows.append({"dataset": name, "init": "hard", "method": method,
                         "paper_accuracy": t.rows[method, "acc"][0][j] / 100, "accuracy": float(ours["accuracy"]),
                         "paper_ece_20": t.rows[method, "ece"][0][j] / 100,
                         "ece_20": float(ours.get("ece_20", np.nan)), "source": key})
    return rows


def comparison_text(rows: Sequence[Mapping[str, Any]], clip: Clip) -> Any:
    """The comparison in percent, or the sentence saying why there is none."""
    if not rows:
        return f"No comparison with the papers: they report CLIP ViT-B/16 (OpenAI weights); this run used {clip.arch}."
    frame = pd.DataFrame(rows)
    for key in ("paper_accuracy", "accuracy", "paper_ece_20", "ece_20"):
        frame[key] = 100 * frame[key]
    return frame.rename(columns={"paper_accuracy": "paper acc", "accuracy": "ours acc",
                                 "paper_ece_20": "paper ECE(20)", "ece_20": "ours ECE(20)"})

