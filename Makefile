# vstore — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint bench install clean reliability nightly

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e '.[cli]'

demo: install
	$(BIN)/python -m vstore.demo

lint: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	$(BIN)/ruff check vstore tests benchmarks
	$(BIN)/mypy vstore

# Azurite (the Azure Blob emulator the cloud tests start) comes from npm, pinned in
# package-lock.json.
node_modules/.bin/azurite-blob: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: lint node_modules/.bin/azurite-blob
	$(BIN)/python -m pytest -m 'not nightly' --durations=15

bench: install
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_datasets.py
	$(BIN)/python benchmarks/bench_assets.py
	$(BIN)/python benchmarks/bench_remote.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info demo.vstore* node_modules

# The reliability tests at nightly size (ten times the CI counts).
reliability: lint node_modules/.bin/azurite-blob
	VSTORE_RELIABILITY_SCALE=10 $(BIN)/python -m pytest tests/reliability

# Everything, at nightly size: the large cloud variants and ten times the reliability counts.
nightly: lint node_modules/.bin/azurite-blob
	VSTORE_RELIABILITY_SCALE=10 $(BIN)/python -m pytest
