"""Real published outputs of CLIP ViT-B/16 on ImageNet-A, as chapters 3 and 4 show them.

The file is ``clip_vitb16_imagenet_a_top5`` of the registry (:mod:`vlmcal_utils.data.registry`):
OpenAI's CLIP ViT-B/16 zero-shot on all 7 500 ImageNet-A images, prompt ``"a photo of a {}"``,
each image's top-5 classes and probabilities. Only top-label quantities are exact
(:mod:`vlmcal_utils.data.topk`): accuracy, ECE and reliability diagrams — no NLL, no temperature.

- Chapter 4: :func:`ctpt_zeroshot_cell` recomputes the zero-shot HardPrompt CLIP-ViT-B/16
  ImageNet-A cell of C-TPT's Table 2 (accuracy and 20-bin ECE, with bootstrap intervals over the
  images) and sets the paper's cell beside it with a verdict; :data:`KNOWN_DIFFERENCES` says how
  the published run differs from C-TPT's official code, read at the commits named there.
- Chapter 3: :func:`shift_scores` and :func:`reliability_figure` show the same file as a real
  image shift (ImageNet-A: natural adversarial ImageNet photos), top-label only; the diagram is
  drawn from its per-bin :func:`reliability_record`, which the chapter's results file keeps, so an
  offline build draws it too (:mod:`vlmcal_utils.views.committed_figures`).

Numbers in records are fractions; percent only in the display tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.data.published import Resolved, resolve_published
from vlmcal_utils.data.topk import NOT_EXACT, Top5Outputs, load_top5
from vlmcal_utils.metrics import bootstrap_ci
from vlmcal_utils.papers.ctpt import INIT_NAMES, paper_results
from vlmcal_utils.plots import reliability_diagram_from_record
from vlmcal_utils.plots import reliability_record as plots_record
from vlmcal_utils.tpt.protocol import ECE_BINS
from vlmcal_utils.views.boxes import GET_PUBLISHED_OUTPUTS, Box, said_once
from vlmcal_utils.views.chapter3_style import ReportFigure, report_style

__all__ = ["IMAGENET_A_TOP5", "KNOWN_DIFFERENCES", "load_imagenet_a", "unavailable_box", "ctpt_zeroshot_cell",
           "cell_table", "cell_box", "shift_scores", "shift_table", "reliability_record",
           "reliability_record_figure", "reliability_figure"]

IMAGENET_A_TOP5 = "clip_vitb16_imagenet_a_top5"
"""The registry name of the file."""
_PAPER_KEY = ("ViT-B-16", "imagenet-a", "hard")  # C-TPT Table 2: model, dataset, initialisation

_CTPT = "hee-suk-yoon/C-TPT@085e6c2"
_DS = "rogergheser/DS-DLProject@be0d2bd"
KNOWN_DIFFERENCES: tuple[tuple[str, str], ...] = (
    ("prompt punctuation", f"C-TPT's HardPrompt is 'a photo of a {{class}}.' with a full stop ({_CTPT} "
     "clip/custom_clip.py l.116: prompt_prefix + ' ' + name + '.'); the published run used 'a photo of a "
     f"{{class}}' without one ({_DS} augmix_test.py)"),
    ("class names", "10 of the 200 ImageNet-A class names differ: C-TPT takes TPT's imagenet_classes "
     "(data/imagnet_prompts.py) through imagenet_a_mask, the published run its own list (py_vars.num2class), "
     "e.g. 'praying mantis' / 'mantis', 'carved pumpkin' / \"jack-o'-lantern\", 'pool table' / 'billiard table', "
     "'cherimoya (custard apple)' / 'custard apple'"),
    ("precision", "the same as far as the code shows: both load OpenAI's CLIP with clip.load on a CUDA device, "
     f"which keeps its fp16 weights ({_CTPT} clip/custom_clip.py l.24, clip/clip.py l.139: float() on the CPU "
     "only), C-TPT also under torch.cuda.amp.autocast; the published probabilities are stored as float16 "
     "(rounding of at most 2^-11 of a confidence, far below the ECE gap). Different GPUs and kernels may "
     "still round fp16 differently"),
    ("preprocessing", "the same as far as the code shows: Resize(224, bicubic), CenterCrop(224) and CLIP's "
     f"normalisation ({_CTPT} tpt_classification.py l.258-264, the un-augmented view for the zero-shot row; "
     "the published run: clip.load's own preprocess)"),
    ("binning", f"the same: 20 equal-width bins (lo, hi] ({_CTPT} tpt_classification.py l.43-91, "
     "ECE_Loss(20, ...)), as vlmcal_utils.metrics"),
)
"""How the published run differs from C-TPT's official code, read at the commits named (what, detail)."""


