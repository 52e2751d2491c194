"""`ativa tokens`: API tokens."""

import typer

from ..domain.vocabulary import Role
from ..settings import get_settings
from ..usecases import tokens
from . import accept, groups, tables
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .session import unit


@groups.tokens.command("create")
def tokens_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token.", parser=accept.TOKEN_NAME),
    role: Role = typer.Option(..., "--role", help="admin, operator, billing or viewer."),
):
    """Create a token; it is printed alone on the last line, once."""
    with unit(write=True) as session:
        token, plaintext = tokens.create_token(session, name, role.value)
        out.print(f"token {token.id} '{token.name}' ({token.role}) created; store it now:")
    print(plaintext, flush=True)


@groups.tokens.command("list")
def tokens_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List tokens (never their secret)."""
    with unit() as session:
        items = tokens.list_tokens(session)
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in items
        ]
    if as_json:
        return print_json(rows)
    tables.tokens(out, rows, get_settings().timezone, wide=wide)


@groups.tokens.command("revoke")
def tokens_revoke(
    token_id: int = typer.Argument(..., help="Token id from `ativa tokens list`.", min=1, max=accept.MAX_ID),
):
    """Revoke a token at once."""
    with unit(write=True) as session:
        token = tokens.revoke_token(session, token_id)
        out.print(f"token {token.id} '{token.name}' revoked")
