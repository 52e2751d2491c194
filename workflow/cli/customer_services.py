"""`ativa services`: the services (plans) of a customer."""

import typer

from ..domain.vocabulary import ServiceEvent
from ..usecases import customer_services, customers
from . import accept, groups, tables
from .console import out, print_json
from .options import JSON_OPTION, WIDE_OPTION
from .records import service_json
from .session import unit

SERVICE_ID = typer.Argument(..., help="Service id from `ativa services list`.", min=1, max=accept.MAX_ID)


@groups.services.command("add")
def services_add(
    customer: str = typer.Argument(..., help="Customer id or external_ref.", parser=accept.ANY_TEXT),
    name: str = typer.Option(..., "--name", help="Plan or service name.", parser=accept.SERVICE_NAME),
    external_ref: str = typer.Option(None, "--external-ref", parser=accept.EXTERNAL_REF),
    as_json: bool = JSON_OPTION,
):
    """Add a service to an active customer."""
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        data = service_json(customer_services.add_service(session, target.id, name, external_ref))
    if as_json:
        return print_json(data)
    out.print(f"service {data['id']} '{data['name']}' added to customer {data['customer_id']}")


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
