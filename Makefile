# Two commands set everything up on a fresh machine (README, Quick start):
#   make run     the main job: the sweep of config/config.yaml (or CONFIG=...) on CORES cores
#   make test    snakemake --lint and the test suite (PYTEST_ARGS=... runs a subset)
# Both create .venv and install the package on first use, and reinstall when pyproject.toml
# changes; otherwise they go straight to work.

PYTHON ?= python3.11
VENV ?= .venv
# all cores of the machine (nproc: Linux; sysctl: macOS)
CORES ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)
CONFIG ?=
# targets for snakemake (before --configfile, which would read them as more config files)
TARGETS ?=
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
PIP_ARGS ?=

# The install's stamp lives inside the venv, so deleting .venv also forgets the install.
STAMP := $(VENV)/.minarch-installed
CONFIG_ARGS = $(if $(CONFIG),--configfile $(CONFIG))

.DEFAULT_GOAL := help
.PHONY: help install check-config run dry-run lint test

help:
	@echo "make run      run the workflow (CORES=$(CORES), CONFIG=file.yaml, TARGETS=..., SNAKEMAKE_ARGS=...)"
	@echo "make dry-run  plan it: snakemake -n with the same variables"
	@echo "make test     snakemake --lint, then pytest (PYTEST_ARGS='tests/unit -q' for a subset)"
	@echo "make lint     snakemake --lint, snakefmt --check, ruff check, ruff format --check, lint-imports (pyproject.toml)"
	@echo "make install  create $(VENV) with $(PYTHON) and install the package (done by the others on first use)"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || command -v $(PYTHON) >/dev/null || \
		{ echo "make: $(PYTHON) not found; install Python 3.11 or name it with PYTHON=/path/to/python3.11" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_ARGS) -e ".[test]"
	touch $@

# Snakemake reads a --configfile before the workflow can check it, and a YAML syntax error
# there names neither file nor line: check CONFIG first (one line with file and line).
check-config: $(STAMP)
	@$(if $(CONFIG),$(VENV)/bin/python -m minarch.config $(CONFIG) >/dev/null,true)

run: check-config
	$(VENV)/bin/snakemake --cores $(CORES) $(TARGETS) $(CONFIG_ARGS) $(SNAKEMAKE_ARGS)

dry-run: check-config
	$(VENV)/bin/snakemake -n $(TARGETS) $(CONFIG_ARGS) $(SNAKEMAKE_ARGS)

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/ruff check src workflow/scripts benchmarks tests tools
	$(VENV)/bin/ruff format --check src workflow/scripts benchmarks tests tools
	$(VENV)/bin/lint-imports --no-cache

test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
