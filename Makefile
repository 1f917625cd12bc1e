# Every target sets up its own environment: a fresh clone needs only python3 (uv is installed on demand).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen
ARGS ?=

.PHONY: setup test lint typecheck unit policy-check bench demo clean

$(UV):
	python3 -m venv .tools && .tools/bin/pip install --quiet 'uv>=0.5'

setup: $(UV)
	$(UV) sync --frozen

test: setup lint typecheck policy-check unit

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy

unit: setup
	$(RUN) pytest

policy-check: setup
	$(RUN) sitectl policy-check .

bench: setup
	$(RUN) python bench/edge.py
	$(RUN) python bench/upload.py

demo: setup
	$(RUN) python -m scripts.demo $(ARGS)

clean:
	rm -rf .venv .tools .mypy_cache .pytest_cache .ruff_cache
