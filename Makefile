# vlmcal — the two commands of the README:
#   make book   set up .venv and build the executed book into _build/html
#   make test   set up .venv and run every check (what CI runs)
# and a few more:
#   make reproduce SET=paper   run every notebook with params/paper.yaml (results/paper/<stem>/)
#   make sync                  regenerate each notebooks/*.ipynb (Colab twin) from its .md
#   make clean                 remove build outputs and CI results
#   make publish-results       rerun the real-data chapters (SET=published) into results/published/
#   make browser-check         open the built book in headless Chromium (images, math, Colab links)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vlmcal-installed
SET ?= ci
NOTEBOOKS := $(sort $(wildcard notebooks/*.md))
# Notebooks that also run with params/ci-plumbing.yaml: a random-weight real architecture on a few
# shared real images (the real-model code path, offline; the numbers mean nothing).
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

.PHONY: setup mathjax book test pytest sync-check reproduce sync clean results-page publish-results \
	browser-deps browser-check
# the chapters whose results.json can come from real data (published logits) and are published
PUBLISH_NOTEBOOKS := $(wildcard notebooks/01_*.md notebooks/03_*.md)
PUBLISH_SET ?= published
# Debian packages for the browser check; CI runs as root, elsewhere sudo is used if there is one
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
CHROMEDRIVER := /usr/bin/chromedriver

setup: $(STAMP)

# Remade when missing (a clean clone) or when the dependency files change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[book,dev]"
	touch $@

mathjax: $(MATHJAX_OUT)/tex-mml-chtml.js

$(MATHJAX_OUT)/tex-mml-chtml.js:
	mkdir -p $(MATHJAX_NPM) $(dir $(MATHJAX_OUT))
	npm install --no-save --no-audit --no-fund --prefix $(MATHJAX_NPM) mathjax@$(MATHJAX_VERSION)
	rm -rf $(MATHJAX_OUT)
	cp -r $(MATHJAX_NPM)/node_modules/mathjax/es5 $(MATHJAX_OUT)

# book/results.md is generated from results/published/ (see vlmcal_utils/report.py)
results-page: setup
	$(PY) -m vlmcal_utils.report --out book/results.md

book: setup mathjax results-page
	$(JB) build . $(JB_FLAGS)
	@echo "book: open _build/html/index.html"

pytest: setup
	$(PY) -m pytest

sync-check: setup
	$(PY) -m vlmcal_utils.nbsync --check

# Order matters: the notebook-results tests read what the runner just wrote, and
# VLMCAL_REQUIRE_RESULTS=1 turns their "no results yet" skip into a failure.
test: setup mathjax browser-deps
	@t0=$$SECONDS; \
	echo "== [1/6] unit tests"; \
	$(PY) -m pytest --ignore=tests/test_notebooks.py --ignore=tests/test_browser.py; \
	t1=$$SECONDS; echo "== [2/6] notebook pairs (.md <-> .ipynb)"; \
	$(PY) -m vlmcal_utils.nbsync --check; \
	t2=$$SECONDS; echo "== [3/6] every notebook through the runner, SET=ci (+ ci-plumbing)"; \
	rm -rf results/ci results/ci-plumbing; \
	failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_utils.reproduce $$nb --set ci || failed="$$failed $$nb"; done; \
	for nb in $(PLUMBING_NOTEBOOKS); do $(PY) -m vlmcal_utils.reproduce $$nb --set ci-plumbing || failed="$$failed $$nb(ci-plumbing)"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi; \
	t3=$$SECONDS; echo "== [4/6] notebook results"; \
	VLMCAL_REQUIRE_RESULTS=1 $(PY) -m pytest tests/test_notebooks.py; \
	t4=$$SECONDS; echo "== [5/6] book build"; \
	$(PY) -m vlmcal_utils.report --out book/results.md; \
	$(JB) build . $(JB_FLAGS); \
	t5=$$SECONDS; echo "== [6/6] the built book in headless Chromium"; \
	VLMCAL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/test_browser.py; \
	t6=$$SECONDS; \
	echo "== test timings (s): unit $$((t1-t0)), sync $$((t2-t1)), runner $$((t3-t2)), results $$((t4-t3)), book $$((t5-t4)), browser $$((t6-t5)), total $$((t6-t0))"

reproduce: setup
	@failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_utils.reproduce $$nb --set $(SET) || failed="$$failed $$nb"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi

sync: setup
	$(PY) -m vlmcal_utils.nbsync --write

# Chromium + chromedriver (apt) and selenium (pip) for tools/browser_check.py, if missing.
browser-deps: setup
	@if ! command -v chromium >/dev/null || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "browser-deps: installing chromium and chromium-driver with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; \
	fi
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install -q -c constraints.txt selenium

browser-check: browser-deps
	$(PY) tools/browser_check.py --html _build/html --screenshots _build/screenshots

# Real runs for the results page: needs the data ($$VLMCAL_SHARED). Demo/synthetic runs are
# refused by the publisher; machine paths are rewritten before the files are written.
publish-results: setup
	@if [ -z "$$VLMCAL_SHARED" ]; then echo "publish-results: set VLMCAL_SHARED to the real-data folder"; exit 1; fi
	rm -rf results/publish-run
	@failed=""; for nb in $(PUBLISH_NOTEBOOKS); do \
	  $(PY) -m vlmcal_utils.reproduce $$nb --set $(PUBLISH_SET) --output-root results/publish-run || failed="$$failed $$nb"; \
	done; if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi
	$(PY) -m vlmcal_utils.report --publish results/publish-run/$(PUBLISH_SET) --out book/results.md

clean:
	rm -rf _build results/ci results/ci-plumbing results/publish-run notebooks/results
