# vlmcal — the two commands of the README:
#   make book   set up .venv, run every notebook once (SET=book) and build the book from those
#               executed notebooks into _build/html (nothing is executed twice)
#   make test   set up .venv and run every check (what CI runs)
# and a few more:
#   make reproduce SET=paper   run every notebook with params/paper.yaml (results/paper/<stem>/); a pre-flight
#                              check lists every missing dataset, weights file and the GPU before any runs
#   make sync                  regenerate each notebooks/*.ipynb (Colab twin) from its .md, and the API pages
#   make book-run              only the notebook runs behind the book (results/book/<stem>/)
#   make clean                 remove build outputs and CI results
#   make publish-results       rerun the real-data chapters (SET=published) into results/published/
#   make browser-check         open the built book in headless Chromium (images, math, Colab links)
#   make lint                  ruff, the import-layering contracts (lint-imports) and the metrics doctests
#   make test-floors           the unit tests on the lowest dependency versions pyproject.toml admits (own venv)
# Book and CI tooling lives in vlmcal_book/ (used from this clone, not part of the vlmcal_utils wheel).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vlmcal-installed
SET ?= book
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
# The runs, NOTEBOOK:SET, go through vlmcal_book.runs, RUNNER_JOBS at a time (own results folder,
# kernel and sockets each; output printed run by run), the slowest first so that the last to end are
# short: idle seconds alone, 2026-12-06: ch4 book 142, ch3 book 104, ch1 35, ch2-ci 30,
# ch4-plumbing 26, ch3-plumbing 22, ch5 22, ch2 21. RUNNER_JOBS=1: one after another, output live.
RUNNER_JOBS ?= 2
SLOWEST_BOOK_NOTEBOOKS := notebooks/04_ctpt.md notebooks/03_empirical_study.md
BOOK_RUNS := $(addsuffix :$(BOOK_SET),$(SLOWEST_BOOK_NOTEBOOKS) $(filter-out $(SLOWEST_BOOK_NOTEBOOKS),$(NOTEBOOKS)))
TEST_RUNS := $(BOOK_RUNS) $(addsuffix :ci,$(CI_NOTEBOOKS)) $(addsuffix :ci-plumbing,$(PLUMBING_NOTEBOOKS))
# MathJax 3 for offline math: fetched once from npm into an ignored cache, served from the book.
MATHJAX_VERSION ?= 3
MATHJAX_NPM := .cache/npm
MATHJAX_OUT := .cache/html-extra/mathjax
JB_FLAGS := -W -n --keep-going
# jupyter_book has no __main__ module, so `python -m jupyter_book` fails: use the venv's script.
JB := $(VENV)/bin/jupyter-book

# The real-data folder (read-only, optional): passed through to pytest, the runner and the book.
export VLMCAL_SHARED

.PHONY: setup mathjax book book-run test test-floors pytest lint sync-check reproduce sync clean results-page publish-results \
	browser-deps browser-check
# the chapters whose results.json can come from real data (published logits) and are published
PUBLISH_NOTEBOOKS := $(wildcard notebooks/01_*.md notebooks/02_*.md notebooks/03_*.md)
PUBLISH_SET ?= published
# Debian packages for the browser check; CI runs as root, elsewhere sudo is used if there is one
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
CHROMEDRIVER := /usr/bin/chromedriver

setup: $(STAMP)

# Remade when missing (a clean clone) or when the dependency files change (README: time, download
# and disk figures). One line, then pip's errors only (PIP_QUIET -qq): its warnings here are noise,
# setuptools' 12-line "Editable installation" notice (a folder named like the package may shadow it:
# that folder is the package) and, where pip.conf adds extra indexes, one "Location ... is ignored"
# line per package an index lacks (~210 lines on our CI machines). A failed install still says why.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu installs torch/torchvision from that index
# first (CPU-only wheels: no CUDA libraries), e.g. `make setup TORCH_INDEX=...` in a fresh clone.
PIP_QUIET ?= -qq
TORCH_INDEX ?=
$(STAMP): pyproject.toml constraints.txt
	@echo "setup: $(VENV): pip installs vlmcal and its extras (versions from constraints.txt)$(if $(TORCH_INDEX), with torch from $(TORCH_INDEX))"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	@$(if $(TORCH_INDEX),$(PY) -m pip install $(PIP_QUIET) -c constraints.txt torch torchvision --index-url $(TORCH_INDEX))
	@$(PY) -m pip install $(PIP_QUIET) -c constraints.txt -e ".[book,dev,sweep]"
	@touch $@

