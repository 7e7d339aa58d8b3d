"""The book's results page: our numbers beside the papers', generated from results files.

Command line
------------
::

    python -m vlmcal_book.report --out book/results.md              # the page (make book runs this)
    python -m vlmcal_book.report --publish results/publish-run/paper  # copy real runs to results/published/

The page reads ``results/published/<stem>/results.json`` (committed: real runs, see
``make publish-results``) and, with ``--results DIR``, other folders of ``<stem>/results.json``
files (e.g. ``results/ci``). For each chapter it shows a table of quantities with the paper's
number where one exists and was checked, ours, the difference and the bootstrap interval, then
the model, data, sample size, device, date and source of the run.

The results files are read by the keys of each chapter's schema (:mod:`vlmcal_utils.results`),
never by the labels of the tables a chapter displays.

Honesty rules the generator enforces: a paper number is printed only from
:data:`vlmcal_utils.papers.PAPER_NUMBERS` (each with the table it was copied from and where it was
checked) or from a real run's own comparison rows; a run made on the
demo world or on synthetic data is marked as such in every row and never gets a paper column;
a chapter without real results says so instead of showing anything. Every row with a paper number
states its verdict (paper inside our interval, or ours higher / lower), favourable or not, and
links to where the number is printed (:data:`SOURCE_LINKS`, ``PaperNumbers.url``); claims the book
has only as the seminar deck's rounded summaries are not quoted
(:data:`vlmcal_utils.papers.NOT_QUOTED`, the page prints why). Chapters 4 and 5 show the smooth
and the debiased ECE beside the 20-bin ECE, and the papers' tables (C-TPT's Tables 1–2, the
family's README tables) with their printed averages and the mean of their cells.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vlmcal_utils.papers import (
    CTPT_PAPER_URL,
    CTPT_TABLE_COLUMNS,
    FAMILY_TABLES,
    NOT_QUOTED,
    PAPER_NUMBERS,
    ctpt_table,
    recompute_averages,
)
from vlmcal_utils.paths import shared_dir
from vlmcal_utils.results import RESULTS_FILENAME, load_results
from vlmcal_utils.scores import ece_key
from vlmcal_utils.storage import atomic_write_text
from vlmcal_utils.views.chapter_results import SCHEMAS

PUBLISHED_DIR = Path("results/published")

#: A link per published source of a paper number: the paper, or the repository file at its pinned commit.
SOURCE_LINKS = {
    "ctpt": CTPT_PAPER_URL,
    "otpt": "https://github.com/ashshaksharifdeen/O-TPT/blob/010276a2409e4e6467dca7fea1708a2b7ff640d0/README.md",
    "atpt": "https://github.com/MB-Shihab-Aaqil-Ahamed/A-TPT/blob/23e1311faa3a0d98ab13be83ae22c184715ae902/README.md",
}


def source_link(table_key: str) -> str:
    """A Markdown link to where the numbers of a published table (a :data:`FAMILY_TABLES` key) are printed."""
    paper = table_key.split("-")[0]
    label = {"ctpt": "C-TPT, arXiv 2403.14119", "otpt": "O-TPT README @010276a",
             "atpt": "A-TPT README @23e1311"}[paper]
    return f"[{label}]({SOURCE_LINKS[paper]})"
DEMO_MARK = "**(demo world / synthetic data)**"

#: How the page names chapter 1's stages and chapter 4's methods (the files hold keys).
STAGE_TITLES = {"before_ts": "before TS", "after_ts": "after TS"}
METHOD_TITLES = {"zeroshot": "zero-shot (init)", "tpt": "+TPT", "ctpt": "+TPT+C-TPT",
                 "ts_official": "TPT+TS (fixed T)", "ts_fitted": "TPT+TS (fitted T)"}

CHAPTER_TITLES = {
    "01_calibration_basics": "Chapter 1 — calibration basics",
    "02_zero_shot_clip": "Chapter 2 — zero-shot CLIP",
    "03_empirical_study": "Chapter 3 — what matters for calibrating VLMs (Tu et al. 2024)",
    "04_ctpt": "Chapter 4 — calibrated test-time prompt tuning (C-TPT)",
    "05_after_ctpt": "Chapter 5 — after C-TPT: O-TPT and A-TPT under one protocol",
}


@dataclass
class Row:
    """One line of a results table. Numbers in percent (ECE, accuracy) unless ``unit`` says otherwise."""

    quantity: str
    ours: float | None
    paper: float | None = None
    interval: tuple[float, float] | None = None
    unit: str = "%"
    demo: bool = False
    approx: bool = False  # the paper states the number as "about" (shown as ≈)
    url: str | None = None  # where the paper number is printed

    @property
    def verdict(self) -> str:
        """Ours against the paper, stated whichever way it goes ("—" without a paper number)."""
        if self.paper is None or self.ours is None:
            return "—"
        if self.interval is not None:
            lo, hi = self.interval
            if lo <= self.paper <= hi:
                return "paper inside our interval"
            return f"differs: ours {'higher' if lo > self.paper else 'lower'} (paper outside our interval)"
        if abs(self.ours - self.paper) < 1e-9:
            return "equal"
        return f"ours {'higher' if self.ours > self.paper else 'lower'} (no interval)"


# ---------------------------------------------------------------------------------------------
# reading results files
# ---------------------------------------------------------------------------------------------
def find_results(roots: Iterable[str | os.PathLike]) -> list[tuple[str, Path]]:
    """``(label, path)`` of every ``<root>/<stem>/results.json`` (label: the root's folder name)."""
    found = []
    for root in roots:
        root = Path(root)
        for path in sorted(root.glob(f"*/{RESULTS_FILENAME}")):
            found.append((root.name, path))
    return found


def _pct(x: Any) -> float | None:
    return None if x is None else 100.0 * float(x)


def _interval(pair: Any) -> tuple[float, float] | None:
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and None not in pair:
        return (100.0 * float(pair[0]), 100.0 * float(pair[1]))
    return None


# ---------------------------------------------------------------------------------------------
# per-chapter extraction: (rows, facts) or None when the file has no real numbers
# ---------------------------------------------------------------------------------------------
def chapter1(payload: dict) -> tuple[list[Row], dict]:
    """Rows and run facts of a chapter 1 results file (keys: :data:`vlmcal_utils.views.chapter_results.CHAPTER1`)."""
    r = payload["results"]
    real = bool(r["is_real"])
    # Guo's number is for *their* DenseNet 40; it applies only when our run used real
    # DenseNet-40 CIFAR-10 logits (a reproduction of that model, so not the same weights)
    guo = PAPER_NUMBERS["guo2017_densenet40_cifar10"]
    paper = guo if real and "densenet40_cifar10" in str(r["source"]).lower() else None
    quoted = paper.values if paper else {}
    rows = [
        Row("accuracy", _pct(r["accuracy_before"]), demo=not real),
        Row("ECE before TS (15 bins)", _pct(r["ece_before"]), quoted.get("ece_before"),
            _interval(r["ece_before_ci"]), demo=not real, url=paper.url if paper else None),
        Row("ECE after TS (15 bins)", _pct(r["ece_after"]), quoted.get("ece_after"),
            _interval(r["ece_after_ci"]), demo=not real, url=paper.url if paper else None),
        Row("fitted temperature T", r["temperature"], unit="", demo=not real),
    ]
    for extra in r["extra_models"]:
        stage = STAGE_TITLES.get(extra["stage"])
        if stage:
            rows.append(Row(f"{extra['model']}: ECE {stage}", _pct(extra[ece_key(extra)]), demo=not real))
    facts = {
        "model and data": r["description"] or r["model"],
        "samples": f"{r['n_val']} calibration (val) / {r['n_test']} test",
        "paper": paper.source if paper else None,
        "note": "our DenseNet-40 is Kängsepp's re-training (markus93/NN_calibration), not Guo et al.'s "
        "network: the paper's numbers are context for the size of the effect, not a target to hit"
        if paper else None,
    }
    return rows, facts


def chapter3(payload: dict) -> tuple[list[Row], dict] | None:
    """Rows and run facts of a chapter 3 file (the published-logits study), None without one."""
    pub = payload["results"]["published"] or {}
    before, after = pub.get("vlm_ece_before") or {}, pub.get("vlm_ece_after") or {}
    if not after:
        return None
    rows = []
    for model in sorted(after):
        rows.append(Row(f"{model}: ECE before TS", _pct(before.get(model))))
        rows.append(Row(f"{model}: ECE after TS", _pct(after[model])))
    mean_after = sum(after.values()) / len(after)
    rows.append(Row(f"average VLM ECE after TS ({len(after)} models)", 100 * mean_after))
    for model, value in sorted((pub.get("baseline_ece_after") or {}).items()):
        rows.append(Row(f"baseline {model}: ECE after TS", _pct(value)))
    facts = {
        "model and data": pub.get("source"),
        "samples": "CIFAR-10 test[5000:] (5000 images) per VLM; temperature fitted on the files' val split "
        "(test[:5000])",
        "note": NOT_QUOTED["tu2024_avg_ece_after_ts"],
    }
    return rows, facts


def chapter2(payload: dict) -> tuple[list[Row], dict] | None:
    """Rows and run facts of a chapter 2 file: the published CLIP ViT-B/32 CIFAR-10 outputs, None without them."""
    res = payload["results"]
    clip = res.get("published_clip_cifar10")
    if not clip:
        return None
    rows = [Row("CLIP ViT-B/32 zero-shot accuracy (all 10 000 test images)", _pct(clip["accuracy_all"])),
            Row("ECE (15 bins), logit scale 100 as published", _pct(clip["ece_all"])),
            Row("mean confidence", _pct(clip["mean_confidence_all"])),
            Row("ECE on test[5000:] after TS fitted on test[:5000]", _pct(clip["ece_test_at_best"])),
            Row("fitted temperature T (logit scale 100 / T)", clip["temperature"], unit="")]
    for lang in res.get("published_clip_languages") or []:
        rows.append(Row(f"class names in {lang['language']}: accuracy", _pct(lang["accuracy"])))
        rows.append(Row(f"class names in {lang['language']}: ECE", _pct(lang[ece_key(lang)]),
                        interval=_interval([lang["ece_lo"], lang["ece_hi"]])))
    facts = {"model and data": clip.get("source"),
             "samples": f"{clip['n_images_all']} CIFAR-10 test images; TS fitted on the first half, scored on "
                        "the second"}
    return rows, facts


VERDICTS_BEGIN = "<!-- BEGIN verdicts (generated by vlmcal_book.report; book/conclusion.md includes it) -->"
VERDICTS_END = "<!-- END verdicts -->"


def verdicts_table(payload: dict, detailed: bool = True) -> str | None:
    """Chapter 3's verdict on each of Tu et al.'s claims (published logits), as a Markdown table, or None.

    Every verdict is shown, the unfavourable ones included, with the estimate it rests on and its
    95 % interval; ``detailed`` adds what was measured and the rule that decided it
    (:func:`vlmcal_utils.study.finding_verdicts`). The short form fits a page column (the
    conclusion page includes it).
    """
    rows = [v for v in payload["results"].get("verdicts") or [] if v.get("study") == "published"]
    if not rows:
        return None

    def number(x):
        return "—" if x is None else f"{x:.3f}"

    head = ["claim (Tu et al. 2024)", "verdict here", "estimate [95 % interval]"]
    if detailed:
        head += ["what was measured", "rule"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in rows:
        interval = "" if v.get("low") is None else f" [{number(v['low'])}, {number(v['high'])}]"
        cells = [v["claim"], f"**{v['verdict']}**", f"{number(v.get('estimate'))}{interval}: {v['quantity']}"]
        if detailed:
            cells += [v.get("measured", ""), v.get("rule", "")]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _pct(x: float | None) -> float | None:
    """A fraction of a chapter 4/5 record as the percent the results page shows beside the papers."""
    return None if x is None else 100 * x


def _datasets(payload: dict) -> str:
    """The datasets of a TPT chapter's run: its parameters where the file has them, else its table."""
    table = payload["results"]["table"]
    names = payload.get("params", {}).get("datasets") or dict.fromkeys(r["dataset"] for r in table)
    return ", ".join(names)


def chapter4(payload: dict) -> tuple[list[Row], dict] | None:
    """Rows and run facts of a chapter 4 file: ours beside C-TPT's tables, else our ECE per method."""
    r = payload["results"]
    demo = bool(r["demo"])
    rows = []
    url = None if demo else CTPT_PAPER_URL
    for item in r["paper_comparison"]:  # fractions in the file, percent on the page (as the paper)
        label = f"{item['dataset']} {item.get('init', 'hard')} {METHOD_TITLES.get(item['method'], item['method'])}"
        rows.append(Row(f"{label}: accuracy", _pct(item["accuracy"]), None if demo else _pct(item["paper_accuracy"]),
                        demo=demo, url=url))
        rows.append(Row(f"{label}: ECE (20 bins)", _pct(item["ece_20"]), None if demo else _pct(item["paper_ece_20"]),
                        demo=demo, url=url))
    for item in r["table"]:  # every measured row, with the bin-free and the debiased estimates
        label = f"{item['dataset']} {item['init']} {METHOD_TITLES.get(item['method'], item['method'])}"
        if not r["paper_comparison"]:
            rows.append(Row(f"{label}: accuracy", _pct(item.get("accuracy")), demo=demo))
            rows.append(Row(f"{label}: ECE (20 bins)", _pct(item.get("ece_20")), demo=demo))
        rows.append(Row(f"{label}: smooth ECE", _pct(item.get("smooth_ece")), demo=demo))
        rows.append(Row(f"{label}: debiased ECE (20 bins)", _pct(item.get("debiased_ece")), demo=demo))
    if not rows:
        return None
    n = next((item["n"] for item in r["table"]), payload.get("params", {}).get("n_samples"))
    facts = {
        "model and data": f"{r['model']} ({r['pretrained'] or 'shipped weights'}), datasets {_datasets(payload)}",
        "samples": f"{n} test images per dataset",
        "paper": None if demo else f"Yoon et al. 2024 (C-TPT), Tables 1–2 ({CTPT_PAPER_URL}), cells transcribed "
        "from the seminar notes' copy of the tables",
    }
    return rows, facts


def chapter5(payload: dict) -> tuple[list[Row], dict] | None:
    """Rows and run facts of a chapter 5 file: our ECE per method (the papers' side: :func:`family_table`)."""
    r = payload["results"]
    demo = bool(r["demo"])
    rows = []
    for item in r["table"]:  # fractions in the file, percent on the page
        label = f"{item['dataset']} {item['init']} {item['method']}"
        rows += [Row(f"{label}: accuracy", _pct(item.get("accuracy")), demo=demo),
                 Row(f"{label}: ECE (20 bins)", _pct(item.get("ece_20")), demo=demo),
                 Row(f"{label}: smooth ECE", _pct(item.get("smooth_ece")), demo=demo),
                 Row(f"{label}: debiased ECE (20 bins)", _pct(item.get("debiased_ece")), demo=demo)]
    if not rows:
        return None
    n = next((item["n"] for item in r["table"]), payload.get("params", {}).get("n_samples"))
    facts = {"model and data": f"{r['model']} ({r['pretrained'] or 'shipped weights'}), datasets {_datasets(payload)}",
             "samples": f"{n} test images per dataset"}
    return rows, facts


EXTRACTORS = {"01_calibration_basics": chapter1, "02_zero_shot_clip": chapter2, "03_empirical_study": chapter3,
              "04_ctpt": chapter4, "05_after_ctpt": chapter5}


def family_table(payloads: Iterable[dict] = ()) -> str:
    """The family's table: per published table and method, the printed averages, and ours where run.

    Paper numbers come from :data:`vlmcal_utils.papers.FAMILY_TABLES` (each table's source is its
    row's source); "cells give" is the mean of the printed cells (:func:`~vlmcal_utils.papers.recompute_averages`).
    Ours is the mean over that table's datasets of a real (not demo) chapter-5 run's
    ``paper_comparison`` rows, shown only when the run covers every dataset of the table.

    Parameters
    ----------
    payloads : iterable of dict
        Chapter-5 results files (``load_results``).

    Returns
    -------
    str
        A Markdown table and its sources.
    """
    ours: dict[tuple[str, str], list[dict]] = {}
    for payload in payloads:
        r = payload["results"]
        if r["demo"]:
            continue
        for item in r["paper_comparison"]:
            ours.setdefault((item["source"], item["method"]), []).append(item)
    lines = ["| table | method | metric | paper (printed avg.) | cells give | ours | source |",
             "|---|---|---|---|---|---|---|"]
    sources = {}
    for row in recompute_averages():
        t = FAMILY_TABLES[row["table"]]
        sources[row["table"]] = t.source
        mine = [x for x in ours.get((row["table"], row["method"]), []) if x["init"] == "hard"]
        key = "accuracy" if row["metric"] == "acc" else "ece_20"  # fractions in the file, percent here
        value = (100 * sum(x[key] for x in mine) / len(mine)) if {x["dataset"] for x in mine} >= set(t.columns) \
            else None
        flag = " ⚠" if row["flagged"] else ""
        lines.append(f"| {row['table']} | {row['row']} | {row['metric']} | {row['printed']:.2f}{flag} | "
                     f"{row['recomputed']:.2f} | {_fmt(value, '')} | {source_link(row['table'])} |")
    lines += ["", "⚠: the printed average does not follow from the table's own cells. Sources:", ""]
    lines += [f"- `{key}`: {source}" for key, source in sources.items()]
    return "\n".join(lines)


def ctpt_paper_table(payloads: Iterable[dict] = ()) -> str:
    """C-TPT's Tables 1–2 as printed averages, the mean of their cells, and ours where a real run covers them.

    Paper numbers come from :func:`vlmcal_utils.papers.ctpt_table` (every row of both tables).
    Ours is the mean over the table's datasets of a real (not demo) chapter-4 run's
    ``paper_comparison`` rows for the same model, initialisation and method, shown only when the
    run covers every dataset of the table.

    Parameters
    ----------
    payloads : iterable of dict
        Chapter-4 results files (``load_results``).

    Returns
    -------
    str
        A Markdown table and its source.
    """
    ours: dict[tuple[str, str, str], dict[str, dict]] = {}
    for payload in payloads:
        r = payload["results"]
        if r["demo"]:
            continue
        for item in r["paper_comparison"]:
            ours.setdefault((str(r["model"]), item.get("init", "hard"), item["method"]), {})[item["dataset"]] = item
    lines = ["| table | row | metric | paper (printed avg.) | cells give | ours | source |",
             "|---|---|---|---|---|---|---|"]
    source = ""
    for table in ("Table 1", "Table 2"):
        datasets = {d for _, d in CTPT_TABLE_COLUMNS[table] if d is not None}
        for row in ctpt_table(table):
            source = row["source"]
            mine = ours.get((row["model"], row["init"], row["method"]), {})
            key = "accuracy" if row["metric"] == "acc" else "ece_20"  # fractions in the file, percent here
            value = (100 * sum(mine[d][key] for d in datasets) / len(datasets)) if datasets <= set(mine) else None
            lines.append(f"| {table} | {row['row']} | {row['metric']} | {row['Average']:.2f} | "
                         f"{row['recomputed']:.2f} | {_fmt(value, '')} | [arXiv 2403.14119]({CTPT_PAPER_URL}) |")
    lines += ["", f"Source of every number: {source.replace('Table 2 (Natural Distribution Shifts)', 'Tables 1–2')}. "
              "ECE: 20 equal-width bins, percent.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}" + (" %" if unit == "%" else "")


def render_table(rows: list[Row]) -> str:
    """A Markdown table of ``rows``; paper and Δ columns only where some row has a paper number."""
    has_paper = any(r.paper is not None for r in rows)
    head = ["quantity", "ours", "95 % interval"]
    if has_paper:
        head[1:1] = ["paper"]
        head.insert(3, "Δ ours − paper")
        head += ["verdict", "paper source"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        name = r.quantity + (f" {DEMO_MARK}" if r.demo else "")
        interval = f"[{r.interval[0]:.2f}, {r.interval[1]:.2f}]" if r.interval else "—"
        cells = [name, _fmt(r.ours, r.unit), interval]
        if has_paper:
            delta = None if r.paper is None or r.ours is None else r.ours - r.paper
            delta_text = "—" if delta is None else f"{delta:+.2f}" + (" pp" if r.unit == "%" else "")
            cells[1:1] = [("≈ " if r.approx and r.paper is not None else "") + _fmt(r.paper, r.unit)]
            cells.insert(3, delta_text)
            cells += [r.verdict, f"[link]({r.url})" if r.url and r.paper is not None else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run_facts(label: str, path: Path, payload: dict, facts: dict) -> str:
    items = [
        ("model and data", facts.get("model and data")),
        ("samples", facts.get("samples")),
        ("paper number from", facts.get("paper")),
        ("note", facts.get("note")),
        ("device", payload.get("device") or "not recorded (CPU run)"),
        ("run", f"{payload.get('created')}, vlmcal_utils {payload.get('vlmcal_utils_version')}, "
                f"torch {payload.get('torch_version')}"),
        ("results file", f"`{label}/{path.parent.name}/{path.name}`"),
    ]
    return "\n".join(f"- **{k}**: {v}" for k, v in items if v)


def render_page(found: list[tuple[str, Path]]) -> str:
    """The whole MyST page for the results files ``found`` (see :func:`find_results`)."""
    out = [
        "(results)=",
        "# Results beside the papers",
        "",
        "This page is generated by `python -m vlmcal_book.report` from the results files of real runs "
        "(`results/published/`, refreshed with `make publish-results` on a machine with the data). Do not "
        "edit it by hand. ECE and accuracy are in percent; Δ is ours minus the paper's, in percentage "
        "points; intervals are bootstrap 95 % intervals where the chapter computed them. A paper number "
        "is shown only where the run used the same kind of model and data and the number was checked "
        "in the paper; rows produced on the demo world or on synthetic data are marked "
        f"{DEMO_MARK} and never compared with a paper.",
        "",
    ]
    by_stem: dict[str, list[tuple[str, Path, dict]]] = {}
    for label, path in found:
        payload = load_results(path, SCHEMAS)
        by_stem.setdefault(payload.get("notebook") or path.parent.name, []).append((label, path, payload))
    for stem in sorted(set(CHAPTER_TITLES) | set(by_stem)):
        out += _chapter_section(stem, by_stem.get(stem))
    return "\n".join(out).rstrip() + "\n"


def _run_section(stem: str, label: str, path: Path, payload: dict) -> list[str]:
    """One run's table, facts and (for the published study) verdicts; ``[]`` without real numbers."""
    extractor = EXTRACTORS.get(stem)
    extracted = extractor(payload) if extractor else None
    if extracted is None or not extracted[0]:
        return []
    rows, facts = extracted
    out = [f"Run from `{label}/` (not a published run):", ""] if label != "published" else []
    out += [render_table(rows), "", _run_facts(label, path, payload, facts), ""]
    verdicts = verdicts_table(payload, detailed=False) if (stem, label) == ("03_empirical_study", "published") else None
    if verdicts:
        out += ["Each claim of the paper, judged on these published outputs (chapter 3's rules):", "",
                VERDICTS_BEGIN, "", verdicts, "", VERDICTS_END, "",
                "What each verdict rests on, and the rule that decided it:", "",
                verdicts_table(payload, detailed=True), ""]
    return out


def _chapter_section(stem: str, runs: list[tuple[str, Path, dict]] | None) -> list[str]:
    """A chapter's section: each run with real numbers (or why there is none), then the papers' side."""
    out = [f"## {CHAPTER_TITLES.get(stem, stem)}", ""]
    sections = [s for label, path, payload in runs or [] if (s := _run_section(stem, label, path, payload))]
    for section in sections:
        out += section
    if not sections:
        reason = ("no results file" if runs is None else
                  "no real numbers in its results" if stem in EXTRACTORS else "no table defined for this chapter")
        out += [f"No real results for this chapter yet ({reason}), so no numbers are shown here.", ""]
    payloads = [p for _, _, p in runs or []]
    if stem == "04_ctpt":  # the paper's side, with or without a run of ours
        out += ["C-TPT's Tables 1–2 (CLIP-RN50 and CLIP-ViT-B/16, OpenAI weights; the printed averages):", "",
                ctpt_paper_table(payloads), ""]
    if stem == "05_after_ctpt":  # the papers' side of the family, with or without a run of ours
        out += ["The family's published tables (CLIP ViT-B/16, hard prompt):", "",
                family_table(payloads), ""]
    return out


# ---------------------------------------------------------------------------------------------
# publishing real runs
# ---------------------------------------------------------------------------------------------
def _is_real(payload: dict) -> bool:
    stem = payload.get("notebook")
    extractor = EXTRACTORS.get(stem)
    if extractor is None:
        return False
    extracted = extractor(payload)
    return bool(extracted and extracted[0]) and not any(row.demo for row in extracted[0])


def _portable(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """Replace machine-specific path prefixes in strings (the shared folder, the checkout)."""
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_portable(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _portable(v, replacements) for k, v in value.items()}
    return value


def publish(run_root: str | os.PathLike, dest: str | os.PathLike = PUBLISHED_DIR) -> list[Path]:
    """Copy each real ``<run_root>/<stem>/results.json`` to ``dest/<stem>/results.json``.

    Runs on the demo world or synthetic data are skipped (and reported): published results are
    real runs only. Absolute paths of the shared folder and of the checkout are rewritten to
    ``${VLMCAL_SHARED}`` and ``<repo>`` so the committed files carry no machine paths.
    """
    replacements = []
    root = shared_dir()
    if root is not None:
        replacements.append((str(root.resolve()), "${VLMCAL_SHARED}"))
    replacements.append((str(Path.cwd().resolve()), "<repo>"))
    written = []
    found = find_results([run_root])
    if not found:
        raise FileNotFoundError(f"no <stem>/{RESULTS_FILENAME} under {run_root}: run the notebooks first")
    for _, path in found:
        payload = load_results(path, SCHEMAS)
        if not _is_real(payload):
            print(f"publish: skipping {path}: not a real-data run (demo world, synthetic data or no table)")
            continue
        target = Path(dest) / path.parent.name / RESULTS_FILENAME
        atomic_write_text(target, json.dumps(_portable(payload, replacements), indent=2) + "\n")
        written.append(target)
        print(f"publish: {path} -> {target}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--publish`` real runs and/or write the page to ``--out``; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the MyST page here (e.g. book/results.md)")
    parser.add_argument("--published", type=Path, default=PUBLISHED_DIR, help="default: results/published")
    parser.add_argument("--results", type=Path, action="append", default=[],
                        help="another folder of <stem>/results.json to show (marked as not published)")
    parser.add_argument("--publish", type=Path, metavar="RUN_ROOT",
                        help="copy the real runs under RUN_ROOT into --published first")
    args = parser.parse_args(argv)
    try:
        if args.publish:
            publish(args.publish, args.published)
        if args.out:
            page = render_page(find_results([args.published, *args.results]))
            atomic_write_text(args.out, page)
            print(f"report: wrote {args.out}")
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"report: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if not (args.out or args.publish):
        parser.error("nothing to do: give --out and/or --publish")
    return 0


if __name__ == "__main__":
    sys.exit(main())
