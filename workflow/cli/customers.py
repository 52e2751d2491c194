"""`ativa customers`: the customer register."""

from typing import Literal

import typer

from ..domain.vocabulary import ActivationReason, CustomerStatus, InactivationReason, Source
from ..settings import get_settings
from ..usecases import customers
from . import accept, groups, tables
from .console import out, print_json
from .options import CUSTOMER_ARGUMENT, JSON_OPTION, NOTE_OPTION, WIDE_OPTION
from .records import customer_json
from .session import CLI_ACTOR, unit

AnyReason = Literal[(*InactivationReason, *ActivationReason)]  # type: ignore[valid-type]
LadderStage = Literal["none", "notice", "reduced", "cut"]  # customers.LADDER_FILTERS


@groups.customers.command("add")
def customers_add(
    name: str = typer.Option(..., "--name", parser=accept.CUSTOMER_NAME),
    document: str = typer.Option(..., "--document", help="CPF or CNPJ, punctuation allowed.", parser=accept.DOCUMENT),
    email: str = typer.Option(None, "--email", parser=accept.EMAIL),
    phone: str = typer.Option(None, "--phone", parser=accept.PHONE),
    external_ref: str = typer.Option(
        None, "--external-ref", help="The id other systems use.", parser=accept.EXTERNAL_REF
    ),
    as_json: bool = JSON_OPTION,
):
    """Register a customer (Ativo)."""
    with unit(write=True) as session:
        customer = customers.create_customer(
            session, customers.CustomerDraft(name, document, email, phone, external_ref)
        )
        data = customer_json(customer)
    if as_json:
        return print_json(data)
    out.print(f"customer {data['id']} '{data['name']}' created ({data['status']})")


@groups.customers.command("list")
def customers_list(
    status: CustomerStatus = typer.Option(None, "--status", help="active or inactive"),
    stage: LadderStage = typer.Option(
        None, "--stage", help="The collection ladder's stage (cut: inactive for delinquency)."
    ),
    q: str = typer.Option(None, "--q", help="Search name, CPF/CNPJ, external_ref, e-mail.", parser=accept.ANY_TEXT),
    limit: int = typer.Option(50, "--limit", min=1, max=customers.MAX_PAGE),
    cursor: str = typer.Option(None, "--cursor", parser=accept.ANY_TEXT),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List customers."""
    with unit() as session:
        items, next_cursor = customers.list_customers(
            session, status=status, q=q, limit=limit, cursor=cursor, stage=stage
        )
        data = [customer_json(c) for c in items]
    if as_json:
        return print_json({"items": data, "next_cursor": next_cursor})
    tables.customers(out, data, wide=wide)
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


@groups.customers.command("show")
def customers_show(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """Show one customer."""
    with unit() as session:
        data = customer_json(customers.find_customer(session, customer))
    if as_json:
        return print_json(data)
    tables.fields(out, f"Customer {data['id']}", data, get_settings().timezone, wide=wide)


@groups.customers.command("edit")
def customers_edit(
    customer: str = CUSTOMER_ARGUMENT,
    name: str = typer.Option(None, "--name", parser=accept.CUSTOMER_NAME),
    document: str = typer.Option(None, "--document", parser=accept.DOCUMENT),
    email: str = typer.Option(None, "--email", parser=accept.EMAIL),
    phone: str = typer.Option(None, "--phone", parser=accept.PHONE),
    external_ref: str = typer.Option(None, "--external-ref", parser=accept.EXTERNAL_REF),
    status: CustomerStatus = typer.Option(None, "--status", help="active or inactive: changes Ativo."),
    reason: AnyReason = typer.Option(None, "--reason", help="One that fits the change of --status."),
    note: str = NOTE_OPTION,
    force: bool = typer.Option(False, "--force"),
    version: int = typer.Option(
        None, "--version", help="Refuse if the customer changed since.", min=1, max=accept.MAX_ID
    ),
    as_json: bool = JSON_OPTION,
):
    """Edit fields and, with --status, change Ativo (the Editar → Salvar path)."""
    given = {"name": name, "document": document, "email": email, "phone": phone, "external_ref": external_ref}
    edit = customers.CustomerEdit(
        changes={k: v for k, v in given.items() if v is not None},
        status=status,
        reason=reason,
        note=note,
        force=force,
        version=version,
    )
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = customers.edit_customer(session, target.id, edit, CLI_ACTOR, Source.CLI)
        data = customer_json(outcome.customer)
    if as_json:
        return print_json(data)
    out.print(f"customer {data['id']} saved: {data['status']}, version {data['version']}")
