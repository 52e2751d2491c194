# `make run` and `make test` work on a fresh machine with Python 3.11+: they create .venv first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ativa serve

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# The gates CI runs before the tests, one line each (configured in pyproject.toml): lint, format, types,
# the import layers. .pre-commit-config.yaml runs the same four on commit.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(VENV)/bin/python bench/transitions.py

clean:
	rm -rf $(VENV) var build *.egg-info