def load_imagenet_a(download: bool | None = None) -> tuple[Top5Outputs | None, Resolved]:
    """The top-5 file: the shared copy, else the cache, else a download; ``None`` and why when none.

    Parameters
    ----------
    download : bool, optional
        As for :func:`~vlmcal_utils.data.published.resolve_published`.

    Returns
    -------
    (Top5Outputs or None, Resolved)
    """
    found = resolve_published(IMAGENET_A_TOP5, download=download)
    return (load_top5(found.path) if found.path is not None else None), found


def unavailable_box(section: str, found: Resolved) -> Box:
    """The box a section shows in place of the ImageNet-A numbers when the file is not on this machine."""
    return Box(f"{section}: the ImageNet-A outputs are not available here", [
        f"{said_once(found.reason)}.", GET_PUBLISHED_OUTPUTS.replace("data/logits", "data/vlm-outputs")], "warning")


def _interval(statistic, top5: Top5Outputs, n_boot: int, seed: int) -> tuple[float, float]:
    return bootstrap_ci(statistic, top5.confidence, top5.correct.astype(np.float64), n_boot=n_boot, seed=seed)


def _verdict(paper: float, ours: float, low: float, high: float, decimals: int) -> str:
    """``"reproduced"`` if the paper's printed value is inside our interval widened by its rounding."""
    half_unit = 0.5 * 10.0 ** (-decimals) / 100  # the paper prints percent to ``decimals`` places
    if low - half_unit <= paper <= high + half_unit:
        return "reproduced"
    return f"{'lower' if ours < paper else 'higher'} than the paper's, outside the 95 % interval"


def ctpt_zeroshot_cell(top5: Top5Outputs, n_boot: int = 1000, seed: int = 0) -> dict:
    """C-TPT's Table 2 zero-shot HardPrompt CLIP-ViT-B/16 ImageNet-A cell, recomputed, with the paper's beside it.

    Parameters
    ----------
    top5 : Top5Outputs
        The file of :data:`IMAGENET_A_TOP5`.
    n_boot : int
        Bootstrap replicates over the images (accuracy and ECE intervals, 95 %).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``table, row, column`` (the paper's cell), ``model, dataset, init, method, n``, ``accuracy``
        with ``accuracy_lo/hi``, ``ece_20`` with ``ece_lo/hi``, ``ece_15``, ``top5_accuracy``,
        ``paper_accuracy`` and ``paper_ece_20`` (the paper's percent as fractions),
        ``verdict_accuracy``, ``verdict_ece`` (``"reproduced"`` when the paper's printed value, give or
        take its rounding, lies in our interval), ``not_computed`` (what a top-5 file cannot give)
        and ``source``. All fractions.
    """
    paper = paper_results(*_PAPER_KEY)[0]  # the zero-shot (initialisation) row
    scores = top5.scores(bins=(ECE_BINS, 15), n_boot=n_boot, seed=seed, estimators=False)
    acc_lo, acc_hi = _interval(lambda c, k: float(k.mean()), top5, n_boot, seed)
    ece_lo, ece_hi = scores.ece_interval
    cell = {"table": paper.table, "row": paper.row, "column": paper.column, "model": paper.model,
            "dataset": paper.dataset, "init": paper.init, "method": paper.method, "n": scores.n,
            "accuracy": scores.accuracy, "accuracy_lo": acc_lo, "accuracy_hi": acc_hi,
            "ece_20": scores.ece[ECE_BINS], "ece_lo": ece_lo, "ece_hi": ece_hi, "ece_15": scores.ece[15],
            "top5_accuracy": float(top5.topk_correct.mean()),
            "paper_accuracy": paper.accuracy / 100, "paper_ece_20": paper.ece / 100,
            "not_computed": ", ".join(NOT_EXACT), "source": top5.describe()}
    cell["verdict_accuracy"] = _verdict(cell["paper_accuracy"], cell["accuracy"], acc_lo, acc_hi, 1)
    cell["verdict_ece"] = _verdict(cell["paper_ece_20"], cell["ece_20"], ece_lo, ece_hi, 2)
    return cell


def cell_table(cell: dict) -> pd.DataFrame:
    """The cell for display: ours (percent, 95 % interval) beside the paper's, with each verdict."""
    def pct(x: float) -> str:
        return f"{100 * x:.2f}"

    rows = [("accuracy", cell["accuracy"], cell["accuracy_lo"], cell["accuracy_hi"], cell["paper_accuracy"],
             cell["verdict_accuracy"]),
            (f"ECE ({ECE_BINS} bins)", cell["ece_20"], cell["ece_lo"], cell["ece_hi"], cell["paper_ece_20"],
             cell["verdict_ece"])]
    return pd.DataFrame([{"metric (%)": name, "published outputs": pct(v), "95 % interval": f"[{pct(lo)}, {pct(hi)}]",
                          f"C-TPT {cell['table']}": f"{100 * p:.{1 if name == 'accuracy' else 2}f}", "verdict": verdict}
                         for name, v, lo, hi, p, verdict in rows]).set_index("metric (%)")


