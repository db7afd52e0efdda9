# make dev  — run the API locally (http://127.0.0.1:3000) with an AWS emulator; no Docker needed
# make test — install what is needed and run every check (what CI runs)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# checkov lives apart: its pinned dependencies clash with the development ones
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# so does the SAM CLI: it pins watchdog 4, which the client's agent frameworks (ADK, Strands) cannot use
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# Python 3.13: on PATH, else pyenv's newest 3.13.x (found even when pyenv itself is not on PATH)
PYENV_DIR := $(or $(PYENV_ROOT),$(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
# (asking the interpreter for its own path skips a pyenv shim that has no 3.13 selected)
PYTHON313 := $(or $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword $(sort $(wildcard $(PYENV_DIR)/versions/3.13*/bin/python3.13))))
# sam build needs a python3.13 on PATH: the virtualenv's is enough
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help install install-sam dev test checks lint typecheck typecheck-service typecheck-client unit integration e2e fuzz template checkov openapi schemas bench lock clean

help:
	@echo "make dev      serve the API on http://127.0.0.1:$${PORT:-3000} (emulator on $${MOTO_PORT:-5000}, Lambda invoke on $${LAMBDA_PORT:-3001})"
	@echo "make test     lint, type-check, unit, integration, end-to-end and fuzz tests, sam validate --lint,"
	@echo "              cfn-lint, checkov and sam build"
	@echo "make fuzz     schemathesis against the dev server, longer than make test's run (FUZZ_MAX_EXAMPLES, FUZZ_SEED)"
	@echo "make bench    every benchmark (python -m bench), its figures written into docs/benchmarks.md"
	@echo "make openapi  regenerate openapi.json, schemas/ (event JSON Schemas) and the sync client (from the async one)"

$(BIN)/python:
	@if [ -z "$(PYTHON313)" ]; then \
	  echo "error: Python 3.13 is missing. Install it (e.g. 'pyenv install 3.13') or put python3.13 on PATH." >&2; exit 1; fi
	"$(PYTHON313)" -m venv $(VENV)

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt client/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --editable "./client[all]"  # tests run the source
	touch $@

install: $(VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements-checkov.txt | $(BIN)/python
	"$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt | $(BIN)/python
	"$(PYTHON313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

install-sam: $(SAM_VENV)/.installed

dev: install
	$(BIN)/python -m local

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/common $(BIN)/lint-imports --no-cache  # the layers of layers/common/sessions (pyproject.toml)

typecheck: typecheck-service typecheck-client

typecheck-service: install
	$(BIN)/mypy layers/common/sessions functions local bench

typecheck-client: install
	cd client && $(CURDIR)/$(BIN)/mypy  # strict, on client/src (client/pyproject.toml)

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

# make test runs 25 examples per operation with a fixed seed; this runs 300 with a new seed each time
# (printed on failure; FUZZ_SEED=… repeats a run)
fuzz: install
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-300} FUZZ_SEED=$${FUZZ_SEED:-$$RANDOM} FUZZ_TIMEOUT_SECONDS=3600 \
	  $(BIN)/python -m pytest -q tests/fuzz

template: install $(SAM_VENV)/.installed
	$(SAM) validate --lint
	$(BIN)/cfn-lint  # .cfnlintrc.yaml: the template, in the Regions deployers pick
	$(SAM) build --parallel --cached
	@# the layer ships compiled modules (layers/common/Makefile): Lambda cannot write them under /opt
	@test -n "$$(find .aws-sam/build/CommonLayer/python/sessions -name '*.cpython-313.pyc' -print -quit)" \
	  || { echo "error: the built CommonLayer has no .pyc" >&2; exit 1; }

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV) --config-file .checkov.yaml  # .checkov.yaml: the checks skipped, each with its reason

openapi: install
	$(BIN)/python -m local.generators.openapi --write
	$(BIN)/python -m local.generators.event_schemas --write
	$(BIN)/python -m local.generators.sync_client --write

# The checks run side by side first: they share nothing but the virtualenvs (three installs, also
# side by side), which make builds once; each prints its output whole when it ends. Then the tests,
# handed to the workers one at a time, the longest files first (tests/scheduling.py).
test:
	$(MAKE) --no-print-directory -j 4 --output-sync=target checks
	$(BIN)/python -m pytest -q -n 2 --dist load --maxschedchunk 1 tests client/tests --durations=15  # the slowest, so the suite stays short

checks: lint typecheck template checkov

# every section, then docs/benchmarks.md's figures rewritten from what the run printed
bench: install
	$(BIN)/python -m bench --write-docs

lock: $(CHECKOV_VENV)/.installed $(SAM_VENV)/.installed
	{ echo "# Development and test dependencies, fully pinned (pip freeze of a working .venv, the client's extras included)."; \
	  echo "# Regenerate: make lock"; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^sessions-client' | sort; } > requirements-dev.txt
	{ echo "# checkov, the template's security scanner, fully pinned in its own virtualenv (.venv-checkov/):"; \
	  echo "# its dependencies (boto3 among them) clash with requirements-dev.txt's. Regenerate: make lock"; \
	  $(CHECKOV_VENV)/bin/python -m pip freeze --exclude-editable | sort; } > requirements-checkov.txt
	{ echo "# The SAM CLI (sam validate --lint, sam build), fully pinned in its own virtualenv (.venv-sam/):"; \
	  echo "# it pins watchdog 4, which the agent frameworks of the client's extras (ADK, Strands) cannot use. Regenerate: make lock"; \
	  $(SAM_VENV)/bin/python -m pip freeze | sort; } > requirements-sam.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
