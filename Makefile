# Every target sets up its own environment: a fresh clone needs only python3 (uv is installed on demand).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
ARGS ?=
# The project supports Python 3.11 to 3.13. .venv, which every target uses, has the lowest; CI also runs
# the suite on the edge function's Python (LAMBDA_RUNTIME in components/edge_bundle.py), in .venv-X.Y.
PYTHON ?= 3.11
EDGE_PYTHON := $(shell sed -n 's/^LAMBDA_RUNTIME = "python\([0-9.]*\)"$$/\1/p' components/edge_bundle.py)
# The suite runs on every core (pytest-xdist), each test file whole in one worker process, so that a
# file's module-scoped fixtures (a moto server, a Chromium, a clone) are built once:
# PYTEST_WORKERS=2 for two workers, PYTEST_WORKERS=0 for no worker process at all.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: setup test lint typecheck unit unit-edge-python policy-check bench mutation demo builds clean

$(UV):
	python3 -m venv .tools && .tools/bin/pip install --quiet 'uv>=0.5'

setup: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

test: setup lint typecheck policy-check unit

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy

unit: setup
	$(RUN) pytest $(PYTEST_PARALLEL)

unit-edge-python: setup
	UV_PROJECT_ENVIRONMENT=.venv-$(EDGE_PYTHON) $(UV) run --frozen --python "$$(.ci/find-python $(EDGE_PYTHON))" pytest $(PYTEST_PARALLEL)

policy-check: setup
	$(RUN) sitectl policy-check .

bench: setup
	$(RUN) python bench/edge.py
	$(RUN) python bench/upload.py

# Mutation testing (mutmut), slow and not part of `make test`: per-module scores, docs/mutation.md.
# ARGS picks groups: make mutation ARGS="edge policy".
mutation: setup
	$(RUN) python bench/mutation.py $(ARGS)

demo: setup
	$(RUN) python -m scripts.demo $(ARGS)

# A real AWS account and the Pulumi CLI: throwaway stacks, every path, a report, then clean-up (README).
e2e: setup
	$(RUN) sitectl e2e $(ARGS)

# Rebuild the real framework builds of tests/fixtures/builds/ from the npm registry (node 20.19+, npm);
# not part of `make test`, which serves the committed output.
builds:
	tests/fixtures/builds/rebuild.sh

clean:
	rm -rf .venv .venv-*/ .tools .cache .mypy_cache .pytest_cache .ruff_cache
