# vlmcal — the two commands of the README:
#   make book   set up .venv and build the executed book into _build/html
#   make test   set up .venv and run every check (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vlmcal-installed
SET ?= ci

.PHONY: setup book test pytest clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e ".[book,dev]"
	touch $@

pytest: $(STAMP)
	$(PY) -m pytest

test: pytest

clean:
	rm -rf _build results/ci
