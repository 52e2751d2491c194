"""Secrets a command needs (a router's secret, a login's password): from a hidden prompt or stdin,
never the command line (where `ps` and the shell history would keep them)."""

import sys

import typer

from .errors import fail


def read_secret(label: str, *, from_stdin: bool, flag: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail(f"no terminal to ask for the {label}: pass {flag} and pipe it in")
    return typer.prompt(label.capitalize(), hide_input=True, confirmation_prompt=True)
