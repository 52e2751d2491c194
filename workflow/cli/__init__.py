"""The `ativa` command: serve, migrate, manage tokens, customers and services.

A module per command group; importing them adds their commands to the tree in groups.py, in the
order `ativa --help` lists them.
"""

import sys

import typer

# isort: off
# The order of `ativa --help` (tests/unit/test_cli_commands.py holds it).
from . import (  # noqa: F401 - imported for the commands they add
    processes,
    schema,
    transitions,
    tokens,
    users,
    customers,
    customer_services,
    plans,
    nas,
    effects,
    radius,
    sweep,
    bulk,
    freeze,
    billing,
)

# isort: on
from .errors import unexpected
from .groups import root as app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except Exception as error:  # noqa: BLE001 - outside any command (each group catches its commands' errors)
        try:
            unexpected(error)
        except typer.Exit as stop:
            sys.exit(stop.exit_code)
