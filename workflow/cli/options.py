"""Options and arguments that several commands share."""

import typer

from . import accept

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts (times in UTC).")
WIDE_OPTION = typer.Option(False, "--wide", help="All columns, as wide as they need (for wide terminals).")
CUSTOMER_ARGUMENT = typer.Argument(..., help="Id or external_ref.", parser=accept.ANY_TEXT)
NOTE_OPTION = typer.Option(None, "--note", parser=accept.NOTE)
