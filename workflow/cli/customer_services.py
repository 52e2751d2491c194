"""`ativa services`: the services (plans) of a customer."""

import typer

from ..domain.vocabulary import ServiceEvent
from ..usecases import customer_services, customers
from . import accept, groups, tables
from .console import out, print_json
from .errors import fail
from .options import JSON_OPTION, WIDE_OPTION
from .records import service_json
from .secrets import read_secret
from .session import unit

SERVICE_ID = typer.Argument(..., help="Service id from `ativa services list`.", min=1, max=accept.MAX_ID)


@groups.services.command("add")
def services_add(
    customer: str = typer.Argument(..., help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    name: str = typer.Option(..., "--name", help="Plan or service name.", parser=accept.SERVICE_NAME),
    external_ref: str = typer.Option(None, "--external-ref", parser=accept.EXTERNAL_REF),
    login: str = typer.Option(None, "--login", help="RADIUS (PPPoE/IPoE) login; needs --plan.", parser=accept.LOGIN),
    plan: int = typer.Option(None, "--plan", help="Plan id from `ativa plans list`.", min=1, max=accept.MAX_ID),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the login's password from stdin (else a hidden prompt)."
    ),
    as_json: bool = JSON_OPTION,
):
    """Add a service to an active customer, with a RADIUS login and plan if given."""
    password = None
    if login is not None:
        password = read_secret("password", from_stdin=password_stdin, flag="--password-stdin")
    elif password_stdin:
        fail("--password-stdin needs --login")
    access = customer_services.Access(login, password, plan)
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        data = service_json(customer_services.add_service(session, target.id, name, external_ref, access))
    if as_json:
        return print_json(data)
    login_text = f" with login {data['login']} ({data['radius_group']})" if data["login"] else ""
    out.print(f"service {data['id']} '{data['name']}' added to customer {data['customer_id']}{login_text}")


@groups.services.command("list")
def services_list(
    customer: str = typer.Argument(..., help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    as_json: bool = JSON_OPTION,
    wide: bool = WIDE_OPTION,
):
    """List a customer's services."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [service_json(s) for s in customer_services.list_services(session, target.id)]
    if as_json:
        return print_json({"items": items})
    tables.services(out, target.id, items, wide=wide)


def _service_change(service_id: int, event: ServiceEvent, reason: str | None, *, as_json: bool):
    with unit(write=True) as session:
        data = service_json(customer_services.change_service(session, service_id, event, reason))
    if as_json:
        return print_json(data)
    out.print(f"service {data['id']} is now {data['status']}")


@groups.services.command("suspend")
def services_suspend(
    service_id: int = SERVICE_ID,
    reason: str = typer.Option(..., "--reason", parser=accept.NOTE),
    as_json: bool = JSON_OPTION,
):
    """Suspend one service (not undone by the customer's activation)."""
    _service_change(service_id, ServiceEvent.SUSPEND, reason, as_json=as_json)


@groups.services.command("resume")
def services_resume(service_id: int = SERVICE_ID, as_json: bool = JSON_OPTION):
    """Resume a suspended service."""
    _service_change(service_id, ServiceEvent.RESUME, None, as_json=as_json)


@groups.services.command("cancel")
def services_cancel(service_id: int = SERVICE_ID, as_json: bool = JSON_OPTION):
    """Cancel a service for good."""
    _service_change(service_id, ServiceEvent.CANCEL, None, as_json=as_json)