mathjax: $(MATHJAX_OUT)/tex-mml-chtml.js

$(MATHJAX_OUT)/tex-mml-chtml.js:
	@echo "mathjax: npm install mathjax@$(MATHJAX_VERSION) into $(MATHJAX_OUT)"
	@mkdir -p $(MATHJAX_NPM) $(dir $(MATHJAX_OUT))
	@npm install --no-save --no-audit --no-fund --loglevel=error --prefix $(MATHJAX_NPM) mathjax@$(MATHJAX_VERSION)
	@rm -rf $(MATHJAX_OUT)
	@cp -r $(MATHJAX_NPM)/node_modules/mathjax/es5 $(MATHJAX_OUT)

# book/results.md is generated from results/published/ (see vlmcal_book/report.py)
results-page: setup
	$(PY) -m vlmcal_book.report --out book/results.md

# every notebook once, with the book's parameters (results/book/<stem>/<stem>.ipynb)
book-run: setup
	rm -rf results/$(BOOK_SET)
	$(PY) -m vlmcal_book.runs $(BOOK_RUNS) --jobs $(RUNNER_JOBS)

book: setup mathjax results-page book-run
	$(PY) -m vlmcal_book.stage --set $(BOOK_SET) --out $(STAGE_DIR)
	$(JB) build $(STAGE_DIR) --path-output . $(JB_FLAGS)
	@echo "book: open _build/html/index.html"

pytest: setup
	$(PY) -m pytest

# The sources checked by ruff; lint-imports reads its contracts from pyproject.toml.
LINT_PATHS := vlmcal_utils vlmcal_book tests benchmarks
# Modules whose docstring Examples run as doctests (the metrics, the main entry points, the runs command)
DOCTEST_MODULES := vlmcal_utils/metrics.py vlmcal_utils/brier.py vlmcal_utils/selective.py vlmcal_utils/scores.py \
	vlmcal_utils/models.py vlmcal_utils/zeroshot.py vlmcal_utils/temperature.py vlmcal_utils/study/grid.py \
	vlmcal_utils/tpt/runner.py vlmcal_utils/tpt/settings.py vlmcal_utils/papers/ctpt.py vlmcal_book/runs.py

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/lint-imports --no-logo
	$(PY) -m pytest -q --doctest-modules $(DOCTEST_MODULES)

sync-check: setup
	$(PY) -m vlmcal_book.nbsync --check
	$(PY) -m vlmcal_book.demo_page --check
	$(PY) -m vlmcal_book.costs_page --check
	$(PY) -m vlmcal_book.api_pages --check
	$(PY) -m vlmcal_book.conda_env --check

