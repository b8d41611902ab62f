# vstore — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) install --quiet -e .

demo: install
	$(BIN)/python -m vstore.demo

lint: $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	$(BIN)/ruff check vstore tests benchmarks
	$(BIN)/mypy vstore

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_datasets.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info demo.vstore*
