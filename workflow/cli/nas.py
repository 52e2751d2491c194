"""`ativa nas`: routers (NAS). The secret comes from a hidden prompt or stdin and is never shown."""

import typer

from ..domain.vocabulary import RouterVendor
from ..usecases import routers
from . import accept, groups, tables
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .records import router_json
from .secrets import read_secret
from .session import unit


@groups.nas.command("add")
def nas_add(
    name: str = typer.Option(..., "--name", help="Unique name.", parser=accept.ROUTER_NAME),
    address: str = typer.Option(
        ..., "--address", help="The router's IP address (NAS-IP-Address).", parser=accept.ADDRESS
    ),
    coa_port: int = typer.Option(3799, "--coa-port", help="Where it takes CoA/Disconnect.", min=1, max=accept.PORT_MAX),
    vendor: RouterVendor = typer.Option(RouterVendor.MIKROTIK, "--vendor", help="mikrotik or generic."),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the shared secret from stdin."),
    as_json: bool = JSON_OPTION,
):
    """Add a router; the shared secret is asked for (hidden) or read from stdin."""
    secret = read_secret("shared secret", from_stdin=secret_stdin, flag="--secret-stdin")
    draft = routers.RouterDraft(name, address, secret, coa_port, vendor.value)
    with unit(write=True) as session:
        data = router_json(routers.create_router(session, draft))
    if as_json:
        return print_json(data)
    out.print(f"router {data['id']} '{data['name']}' ({data['address']}) added")


@groups.nas.command("list")
def nas_list(as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """List routers (never their secret)."""
    with unit() as session:
        items = [router_json(r) for r in routers.list_routers(session)]
    if as_json:
        return print_json({"items": items})
    tables.routers(out, items, wide=wide)


@groups.nas.command("remove")
def nas_remove(
    router_id: int = typer.Argument(..., help="Router id from `ativa nas list`.", min=1, max=accept.MAX_ID),
):
    """Remove a router (FreeRADIUS stops answering it)."""
    with unit(write=True) as session:
        router = routers.get_router(session, router_id)
        name = router.name
        routers.delete_router(session, router_id)
    out.print(f"router {router_id} '{name}' removed")
