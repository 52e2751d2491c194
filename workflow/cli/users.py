"""`ativa users`: people who sign in to the web UI."""

import getpass
import sys

import typer

from ..domain.vocabulary import Role
from ..settings import get_settings
from ..usecases import users
from . import accept, groups, tables
from .console import out, print_json
from .errors import fail
from .options import JSON_OPTION, WIDE_OPTION
from .session import unit

UI_ROLE_HELP = "admin, operator or viewer."


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password: pass --password-stdin and pipe it in")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        fail("the two passwords differ; nothing was changed")
    return first


@groups.users.command("create")
def users_create(
    username: str = typer.Option(
        ..., "--username", help="Sign-in name (letters, digits, . _ -).", parser=accept.ANY_TEXT
    ),
    role: Role = typer.Option(..., "--role", help=UI_ROLE_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
):
    """Create a web user; the password comes from a prompt or stdin, never the command line."""
    password = _read_password(password_stdin)
    with unit(write=True) as session:
        user = users.create_user(session, username, role.value, password)
        out.print(f"user {user.id} '{user.username}' ({user.role}) created")


@groups.users.command("list")
def users_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List web users (never their password hash)."""
    with unit() as session:
        rows = [
            {
                "id": u.id,
                "username": u.username,
                "role": u.role,
                "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in users.list_users(session)
        ]
    if as_json:
        return print_json(rows)
    tables.users(out, rows, get_settings().timezone, wide=wide)


@groups.users.command("password")
def users_password(
    username: str = typer.Argument(..., help="Sign-in name.", parser=accept.ANY_TEXT),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
):
    """Set a new password; the user's open sessions end."""
    password = _read_password(password_stdin)
    with unit(write=True) as session:
        user = users.set_password(session, username, password)
        out.print(f"password of '{user.username}' changed; its sessions ended")


@groups.users.command("disable")
def users_disable(username: str = typer.Argument(..., help="Sign-in name.", parser=accept.ANY_TEXT)):
    """The user can no longer sign in and is signed out at once."""
    with unit(write=True) as session:
        user = users.disable_user(session, username)
        out.print(f"user '{user.username}' disabled")
