"""The `ativa` command tree: every command in the order `ativa --help` lists it, and the start-up
of a command that loads neither Celery nor the web server."""

import subprocess
import sys

import typer

from workflow.cli import app

TREE = {
    "serve": None, "worker": None, "beat": None, "diagram": None, "inactivate": None, "activate": None,
    "return-date": None, "standing": None, "history": None, "sweep": None,
    "db": ["upgrade"],
    "tokens": ["create", "list", "revoke"],
    "customers": ["add", "list", "show", "edit"],
    "services": ["add", "list", "suspend", "resume", "cancel"],
    "plans": ["add", "list"],
    "nas": ["add", "list", "remove"],
    "effects": ["list", "retry"],
    "freeze": ["on", "off", "status"],
    "radius": ["check"],
    "users": ["create", "list", "password", "disable"],
    "bulk": ["activate", "inactivate", "undo-cuts", "run", "status", "cancel", "list"],
    "billing": ["import"],
}  # fmt: skip


def _names(group) -> list[str]:
    """A group's commands in the order its help lists them."""
    return group.list_commands(group.context_class(group))


def _tree(root) -> dict:
    return {
        name: _names(command) if hasattr(command, "list_commands") else None
        for name, command in ((name, root.commands[name]) for name in _names(root))
    }


def test_ativa_lists_every_command_in_its_order():
    tree = _tree(typer.main.get_command(app))
    assert list(tree) == list(TREE)  # the order of `ativa --help`, whatever sorts the imports
    assert tree == TREE


def test_a_command_starts_without_loading_celery_or_the_web_server():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workflow.cli; "
            "print(' '.join(m for m in ('celery', 'uvicorn', 'workers.app', 'workflow.api.app') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == []
