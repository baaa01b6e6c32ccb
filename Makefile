# Developer entry points. Each target sets up .venv first (once: the install is
# redone only when pyproject.toml or constraints.txt change).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-timus-gateway
# Two workers halve the suite's wall time; PYTEST_ARGS= runs it in one process. The slowest
# tests are listed so that CI time stays in view.
PYTEST_ARGS ?= -n auto --durations=15

.DEFAULT_GOAL := help
.PHONY: help install run test lint migration constraints

help:
	@echo "make run          start the service on 127.0.0.1:8000 (SQLite under ./var/)"
	@echo "make test         run the whole test suite"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make migration m='what changed'   generate the next Alembic revision"
	@echo "make constraints  re-pin constraints.txt from the current .venv"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/timus-gateway serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

migration: $(STAMP)
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"' >&2; exit 2; }
	$(BIN)/python -m gateway.store.migrate revision "$(m)"

# No URLs, paths or index hosts: only name==version lines.
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -Ev '@|://|^-'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	touch $(STAMP)
