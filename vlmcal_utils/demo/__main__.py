"""Command line of the demo world.

::

  python -m vlmcal_utils.demo train [--model NAME|all] [--steps N] [--out DIR] [--seed S]
  python -m vlmcal_utils.demo evaluate [--n-test N]     # writes weights/metrics.json
  python -m vlmcal_utils.demo card                      # writes MODEL_CARD.md
  python -m vlmcal_utils.demo compare --retrained DIR   # rerun vs shipped weights

The book's demo-world page is refreshed from a clone by ``python -m vlmcal_book.demo_page``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# vlmcal_utils.demo.model (torch, open_clip) is imported by the commands, not for --help.


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vlmcal-demo", description="The demo world's models: train, evaluate, "
                                 "write the model card, compare a retraining (python -m vlmcal_utils.demo).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train demo model(s) from scratch on the CPU")
    tr.add_argument("--model", default="vlmcal-demo", help="a demo model (vlmcal_utils.demo.DEMO_MODEL_NAMES) or 'all'")
    tr.add_argument("--steps", type=int, default=None, help="default: the shipped model's steps")
    tr.add_argument("--out", default=None, help="folder for <model>.safetensors (default: the package's weights/)")
    tr.add_argument("--seed", type=int, default=0)
    ev = sub.add_parser("evaluate", help="measure the shipped models, write weights/metrics.json")
    ev.add_argument("--n-test", type=int, default=600)
    ev.add_argument("--models", nargs="*", default=None, help="default: every demo model")
    cd = sub.add_parser("card", help="write weights/MODEL_CARD.md and the book page's metrics section")
    cd.add_argument("--book-page", default=None,
                    help="page whose marked metrics section to refresh (none by default; "
                    "python -m vlmcal_book.demo_page refreshes the book page from a clone)")
    cp = sub.add_parser("compare", help="compare retrained weights with the shipped ones; "
                        "writes weights/reproduction.json")
    cp.add_argument("--model", default="vlmcal-demo")
    cp.add_argument("--retrained", required=True, help="folder given as --out to `train`")
    return ap


def _train(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    from vlmcal_utils.demo.model import DEMO_MODEL_NAMES, WEIGHTS_DIR
    from vlmcal_utils.demo.train import DEFAULT_STEPS, TrainConfig, build_pool, train_demo_model

    args.out = args.out or str(WEIGHTS_DIR)
    names = list(DEMO_MODEL_NAMES) if args.model == "all" else [args.model]
    for n in names:
        if n not in DEMO_MODEL_NAMES:
            ap.error(f"unknown model {n!r}; use one of {DEMO_MODEL_NAMES} or 'all'")
    pool = None
    for name in names:
        cfg = TrainConfig(model=name, steps=args.steps or DEFAULT_STEPS[name], seed=args.seed)
        if pool is None:
            pool = build_pool(cfg.n_per_domain, cfg.seed)
        rec = train_demo_model(cfg, out=args.out, pool=pool)
        print(f"{name}: {cfg.steps} steps in {rec['train_seconds']} s; fixed-batch loss "
              f"{rec['loss_fixed_before']:.3f} -> {rec['loss_fixed_after']:.3f}; "
              f"wrote {Path(args.out) / (name + '.safetensors')}", flush=True)
    return 0


def _evaluate(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    from vlmcal_utils.demo.evaluate import evaluate_all, metrics_table
    from vlmcal_utils.demo.model import DEMO_MODEL_NAMES

    print(metrics_table(evaluate_all(args.models or list(DEMO_MODEL_NAMES), n_test=args.n_test)))
    return 0


def _card(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    from vlmcal_utils.demo.card import write_card

    for p in write_card(args.book_page):
        print("wrote", p)
    return 0


def _compare(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    import datetime
    import json

    import torch
    from safetensors.torch import load_file

    from vlmcal_utils.demo.model import WEIGHTS_DIR, weights_path

    shipped = load_file(str(weights_path(args.model)))
    new = load_file(str(Path(args.retrained) / f"{args.model}.safetensors"))
    if shipped.keys() != new.keys():
        raise SystemExit("the two files hold different tensors: not the same architecture")
    diff = max(float((shipped[k].float() - new[k].float()).abs().max()) for k in shipped)
    rec = {"model": args.model, "identical": all(torch.equal(shipped[k], new[k]) for k in shipped),
           "max_abs_diff": diff, "n_tensors": len(shipped),
           "command": f"python -m vlmcal_utils.demo train --model {args.model} --out DIR",
           "torch_version": torch.__version__, "date": datetime.date.today().isoformat()}
    (WEIGHTS_DIR / "reproduction.json").write_text(json.dumps(rec, indent=1))
    print(rec)
    return 0


_COMMANDS = {"train": _train, "evaluate": _evaluate, "card": _card, "compare": _compare}


def main(argv: list[str] | None = None) -> int:
    """Run one demo-world command (see the module docstring); returns the exit status."""
    ap = _parser()
    args = ap.parse_args(argv)
    return _COMMANDS[args.cmd](args, ap)


if __name__ == "__main__":
    sys.exit(main())
