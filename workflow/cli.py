"""The `ativa` command: serve, migrate, manage tokens, customers and services."""

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from .db import migrate
from .db.engine import Database
from .domain.customer_machine import TransitionRequest, mermaid_diagram
from .domain.errors import AtivaError
from .domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    InactivationReason,
    Role,
    ServiceEvent,
    Source,
)
from .services import customer_services, customers, history, tokens, transitions
from .settings import Settings, get_settings

out = Console()
err = Console(stderr=True)


class FriendlyErrors(TyperGroup):
    """Turn known failures into one line and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AtivaError as error:
            _fail(f"{error.detail} [{error.code}]")
        except OperationalError as error:
            if os.environ.get("ATIVA_DEBUG"):
                raise
            reason = str(error.orig).strip().splitlines()[0] if error.orig else "unknown"
            _fail(f"database error: {reason}")


def _fail(message: str, exit_code: int = 1):
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)


def _app(help_text: str) -> typer.Typer:
    return typer.Typer(
        cls=FriendlyErrors, help=help_text, no_args_is_help=True, pretty_exceptions_enable=False
    )


app = _app("Ativa: customer lifecycle (Ativo/Inativo) for internet providers.")
db_app = _app("Database schema.")
tokens_app = _app("API tokens.")
customers_app = _app("The customer register.")
services_app = _app("Services (plans) of a customer.")
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(customers_app, name="customers")
app.add_typer(services_app, name="services")

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")
CLI_ACTOR = transitions.Actor(name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def open_database(settings: Settings) -> Database:
    """The embedded default migrates itself; a server database must be migrated on purpose."""
    db = Database(settings.resolved_database_url)
    if db.is_sqlite:
        migrate.upgrade(db.engine)
    elif not migrate.is_up_to_date(db.engine):
        _fail("the database schema is not up to date: run `ativa db upgrade`")
    return db


@contextmanager
def unit(write: bool = False) -> Iterator[Session]:
    db = open_database(get_settings())
    try:
        with db.write() if write else db.read() as session:
            yield session
    finally:
        db.dispose()


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


def _customer_json(customer) -> dict:
    from .api.schemas import CustomerOut

    return CustomerOut.of(customer).model_dump(mode="json")


def _customer_rows(items) -> None:
    _table(
        "Customers",
        ["id", "name", "document", "external_ref", "status", "reason", "version"],
        [[c.id, c.name, c.document, c.external_ref, c.status, c.inactivation_reason, c.version] for c in items],
    )


def _transition_json(change, effects) -> dict:
    from .api.schemas import TransitionOut

    return TransitionOut.of(change, effects).model_dump(mode="json")


# -- serve and schema ---------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option(None, help="Listen address (default ATIVA_HOST)."),
    port: int = typer.Option(None, help="Listen port (default ATIVA_PORT)."),
):
    """Start the HTTP API."""
    import uvicorn

    from .api.app import create_app

    settings = get_settings()
    db = open_database(settings)
    with db.write() as session:
        if not tokens.has_tokens(session):
            token, plaintext = tokens.create_token(session, "first-admin", Role.ADMIN.value)
            out.print("No API token existed: created admin token 'first-admin'. It is shown only once:")
            print(plaintext, flush=True)
    uvicorn.run(
        create_app(settings, db),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@db_app.command("upgrade")
def db_upgrade():
    """Apply the migrations up to the newest schema."""
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    try:
        migrate.upgrade(db.engine)
        out.print(f"schema at revision {migrate.current_revision(db.engine)}")
    finally:
        db.dispose()


@app.command()
def diagram():
    """Print the customer lifecycle as a Mermaid diagram."""
    sys.stdout.write(mermaid_diagram())


# -- tokens -------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
    role: Role = typer.Option(..., "--role", help="admin, operator, billing or viewer."),
):
    """Create a token; it is printed alone on the last line, once."""
    with unit(write=True) as session:
        token, plaintext = tokens.create_token(session, name, role.value)
        out.print(f"token {token.id} '{token.name}' ({token.role}) created; store it now:")
    print(plaintext, flush=True)


@tokens_app.command("list")
def tokens_list(as_json: bool = JSON_OPTION):
    """List tokens (never their secret)."""
    with unit() as session:
        items = tokens.list_tokens(session)
        rows = [
            {"id": t.id, "name": t.name, "role": t.role, "prefix": t.prefix,
             "created_at": t.created_at.isoformat(),
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in items
        ]
    if as_json:
        return _print_json(rows)
    _table("API tokens", list(rows[0]) if rows else ["id"], [list(r.values()) for r in rows])


@tokens_app.command("revoke")
def tokens_revoke(token_id: int = typer.Argument(..., help="Token id from `ativa tokens list`.")):
    """Revoke a token at once."""
    with unit(write=True) as session:
        token = tokens.revoke_token(session, token_id)
        out.print(f"token {token.id} '{token.name}' revoked")


# -- customers ----------------------------------------------------------------------------------


@customers_app.command("add")
def customers_add(
    name: str = typer.Option(..., "--name"),
    document: str = typer.Option(..., "--document", help="CPF or CNPJ, punctuation allowed."),
    email: str = typer.Option(None, "--email"),
    phone: str = typer.Option(None, "--phone"),
    external_ref: str = typer.Option(None, "--external-ref", help="The id other systems use."),
    as_json: bool = JSON_OPTION,
):
    """Register a customer (Ativo)."""
    with unit(write=True) as session:
        customer = customers.create_customer(
            session, customers.CustomerDraft(name, document, email, phone, external_ref)
        )
        data = _customer_json(customer)
    if as_json:
        return _print_json(data)
    out.print(f"customer {data['id']} '{data['name']}' created ({data['status']})")


@customers_app.command("list")
def customers_list(
    status: str = typer.Option(None, "--status", help="active or inactive"),
    q: str = typer.Option(None, "--q", help="Search name, CPF/CNPJ, external_ref, e-mail."),
    limit: int = typer.Option(50, "--limit"),
    cursor: str = typer.Option(None, "--cursor"),
    as_json: bool = JSON_OPTION,
):
    """List customers."""
    with unit() as session:
        items, next_cursor = customers.list_customers(
            session, status=status, q=q, limit=limit, cursor=cursor
        )
        data = [_customer_json(c) for c in items]
        if not as_json:
            _customer_rows(items)
    if as_json:
        return _print_json({"items": data, "next_cursor": next_cursor})
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


@customers_app.command("show")
def customers_show(customer: str = typer.Argument(..., help="Id or external_ref."), as_json: bool = JSON_OPTION):
    """Show one customer."""
    with unit() as session:
        data = _customer_json(customers.find_customer(session, customer))
    if as_json:
        return _print_json(data)
    _table(f"Customer {data['id']}", ["field", "value"], [[k, v] for k, v in data.items()])


@customers_app.command("edit")
def customers_edit(
    customer: str = typer.Argument(..., help="Id or external_ref."),
    name: str = typer.Option(None, "--name"),
    document: str = typer.Option(None, "--document"),
    email: str = typer.Option(None, "--email"),
    phone: str = typer.Option(None, "--phone"),
    external_ref: str = typer.Option(None, "--external-ref"),
    status: str = typer.Option(None, "--status", help="active or inactive: changes Ativo."),
    reason: str = typer.Option(None, "--reason"),
    note: str = typer.Option(None, "--note"),
    force: bool = typer.Option(False, "--force"),
    version: int = typer.Option(None, "--version", help="Refuse if the customer changed since."),
    as_json: bool = JSON_OPTION,
):
    """Edit fields and, with --status, change Ativo (the Editar → Salvar path)."""
    given = {"name": name, "document": document, "email": email, "phone": phone, "external_ref": external_ref}
    edit = customers.CustomerEdit(
        changes={k: v for k, v in given.items() if v is not None},
        status=status, reason=reason, note=note, force=force, version=version,
    )
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = customers.edit_customer(session, target.id, edit, CLI_ACTOR, Source.CLI)
        data = _customer_json(outcome.customer)
    if as_json:
        return _print_json(data)
    out.print(f"customer {data['id']} saved: {data['status']}, version {data['version']}")


def _transition(customer: str, event: CustomerEvent, reason: str, note: str | None, force: bool, as_json: bool):
    request = TransitionRequest(reason, note, force, CLI_ACTOR.role)
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = transitions.transition_customer(
            session, target.id, event, request, CLI_ACTOR, Source.CLI
        )
        data = {"customer": _customer_json(outcome.customer),
                "transition": _transition_json(outcome.transition, outcome.effects)}
    if as_json:
        return _print_json(data)
    t = data["transition"]
    effects = ", ".join(e["name"] for e in t["effects"])
    out.print(f"customer {data['customer']['id']}: {t['from_status']} → {t['to_status']} "
              f"({t['reason']}); effects queued: {effects}")


@app.command()
def inactivate(
    customer: str = typer.Argument(..., help="Id or external_ref."),
    reason: InactivationReason = typer.Option(..., "--reason"),
    note: str = typer.Option(None, "--note"),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Não: suspend the services, pause invoicing."""
    _transition(customer, CustomerEvent.INACTIVATE, reason.value, note, False, as_json)