def cell_box(cell: dict) -> Box:
    """The verdict on the cell and why the ECE may differ (:data:`KNOWN_DIFFERENCES`)."""
    same = cell["verdict_accuracy"] == "reproduced"
    title = (f"C-TPT {cell['table']}, {cell['column']}, CLIP-ViT-B/16 {INIT_NAMES[cell['init']]} zero-shot: "
             f"accuracy {cell['verdict_accuracy']}, ECE {cell['verdict_ece']}")
    lead = (f"Accuracy {100 * cell['accuracy']:.2f} % against the paper's {100 * cell['paper_accuracy']:.1f}; "
            f"ECE({ECE_BINS}) {100 * cell['ece_20']:.2f} % [{100 * cell['ece_lo']:.2f}, {100 * cell['ece_hi']:.2f}] "
            f"against {100 * cell['paper_ece_20']:.2f}, on all {cell['n']} images. "
            + ("The accuracy agrees with the paper's, so the gap is mostly in the confidences (image by image the "
               "runs cannot be compared: the paper published no outputs). " if same else
               "The accuracy differs from the paper's too. ")
            + "What is known of the two runs:")
    return Box(title, [lead, *(f"{what}: {detail}." for what, detail in KNOWN_DIFFERENCES),
                       "Not computed from this file: " + cell["not_computed"] + " (it holds each image's top-5 "
                       "classes only)."], kind="tip" if cell["verdict_ece"] == "reproduced" else "warning")


def shift_scores(top5: Top5Outputs, n_bins: int = 15, n_boot: int = 1000, seed: int = 0) -> dict:
    """Chapter 3's shift example: the exact top-label scores (fractions) and the source.

    Returns
    -------
    dict
        ``model, dataset`` and the keys of :meth:`~vlmcal_utils.scores.Scores.as_row` (``nll``,
        ``brier`` NaN: not computable from top-5 outputs), plus ``top5_accuracy`` and ``source``.
    """
    row = top5.scores(bins=n_bins, n_boot=n_boot, seed=seed, estimators=False).as_row()
    return {"model": "CLIP ViT-B/16", "dataset": "ImageNet-A", **row,
            "top5_accuracy": float(top5.topk_correct.mean()), "source": top5.describe()}


def shift_table(row: dict) -> pd.DataFrame:
    """:func:`shift_scores` for display (percent): what a top-5 file gives exactly, nothing it cannot."""
    n_bins = next(int(k[4:]) for k in row if k.startswith("ece_") and k[4:].isdigit())
    pct = {"accuracy": row["accuracy"], "top-5 accuracy": row["top5_accuracy"],
           "mean confidence": row["mean_confidence"], f"ECE ({n_bins} bins)": row[f"ece_{n_bins}"],
           "ECE 95 % interval": f"[{100 * row['ece_lo']:.2f}, {100 * row['ece_hi']:.2f}]", "MCE": row["mce"]}
    shown = {k: (f"{100 * v:.2f}" if isinstance(v, float) else v) for k, v in pct.items()}
    return pd.DataFrame([{"model": row["model"], "dataset": row["dataset"], "images": row["n"], **shown}]).set_index(
        ["model", "dataset"])


def reliability_record(top5: Top5Outputs, n_bins: int = 15) -> dict:
    """What :func:`reliability_figure` draws, as a small record (per-bin numbers, no per-image outputs).

    Returns
    -------
    dict
        :func:`vlmcal_utils.plots.reliability_record` of the top-label confidences and correctness,
        with ``title``.
    """
    return {**plots_record(top5.confidence, top5.correct, n_bins=n_bins),
            "title": f"CLIP ViT-B/16 zero-shot, ImageNet-A ({top5.n} images)"}


def reliability_record_figure(record: dict) -> Figure:
    """The ImageNet-A reliability diagram drawn from its :func:`reliability_record`."""
    with report_style():  # tall enough for the count strip and the legend below it (5.6 in cut the legend off)
        fig = ReportFigure(figsize=(5.8, 6.6), layout="constrained")
        reliability_diagram_from_record(record, ax=fig.subplots(), title=record["title"])
    return fig


def reliability_figure(top5: Top5Outputs, n_bins: int = 15) -> Figure:
    """Top-label reliability diagram of the ImageNet-A outputs (exact from a top-5 file)."""
    return reliability_record_figure(reliability_record(top5, n_bins))
