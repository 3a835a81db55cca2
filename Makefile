# The README's two commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup demo test lint typecheck unit integration clean

setup:
	@scripts/bootstrap.sh

demo: setup
	$(BIN)/restore plan dependency_graphs/hospital.yaml -i inventory/hospital.yml

lint: setup
	$(BIN)/ruff check restore tests bench
	$(BIN)/ruff format --check restore tests bench

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .restore .pytest_cache .mypy_cache .ruff_cache
