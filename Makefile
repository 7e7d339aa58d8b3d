# vlmcal — the two commands of the README:
#   make book   set up .venv, run every notebook once (SET=book) and build the book from those
#               executed notebooks into _build/html (nothing is executed twice)
#   make test   set up .venv and run every check (what CI runs)
# and a few more:
#   make reproduce SET=paper   run every notebook with params/paper.yaml (results/paper/<stem>/)
#   make sync                  regenerate each notebooks/*.ipynb (Colab twin) from its .md
#   make book-run              only the notebook runs behind the book (results/book/<stem>/)
#   make clean                 remove build outputs and CI results
#   make publish-results       rerun the real-data chapters (SET=published) into results/published/
#   make browser-check         open the built book in headless Chromium (images, math, Colab links)
#   make lint                  ruff, the import-layering contracts (lint-imports) and the metrics doctests
# Book and CI tooling lives in vlmcal_book/ (used from this clone, not part of the vlmcal_utils wheel).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vlmcal-installed
SET ?= ci
NOTEBOOKS := $(sort $(wildcard notebooks/*.md))
# The book shows each notebook run once with params/book.yaml (the notebooks' defaults): that run
# is also what tests/book/test_notebooks.py checks. vlmcal_book/stage.py then stages the executed
# notebooks as the book's pages (execution off), so jupyter-book never runs a notebook again.
BOOK_SET := book
STAGE_DIR := _build/stage
# Extra runs, only where they check something the book run does not: a random-weight real
# open_clip/timm architecture on a few shared real images (the real-model code path, offline; the
# numbers mean nothing) -- chapter 2 with params/ci.yaml, chapters 3 and 4 with ci-plumbing.yaml.
CI_NOTEBOOKS := notebooks/02_zero_shot_clip.md
PLUMBING_NOTEBOOKS := notebooks/03_empirical_study.md notebooks/04_ctpt.md
# MathJax 3 for offline math: fetched once from npm into an ignored cache, served from the book.
MATHJAX_VERSION ?= 3
MATHJAX_NPM := .cache/npm
MATHJAX_OUT := .cache/html-extra/mathjax
JB_FLAGS := -W -n --keep-going
# jupyter_book has no __main__ module, so `python -m jupyter_book` fails: use the venv's script.
JB := $(VENV)/bin/jupyter-book

# The real-data folder (read-only, optional): passed through to pytest, the runner and the book.
export VLMCAL_SHARED

.PHONY: setup mathjax book book-run test pytest lint sync-check reproduce sync clean results-page publish-results \
	browser-deps browser-check
# the chapters whose results.json can come from real data (published logits) and are published
PUBLISH_NOTEBOOKS := $(wildcard notebooks/01_*.md notebooks/02_*.md notebooks/03_*.md)
PUBLISH_SET ?= published
# Debian packages for the browser check; CI runs as root, elsewhere sudo is used if there is one
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
CHROMEDRIVER := /usr/bin/chromedriver

setup: $(STAMP)

# Remade when missing (a clean clone) or when the dependency files change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[book,dev,sweep]"
	touch $@

mathjax: $(MATHJAX_OUT)/tex-mml-chtml.js

$(MATHJAX_OUT)/tex-mml-chtml.js:
	mkdir -p $(MATHJAX_NPM) $(dir $(MATHJAX_OUT))
	npm install --no-save --no-audit --no-fund --prefix $(MATHJAX_NPM) mathjax@$(MATHJAX_VERSION)
	rm -rf $(MATHJAX_OUT)
	cp -r $(MATHJAX_NPM)/node_modules/mathjax/es5 $(MATHJAX_OUT)

# book/results.md is generated from results/published/ (see vlmcal_book/report.py)
results-page: setup
	$(PY) -m vlmcal_book.report --out book/results.md

# every notebook once, with the book's parameters (results/book/<stem>/<stem>.ipynb)
book-run: setup
	rm -rf results/$(BOOK_SET)
	@failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_book.reproduce $$nb --set $(BOOK_SET) || failed="$$failed $$nb"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi

book: setup mathjax results-page book-run
	$(PY) -m vlmcal_book.stage --set $(BOOK_SET) --out $(STAGE_DIR)
	$(JB) build $(STAGE_DIR) --path-output . $(JB_FLAGS)
	@echo "book: open _build/html/index.html"

pytest: setup
	$(PY) -m pytest

# The sources checked by ruff; lint-imports reads its contracts from pyproject.toml.
LINT_PATHS := vlmcal_utils vlmcal_book tests benchmarks

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -q --doctest-modules vlmcal_utils/metrics.py vlmcal_utils/brier.py vlmcal_utils/selective.py vlmcal_utils/scores.py vlmcal_utils/tpt/runner.py vlmcal_utils/tpt/settings.py

sync-check: setup
	$(PY) -m vlmcal_book.nbsync --check
	$(PY) -m vlmcal_book.demo_page --check
	$(PY) -m vlmcal_book.costs_page --check

# Order matters: the notebook-results tests read what the runner just wrote, and
# VLMCAL_REQUIRE_RESULTS=1 turns their "no results yet" skip into a failure.
test: setup mathjax browser-deps
	@t0=$$SECONDS; \
	echo "== [1/7] lint: ruff, import layers (lint-imports), metrics doctests"; \
	$(VENV)/bin/ruff check $(LINT_PATHS); \
	$(VENV)/bin/lint-imports --no-logo; \
	$(PY) -m pytest -q --doctest-modules vlmcal_utils/metrics.py vlmcal_utils/brier.py vlmcal_utils/selective.py vlmcal_utils/scores.py vlmcal_utils/tpt/runner.py vlmcal_utils/tpt/settings.py; \
	t1=$$SECONDS; echo "== [2/7] unit tests"; \
	$(PY) -m pytest --ignore=tests/book/test_notebooks.py --ignore=tests/book/test_browser.py; \
	t2=$$SECONDS; echo "== [3/7] notebook pairs (.md <-> .ipynb) and the generated demo page"; \
	$(PY) -m vlmcal_book.nbsync --check; \
	$(PY) -m vlmcal_book.demo_page --check; \
	$(PY) -m vlmcal_book.costs_page --check; \
	t3=$$SECONDS; echo "== [4/7] every notebook once through the runner, SET=$(BOOK_SET) (+ real-architecture plumbing)"; \
	rm -rf results/$(BOOK_SET) results/ci results/ci-plumbing; \
	failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_book.reproduce $$nb --set $(BOOK_SET) || failed="$$failed $$nb"; done; \
	for nb in $(CI_NOTEBOOKS); do $(PY) -m vlmcal_book.reproduce $$nb --set ci || failed="$$failed $$nb(ci)"; done; \
	for nb in $(PLUMBING_NOTEBOOKS); do $(PY) -m vlmcal_book.reproduce $$nb --set ci-plumbing || failed="$$failed $$nb(ci-plumbing)"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi; \
	t4=$$SECONDS; echo "== [5/7] notebook results"; \
	VLMCAL_REQUIRE_RESULTS=1 $(PY) -m pytest tests/book/test_notebooks.py; \
	t5=$$SECONDS; echo "== [6/7] book build (from the executed notebooks of [4/7]; no execution)"; \
	$(PY) -m vlmcal_book.report --out book/results.md; \
	$(PY) -m vlmcal_book.stage --set $(BOOK_SET) --out $(STAGE_DIR); \
	$(JB) build $(STAGE_DIR) --path-output . $(JB_FLAGS); \
	t6=$$SECONDS; echo "== [7/7] the built book in headless Chromium"; \
	VLMCAL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/book/test_browser.py; \
	t7=$$SECONDS; \
	echo "== test timings (s): lint $$((t1-t0)), unit $$((t2-t1)), sync $$((t3-t2)), runner $$((t4-t3)), results $$((t5-t4)), book $$((t6-t5)), browser $$((t7-t6)), total $$((t7-t0))"

reproduce: setup
	@failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_book.reproduce $$nb --set $(SET) || failed="$$failed $$nb"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi

sync: setup
	$(PY) -m vlmcal_book.nbsync --write

# Chromium + chromedriver (apt) and selenium (pip) for vlmcal_book/browser_check.py, if missing.
browser-deps: setup
	@if ! command -v chromium >/dev/null || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "browser-deps: installing chromium and chromium-driver with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install -q -c constraints.txt selenium

browser-check: browser-deps
	$(PY) -m vlmcal_book.browser_check --html _build/html --screenshots _build/screenshots --toc _toc.yml

# Real runs for the results page: needs the data ($$VLMCAL_SHARED). Demo/synthetic runs are
# refused by the publisher; machine paths are rewritten before the files are written.
publish-results: setup
	@if [ -z "$$VLMCAL_SHARED" ]; then echo "publish-results: set VLMCAL_SHARED to the real-data folder"; exit 1; fi
	rm -rf results/publish-run
	@failed=""; for nb in $(PUBLISH_NOTEBOOKS); do \
	  $(PY) -m vlmcal_book.reproduce $$nb --set $(PUBLISH_SET) --output-root results/publish-run || failed="$$failed $$nb"; \
	done; if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi
	$(PY) -m vlmcal_book.report --publish results/publish-run/$(PUBLISH_SET) --out book/results.md

clean:
	rm -rf _build results/$(BOOK_SET) results/ci results/ci-plumbing results/publish-run notebooks/results