# Stage budgets of `make test`, in CPU seconds (user + system, of the stage's processes and those they
# waited for): a stage that uses more stops the test at once with one line naming it, so a slow change
# is caught in the session. CPU seconds, not wall seconds, because a busy machine stretches a stage's
# wall time (x5 at load 5-11 on 2 cores, issue 27) but hardly its CPU time: a budget can then sit
# close to the stage's cost and still never stop a run that is slow only because the machine is
# busy. Measured 2026-12-06 on the same tree: idle (load ~1.5) lint 14, unit 296, sync 9, runner 542,
# results 13, book 60, browser 52 CPU s; loaded (load 3-5, wall 1.1-1.3x) unit 281, runner 514, book 64,
# browser 46: the same within noise. Each budget is 3x the idle figure, rounded: a slower CPU (not a
# busier one) does raise CPU seconds, and CI's machine may be one. The runner's since its runs went two
# at a time with a faster ECE bootstrap (idle CI run, later the same day: 409 CPU s; the other stages
# as above within noise). Daemons a stage starts and does not wait for (Ray's) are not counted.
# Override one (make test BUDGET_RUNNER=1800) or all (BUDGETS=off).
BUDGET_LINT ?= 45
BUDGET_UNIT ?= 900
BUDGET_SYNC ?= 30
BUDGET_RUNNER ?= 1250
BUDGET_RESULTS ?= 40
BUDGET_BOOK ?= 180
BUDGET_BROWSER ?= 160
BUDGETS ?= on
# `cpu`: sets CPU to the CPU seconds this shell's finished children used so far (bash's `times`,
# second line; in this shell, not in $(...) or a pipe, where `times` would see a new subshell's zeros).
# `within STAGE BUDGET CPU_START [WHERE]`: fail if the stage begun at CPU_START used over BUDGET CPU s.
WITHIN = _ms() { local m=$${1%%m*} r=$${1\#*m}; r=$${r%s}; echo $$(( 10\#$$m * 60000 + 10\#$${r%.*} * 1000 + 10\#$${r\#*.} )); }; \
	cpu() { local f u s; f=$$(mktemp); times > $$f; read -r u s < <(sed -n 2p $$f); rm -f $$f; \
	CPU=$$(( ($$(_ms $$u) + $$(_ms $$s) + 500) / 1000 )); }; \
	within() { cpu; local c=$$((CPU - $$3)); [ "$(BUDGETS)" = off ] || [ $$c -le $$2 ] || { echo "make test: \
	the $${1,,} stage$${4:+ ($$4)} used $$c CPU s, over its budget BUDGET_$$1=$$2 CPU s: a slow change, not a busy \
	machine (make test BUDGET_$$1=N or BUDGETS=off)"; exit 1; }; }

# The unit tests run in UNIT_WORKERS pytest-xdist processes, one test file per process at a time
# (--dist loadfile: a module's fixtures -- the built wheel, the local Ray -- are made once, as in one
# process); tests/conftest.py gives each worker one torch thread. UNIT_WORKERS=0: one process.
UNIT_WORKERS ?= 2
# The runner stage checks its budget after each run too (vlmcal_book.runs --cpu-budget), so it stops early.
RUNNER_BUDGET := $(if $(filter off,$(BUDGETS)),,--cpu-budget $(BUDGET_RUNNER) --budget-hint "make test BUDGET_RUNNER=N or BUDGETS=off")
UNIT_XDIST := $(if $(filter 0,$(UNIT_WORKERS)),-p no:xdist,-n $(UNIT_WORKERS) --dist loadfile)

# Order matters: the notebook-results tests read what the runner just wrote, and
# VLMCAL_REQUIRE_RESULTS=1 turns their "no results yet" skip into a failure.
test: setup mathjax browser-deps
	@$(WITHIN); t0=$$SECONDS; cpu; c0=$$CPU; \
	echo "== [1/7] lint: ruff, import layers (lint-imports), doctests (metrics and the entry points)"; \
	$(VENV)/bin/ruff check $(LINT_PATHS); \
	$(VENV)/bin/lint-imports --no-logo; \
	$(PY) -m pytest -q --doctest-modules $(DOCTEST_MODULES); \
	within LINT $(BUDGET_LINT) $$c0; t1=$$SECONDS; c1=$$CPU; echo "== [2/7] unit tests ($(UNIT_WORKERS) pytest-xdist workers)"; \
	$(PY) -m pytest $(UNIT_XDIST) --ignore=tests/book/test_notebooks.py --ignore=tests/book/test_browser.py; \
	within UNIT $(BUDGET_UNIT) $$c1; t2=$$SECONDS; c2=$$CPU; echo "== [3/7] notebook pairs (.md <-> .ipynb) and the generated pages (demo, costs, API reference, conda file)"; \
	$(PY) -m vlmcal_book.nbsync --check; \
	$(PY) -m vlmcal_book.demo_page --check; \
	$(PY) -m vlmcal_book.costs_page --check; \
	$(PY) -m vlmcal_book.api_pages --check; \
	$(PY) -m vlmcal_book.conda_env --check; \
	within SYNC $(BUDGET_SYNC) $$c2; t3=$$SECONDS; c3=$$CPU; echo "== [4/7] every notebook once through the runner, SET=$(BOOK_SET) (+ real-architecture plumbing), $(RUNNER_JOBS) at a time"; \
	rm -rf results/$(BOOK_SET) results/ci results/ci-plumbing; \
	$(PY) -m vlmcal_book.runs $(TEST_RUNS) --jobs $(RUNNER_JOBS) $(RUNNER_BUDGET); \
	within RUNNER $(BUDGET_RUNNER) $$c3; t4=$$SECONDS; c4=$$CPU; echo "== [5/7] notebook results"; \
	VLMCAL_REQUIRE_RESULTS=1 $(PY) -m pytest tests/book/test_notebooks.py; \
	within RESULTS $(BUDGET_RESULTS) $$c4; t5=$$SECONDS; c5=$$CPU; echo "== [6/7] book build (from the executed notebooks of [4/7]; no execution)"; \
	$(PY) -m vlmcal_book.report --out book/results.md; \
	$(PY) -m vlmcal_book.stage --set $(BOOK_SET) --out $(STAGE_DIR); \
	$(JB) build $(STAGE_DIR) --path-output . $(JB_FLAGS); \
	within BOOK $(BUDGET_BOOK) $$c5; t6=$$SECONDS; c6=$$CPU; echo "== [7/7] the built book in headless Chromium"; \
	VLMCAL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/book/test_browser.py; \
	within BROWSER $(BUDGET_BROWSER) $$c6; t7=$$SECONDS; c7=$$CPU; \
	echo "== test timings (s): lint $$((t1-t0)), unit $$((t2-t1)), sync $$((t3-t2)), runner $$((t4-t3)), results $$((t5-t4)), book $$((t6-t5)), browser $$((t7-t6)), total $$((t7-t0))"; \
	echo "== CPU seconds (budgets): lint $$((c1-c0)) ($(BUDGET_LINT)), unit $$((c2-c1)) ($(BUDGET_UNIT)), sync $$((c3-c2)) ($(BUDGET_SYNC)), runner $$((c4-c3)) ($(BUDGET_RUNNER)), results $$((c5-c4)) ($(BUDGET_RESULTS)), book $$((c6-c5)) ($(BUDGET_BOOK)), browser $$((c7-c6)) ($(BUDGET_BROWSER)), total $$((c7-c0)); load average now $$(cut -d' ' -f1-3 /proc/loadavg)"

# The dependency floors: constraints-floors.txt pins every direct dependency at pyproject's lower bound
# (tests/test_environment.py keeps the two equal). They go into their own venv, never .venv; the
# book and dev tools come unpinned. The unit tests run there, minus the book-build tests and slow ones.
FLOORS_VENV ?= .venv-floors
test-floors:
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install -q --upgrade pip
	$(FLOORS_VENV)/bin/python -m pip install -c constraints-floors.txt -e ".[book,dev]"
	$(FLOORS_VENV)/bin/python -m pip freeze --exclude-editable > $(FLOORS_VENV)/installed.txt
	$(FLOORS_VENV)/bin/python -m pytest -q -m "not slow" --ignore=tests/book -p no:cacheprovider

# One runner call: it checks what every notebook needs at once (data, weights, GPU; no fallback where
# the set says requires_real) and runs none if anything is missing, then runs each in turn.
reproduce: setup
	$(PY) -m vlmcal_book.reproduce $(NOTEBOOKS) --set $(SET)

sync: setup
	$(PY) -m vlmcal_book.nbsync --write
	$(PY) -m vlmcal_book.api_pages
	$(PY) -m vlmcal_book.conda_env

# Chromium + chromedriver (apt) and selenium (pip) for vlmcal_book/browser_check.py, if missing.
# Without recommended packages (26 Debian packages instead of 131); dpkg prints ~4 lines per
# package even with -qq, so apt's output goes to a log, shown only when it fails.
APT_LOG := .cache/browser-deps-apt.log
browser-deps: setup
	@if ! command -v chromium >/dev/null || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "browser-deps: apt-get installs chromium and chromium-driver (log: $(APT_LOG))"; \
	  mkdir -p $(dir $(APT_LOG)); \
	  { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends chromium chromium-driver; } > $(APT_LOG) 2>&1 \
	    || { tail -n 30 $(APT_LOG); echo "browser-deps: apt-get failed, see $(APT_LOG)"; exit 1; }; \
	fi
	@$(PY) -c "import selenium" 2>/dev/null || $(PY) -m pip install $(PIP_QUIET) -c constraints.txt selenium

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
