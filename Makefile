# vlmcal — the two commands of the README:
#   make book   set up .venv and build the executed book into _build/html
#   make test   set up .venv and run every check (what CI runs)
# and a few more:
#   make reproduce SET=paper   run every notebook with params/paper.yaml (results/paper/<stem>/)
#   make sync                  regenerate each notebooks/*.ipynb (Colab twin) from its .md
#   make clean                 remove build outputs and CI results
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vlmcal-installed
SET ?= ci
NOTEBOOKS := $(sort $(wildcard notebooks/*.md))
# MathJax 3 for offline math: fetched once from npm into an ignored cache, served from the book.
MATHJAX_VERSION ?= 3
MATHJAX_NPM := .cache/npm
MATHJAX_OUT := .cache/html-extra/mathjax
JB_FLAGS := -W -n --keep-going
# jupyter_book has no __main__ module, so `python -m jupyter_book` fails: use the venv's script.
JB := $(VENV)/bin/jupyter-book

# The real-data folder (read-only, optional): passed through to pytest, the runner and the book.
export VLMCAL_SHARED

.PHONY: setup mathjax book test pytest sync-check reproduce sync clean

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

book: setup mathjax
	$(JB) build . $(JB_FLAGS)
	@echo "book: open _build/html/index.html"

pytest: setup
	$(PY) -m pytest

sync-check: setup
	$(PY) -m vlmcal_utils.nbsync --check

# Order matters: the notebook-results tests read what the runner just wrote, and
# VLMCAL_REQUIRE_RESULTS=1 turns their "no results yet" skip into a failure.
test: setup mathjax
	@t0=$$SECONDS; \
	echo "== [1/5] unit tests"; \
	$(PY) -m pytest --ignore=tests/test_notebooks.py; \
	t1=$$SECONDS; echo "== [2/5] notebook pairs (.md <-> .ipynb)"; \
	$(PY) -m vlmcal_utils.nbsync --check; \
	t2=$$SECONDS; echo "== [3/5] every notebook through the runner, SET=ci"; \
	rm -rf results/ci; \
	failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_utils.reproduce $$nb --set ci || failed="$$failed $$nb"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi; \
	t3=$$SECONDS; echo "== [4/5] notebook results"; \
	VLMCAL_REQUIRE_RESULTS=1 $(PY) -m pytest tests/test_notebooks.py; \
	t4=$$SECONDS; echo "== [5/5] book build"; \
	$(JB) build . $(JB_FLAGS); \
	t5=$$SECONDS; \
	echo "== test timings (s): unit $$((t1-t0)), sync $$((t2-t1)), runner $$((t3-t2)), results $$((t4-t3)), book $$((t5-t4)), total $$((t5-t0))"

reproduce: setup
	@failed=""; for nb in $(NOTEBOOKS); do $(PY) -m vlmcal_utils.reproduce $$nb --set $(SET) || failed="$$failed $$nb"; done; \
	if [ -n "$$failed" ]; then echo "runner failed for:$$failed"; exit 1; fi

sync: setup
	$(PY) -m vlmcal_utils.nbsync --write

clean:
	rm -rf _build results/ci notebooks/results
