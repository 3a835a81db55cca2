# The README's two commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
# The example's vault (lab secrets only): a real site points this at its own password file.
export ANSIBLE_VAULT_PASSWORD_FILE ?= $(CURDIR)/playbooks/lab-vault-password.txt

.PHONY: setup demo test lint typecheck unit integration clean

setup:
	@scripts/bootstrap.sh

# The full rehearsal of the example hospital on built-in lab twins (needs root): quarantine,
# infection, evidence, checks, reimage, rebuild, reconnect, report. Prints the report's path.
demo: setup
	$(BIN)/restore plan dependency_graphs/hospital.yaml -i inventory/hospital.yml --max-parallel 1,4 --state-dir .restore/demo
	$(BIN)/restore rehearse dependency_graphs/hospital.yaml -i inventory/hospital.yml --lab --max-parallel 4 --junit .restore/demo/rehearsal-junit.xml --state-dir .restore/demo

lint: setup
	$(BIN)/ruff check restore tests bench
	$(BIN)/ruff format --check restore tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	for book in playbooks/*.yml; do $(BIN)/ansible-playbook --syntax-check -i localhost, "$$book" >/dev/null || exit 1; done
	$(BIN)/ansible-lint --offline --profile production playbooks/
	$(BIN)/pytest
	$(BIN)/molecule test --all

clean:
	rm -rf $(VENV) .restore .pytest_cache .mypy_cache .ruff_cache
