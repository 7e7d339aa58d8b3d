"""The command line: ``python -m vlmcal_utils.sweep PARAMS --paper ctpt|tu [--dry-run] ...``.

``python -m vlmcal_utils.sweep summarize DIR`` writes the summary table (:mod:`~vlmcal_utils.sweep.summary`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # the report's type only: Ray is imported when a sweep runs
    from vlmcal_utils.sweep.ray_runner import SweepReport

__all__ = ["main"]

_DESCRIPTION = "Paper-scale runs on many GPUs: a paper's grid as disjoint image shards, run as Ray tasks, resumable."
# The parser is built before anything heavy is imported (the plan imports torch through the
# datasets, the runner Ray), so --help answers at once: the choices below are plan.PAPERS and
# plan.SWEPT_METHODS, which tests/sweep keeps equal.
_PAPER_CHOICES = ("ctpt", "tu")
_METHODS_HELP = "zeroshot,tpt,ctpt,tpt+ts"


def _parse_model(text: str, section: Mapping[str, Any]) -> tuple[str, str | None]:
    from vlmcal_utils.sweep.plan import NOTEBOOK_DEFAULTS

    if text == "section":
        return section.get("model", NOTEBOOK_DEFAULTS["model"]), section.get("pretrained")
    arch, _, tag = text.partition(":")
    return arch, (tag if tag and tag.lower() != "none" else None)


def summarize_main(argv: Sequence[str]) -> int:
    """CLI: ``python -m vlmcal_utils.sweep summarize DIR [--bins 20 15] [--n-boot N]``."""
    from vlmcal_utils.sweep.summary import N_BOOT, summarize, write_summary

    parser = argparse.ArgumentParser(prog="python -m vlmcal_utils.sweep summarize",
                                     description="One tidy table of a sweep's merged runs (fractions): "
                                                 "summary.csv and, with pyarrow, summary.parquet in DIR.")
    parser.add_argument("dir", type=Path, help="the sweep's --output folder")
    parser.add_argument("--bins", type=int, nargs="+", default=[20, 15], help="ECE bin counts (20: C-TPT's, primary)")
    parser.add_argument("--n-boot", type=int, default=N_BOOT, help=f"bootstrap replicates (default {N_BOOT})")
    args = parser.parse_args(argv)
    try:
        table = summarize(args.dir, bins=args.bins, n_boot=args.n_boot)
    except (OSError, ValueError) as err:  # expected: no merged runs there, a damaged file
        print(f"sweep summarize: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
        return 1
    for path in write_summary(table, args.dir):
        print(f"wrote {path}")
    for (model, pretrained, subset, what), part in table.groupby(["model", "pretrained", "subset", "provenance"],
                                                                 dropna=False):
        print(f"{model} {pretrained if isinstance(pretrained, str) else None} {subset}: {len(part)} rows ({what})")
    return 0


def _print_report(report: SweepReport, output: Path) -> int:
    """The sweep's closing lines; the exit status (1: shards failed)."""
    print(f"{report.workers} {'GPU' if report.use_gpu else 'CPU'} workers; Ray up in {report.startup_seconds:.1f} s; "
          f"{report.computed} rows computed in {report.seconds:.1f} s; {report.skipped} shards had every row already")
    for name, rep in report.merged.items():
        print(f"merged {name}: {rep.rows} rows" + (f", {len(rep.missing)} missing" if rep.missing else ""))
    for name, why in report.failed.items():
        print(f"FAILED {name}: {why}")
    if report.errors:
        print(f"{len(report.errors)} shards raised an error (above): rerunning alone meets it again; fix its cause "
              "(a missing dataset, rows of other settings in --output: use another --output) and rerun")
    if set(report.failed) - set(report.errors):
        print("shards whose workers died: rerun the same command; finished rows are kept and only the missing "
              "ones are computed (give workers more memory if they keep dying)")
    if not report.failed:
        print(f"summary table: python -m vlmcal_utils.sweep summarize {output}")
    return 1 if report.failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmcal-sweep", description=_DESCRIPTION + " (python -m vlmcal_utils.sweep)")
    parser.add_argument("params", type=Path, help="a params file, e.g. params/paper.yaml")
    parser.add_argument("--paper", choices=_PAPER_CHOICES, default="ctpt")
    parser.add_argument("--dry-run", action="store_true", help="print the cells, images, GPU-hours and shards")
    parser.add_argument("--address", default=None, help="'auto': join the running Ray cluster (default: local)")
    parser.add_argument("--shard-size", type=int, default=500, help="images per shard (default 500)")
    parser.add_argument("--output", type=Path, default=Path("results/sweep"), help="default results/sweep")
    parser.add_argument("--model", action="append", default=None, metavar="ARCH[:PRETRAINED]",
                        help="instead of the grid's models (repeatable); 'section': the section's model")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {_METHODS_HELP}")
    parser.add_argument("--workers", type=int, default=None, help="default: one per GPU, else per CPU")
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    parser.add_argument("--max-retries", type=int, default=2, help="per shard whose worker died")
    parser.add_argument("--merge-only", action="store_true", help="merge the shard files there, run nothing")
    parser.add_argument("--costs", type=Path, default=Path("benchmarks/results"), help="measured cost figures")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the pre-flight check of datasets, weights and GPU (paper_sets --check)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m vlmcal_utils.sweep PARAMS --paper ctpt|tu [--dry-run] [--address auto] ...``.

    ``python -m vlmcal_utils.sweep summarize DIR`` writes the summary table (``summarize_main``).

    Parameters
    ----------
    argv : sequence of str
        Optional.

    Returns
    -------
    int
        Exit status: 0; 1 when shards failed (rerun the same command to resume them), when the
        pre-flight finds something missing, or for an expected error (one line saying what to do).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["summarize"]:
        return summarize_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.paper != "ctpt" and not args.dry_run:
        parser.error(f"--paper {args.paper}: only --dry-run so far (the sweep runs C-TPT's grid)")
    try:
        return _main(args)
    except (OSError, ValueError, RuntimeError, ImportError) as err:  # expected: missing data, Ray, a bad file
        print(f"sweep: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    from vlmcal_utils.paper_sets import PAPER_GRIDS, cost_note, load_cost_figures, read_set
    from vlmcal_utils.sweep.plan import PAPERS, format_plan, notebook_values, paper_cells, plan_runs

    sets = read_set(args.params)
    section = sets.get(PAPER_GRIDS[PAPERS[args.paper]].stem) or {}
    models = [_parse_model(m, section) for m in args.model] if args.model else None
    methods = args.methods.split(",") if args.methods else None
    if args.dry_run:
        cells = paper_cells(sets, args.paper, models, load_cost_figures(args.costs))
        if methods:
            cells = tuple(c for c in cells if c.method in methods)
        print(format_plan(cells, args.shard_size))
        note = cost_note(cells, args.costs)
        if note:
            print(note)
        if args.paper != "ctpt":
            print("\nnot swept yet: run this grid with the notebook runner (paper_sets --dry-run prints the commands)")
        return 0
    # before the plan: planning opens every dataset's file list, and the check lists all that are missing
    if not (args.merge_only or args.no_check) and not _preflight(sets, section, models, args.address):
        return 1
    runs = plan_runs(sets, args.output, paper=args.paper, models=models, methods=methods, shard_size=args.shard_size)
    if args.merge_only:
        from vlmcal_utils.sweep.shards import clean_run, merge_shards, run_files

        for run in runs:
            rep = merge_shards(run_files(run), run.merged, run.n_images, identity=run.identity)
            if not rep.missing:
                clean_run(run)
            print(f"{run.name}: {rep.rows} rows, {len(rep.missing)} missing")
        return 0
    return _run(runs, notebook_values(section), args)


def _preflight(sets: Mapping[str, Any], section: Mapping[str, Any], models, address: str | None) -> bool:
    """The pre-flight of the swept section (chapter 4's values, each model): print what is missing; True when ready.

    On a cluster (``address``) the GPUs are the workers', not this machine's: the GPU is not checked here.
    """
    from vlmcal_utils import preflight
    from vlmcal_utils.paper_sets import TEST_SIZES
    from vlmcal_utils.sweep.plan import notebook_values

    values = notebook_values(section)
    if address:
        values["device"] = "auto"
    needs = [n for arch, tag in models or [(values["model"], values["pretrained"])]
             for n in preflight.run_needs("04_ctpt", {**values, "model": arch, "pretrained": tag})]
    checked = preflight.check(preflight.merge_needs(needs))
    stop = preflight.blocking(checked, sets.get("requires_real") or False)
    if stop:
        print(f"sweep: pre-flight: {len(stop)} thing(s) missing, nothing was started "
              f"(--no-check skips this):\n{preflight.format_needs(stop, TEST_SIZES)}", file=sys.stderr)
    return not stop


def _run(runs, values: Mapping[str, Any], args: argparse.Namespace) -> int:
    from vlmcal_utils.progress import progress_enabled
    from vlmcal_utils.sweep.ray_runner import run_sweep

    n = sum(len(r.shards) for r in runs)
    print(f"{len(runs)} runs, {n} shards, {sum(r.n_images for r in runs)} images -> {args.output}")
    # one overall bar on stderr in a terminal; without it (a log file, a test), one line per shard
    log = None if sys.stderr.isatty() and progress_enabled() else print
    report = run_sweep(runs, values, address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                       max_retries=args.max_retries, log=log)
    return _print_report(report, args.output)