@app.command()
def activate(
    customer: str = typer.Argument(..., help="Id or external_ref."),
    reason: ActivationReason = typer.Option(..., "--reason"),
    note: str = typer.Option(None, "--note"),
    force: bool = typer.Option(False, "--force", help="Override overdue invoices (needs --note)."),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Sim: restore the services, resume invoicing."""
    _transition(customer, CustomerEvent.ACTIVATE, reason.value, note, force, as_json)


@app.command("history")
def show_history(customer: str = typer.Argument(..., help="Id or external_ref."), as_json: bool = JSON_OPTION):
    """A customer's transitions, newest first, with their effects."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [_transition_json(t, t.effects) for t in history.customer_history(session, target.id)]
    if as_json:
        return _print_json({"items": items})
    _table(
        f"History of customer {target.id}",
        ["when", "event", "from → to", "reason", "note", "actor", "source", "effects"],
        [[t["created_at"], t["event"] + (" (forced)" if t["forced"] else ""),
          f"{t['from_status']} → {t['to_status']}", t["reason"], t["note"], t["actor"], t["source"],
          ", ".join(f"{e['name']}:{e['state']}" for e in t["effects"])] for t in items],
    )


# -- services -----------------------------------------------------------------------------------


def _service_json(service) -> dict:
    from .api.schemas import ServiceOut

    return ServiceOut.of(service).model_dump(mode="json")


@services_app.command("add")
def services_add(
    customer: str = typer.Argument(..., help="Customer id or external_ref."),
    name: str = typer.Option(..., "--name", help="Plan or service name."),
    external_ref: str = typer.Option(None, "--external-ref"),
    as_json: bool = JSON_OPTION,
):
    """Add a service to an active customer."""
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        data = _service_json(customer_services.add_service(session, target.id, name, external_ref))
    if as_json:
        return _print_json(data)
    out.print(f"service {data['id']} '{data['name']}' added to customer {data['customer_id']}")


@services_app.command("list")
def services_list(customer: str = typer.Argument(..., help="Customer id or external_ref."), as_json: bool = JSON_OPTION):
    """List a customer's services."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [_service_json(s) for s in customer_services.list_services(session, target.id)]
    if as_json:
        return _print_json({"items": items})
    _table(
        f"Services of customer {target.id}",
        ["id", "name", "external_ref", "status", "cause", "note"],
        [[s["id"], s["name"], s["external_ref"], s["status"], s["suspension_cause"], s["suspension_note"]]
         for s in items],
    )


def _service_change(service_id: int, event: ServiceEvent, reason: str | None, as_json: bool):
    with unit(write=True) as session:
        data = _service_json(customer_services.change_service(session, service_id, event, reason))
    if as_json:
        return _print_json(data)
    out.print(f"service {data['id']} is now {data['status']}")


@services_app.command("suspend")
def services_suspend(service_id: int, reason: str = typer.Option(..., "--reason"), as_json: bool = JSON_OPTION):
    """Suspend one service (not undone by the customer's activation)."""
    _service_change(service_id, ServiceEvent.SUSPEND, reason, as_json)


@services_app.command("resume")
def services_resume(service_id: int, as_json: bool = JSON_OPTION):
    """Resume a suspended service."""
    _service_change(service_id, ServiceEvent.RESUME, None, as_json)


@services_app.command("cancel")
def services_cancel(service_id: int, as_json: bool = JSON_OPTION):
    """Cancel a service for good."""
    _service_change(service_id, ServiceEvent.CANCEL, None, as_json)


def main() -> None:
    app()
