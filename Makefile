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

# The gates CI runs before the tests, one line each: the import layers (pyproject.toml, [tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(VENV)/bin/python bench/transitions.py

clean:
	rm -rf $(VENV) var build *.egg-info
