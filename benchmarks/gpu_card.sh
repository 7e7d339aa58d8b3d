#!/usr/bin/env bash
# The GPU cost card, at most 8 minutes on an H200 (C-TPT on ViT-B/16 and RN50, random weights, 64 views,
# K = 10, 100, 1000; straightforward, library default, batched B = 8, 16, 32; views in line and in 4 and 8
# workers; feature extraction; run_tpt end to end at K = 1000 with AugMix).
#
#   bash benchmarks/gpu_card.sh            # from the repository root or anywhere
#
# Writes benchmarks/results/<gpu slug>.json (the card) and <gpu slug>-cost-figures.json (seconds per image
# that python -m vlmcal_utils.paper_sets turns into GPU-hours), then prints each target met/missed with
# its numbers. Exit status: 0 all targets met, 1 one missed, 2 no CUDA device / the card failed.
# Afterwards: python -m vlmcal_book.costs_page (the book page), commit benchmarks/results/.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_card: no CUDA device visible to $PY" >&2
    exit 2
fi
# measurements not started within 390 s are recorded as skipped; the hard stop leaves time to write the card
timeout 470 "$PY" benchmarks/cost_card.py --device cuda --budget-s 390 --figures \
    --note "benchmarks/gpu_card.sh: the full GPU configuration" || [ $? -eq 1 ] || { echo "gpu_card: cost_card.py failed" >&2; exit 2; }
slug=$("$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); import cost_card; print(cost_card.device_info('cuda')['slug'])")
echo "== targets (benchmarks/results/$slug.json) =="
"$PY" benchmarks/cost_card.py --check "benchmarks/results/$slug.json"
