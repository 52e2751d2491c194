"""A customer's lifecycle: inactivate, activate, return date, standing, history, the diagram."""

import sys
from datetime import date

import typer

from ..domain.customer_machine import TransitionRequest, mermaid_diagram
from ..domain.vocabulary import ActivationReason, CustomerEvent, InactivationReason, Source
from ..settings import get_settings
from ..usecases import customers, history, timers, transitions
from ..usecases import standing as standing_service
from ..usecases.business_day import provider_today
from . import accept, tables
from .console import out, print_json
from .errors import fail
from .groups import root
from .options import CUSTOMER_ARGUMENT, JSON_OPTION, NOTE_OPTION, WIDE_OPTION
from .output import local_time
from .records import customer_json, transition_json
from .session import CLI_ACTOR, unit


@root.command()
def diagram():
    """Print the customer lifecycle as a Mermaid diagram."""
    sys.stdout.write(mermaid_diagram())


def _transition(
    customer: str,
    event: CustomerEvent,
    reason: str,
    note: str | None,
    *,
    force: bool,
    as_json: bool,
    days: int | None = None,
    until=None,
    hold_until=None,
):
    request = TransitionRequest(
        reason, note, force=force, actor_role=CLI_ACTOR.role, days=days, until=until, hold_until=hold_until
    )
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        outcome = transitions.transition_customer(session, target.id, event, request, CLI_ACTOR, Source.CLI)
        data = {
            "customer": customer_json(outcome.customer),
            "transition": transition_json(outcome.transition, outcome.effects),
        }
    if as_json:
        return print_json(data)
    t = data["transition"]
    effects = ", ".join(e["name"] for e in t["effects"])
    out.print(
        f"customer {data['customer']['id']}: {t['from_status']} → {t['to_status']} "
        f"({t['reason']}); effects queued: {effects}"
    )
    if t["hold_until"]:
        out.print(f"no automatic cut through {t['hold_until']} (forced activation)")


@root.command()
def inactivate(
    customer: str = CUSTOMER_ARGUMENT,
    reason: InactivationReason = typer.Option(..., "--reason"),
    note: str = NOTE_OPTION,
    until: date = typer.Option(
        None, "--until", help="customer_request: return date (YYYY-MM-DD).", parser=accept.iso_date
    ),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Não: suspend the services, pause invoicing."""
    _transition(customer, CustomerEvent.INACTIVATE, reason.value, note, force=False, as_json=as_json, until=until)


@root.command()
def activate(
    customer: str = CUSTOMER_ARGUMENT,
    reason: ActivationReason = typer.Option(..., "--reason"),
    note: str = NOTE_OPTION,
    force: bool = typer.Option(False, "--force", help="Override overdue invoices (needs --note)."),
    days: int = typer.Option(None, "--days", help="trust_unlock: how many days.", min=1, max=365),
    hold_until: date = typer.Option(
        None,
        "--hold-until",
        help="With --force: no automatic cut through this date (YYYY-MM-DD); default "
        "ATIVA_FORCED_ACTIVATION_HOLD_DAYS days from today.",
        parser=accept.iso_date,
    ),
    as_json: bool = JSON_OPTION,
):
    """Set Ativo = Sim: restore the services, resume invoicing."""
    _transition(
        customer,
        CustomerEvent.ACTIVATE,
        reason.value,
        note,
        force=force,
        as_json=as_json,
        days=days,
        hold_until=hold_until,
    )


@root.command("return-date")
def return_date(
    customer: str = CUSTOMER_ARGUMENT,
    until: date = typer.Option(None, "--until", help="New return date (YYYY-MM-DD).", parser=accept.iso_date),
    clear: bool = typer.Option(False, "--clear", help="Remove the return date."),
    as_json: bool = JSON_OPTION,
):
    """Change or clear the return date of a suspension at the customer's request."""
    if clear == (until is not None):
        fail("give either --until DATE or --clear", 2)
    with unit(write=True) as session:
        target = customers.find_customer(session, customer)
        changed = timers.set_return_date(
            session, target.id, until, provider_today(get_settings().timezone), CLI_ACTOR, Source.CLI
        )
        data = customer_json(changed)
    if as_json:
        return print_json(data)
    out.print(f"customer {data['id']}: return date {data['return_on'] or 'cleared'}")


@root.command()
def standing(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION):
    """Why the customer is where it is, and what happens next."""
    settings = get_settings()
    with unit() as session:
        target = customers.find_customer(session, customer)
        data = standing_service.standing(session, target.id, settings, provider_today(settings.timezone))
    if as_json:
        return print_json(data)
    overdue = data["overdue"]
    out.print(
        f"customer {data['customer_id']}: {data['status']}"
        + (f" ({data['inactivation_reason']})" if data["inactivation_reason"] else "")
    )
    out.print(
        f"overdue: R$ {overdue['total']} in {len(overdue['invoices'])} invoice(s)"
        + (f", oldest due {overdue['oldest_due']} ({overdue['days_overdue']} days)" if overdue["oldest_due"] else "")
    )
    hold = data["forced_hold"]
    if hold:
        out.print(
            f"forced activation: no automatic cut through {hold['until']}; "
            f"the normal rule applies from {hold['normal_rule_from']}"
        )
    stage = data["delinquency_stage"]
    if stage != "none" or data["next_stage"]:
        snoozed = data["notice_snoozed_until"]
        step = data["next_stage"]
        out.print(
            f"collection ladder: {stage}"
            + (f", off the notice list until {local_time(snoozed, settings.timezone)}" if snoozed else "")
            + (f"; next {step['stage']} on {step['on']}" if step else "")
        )
    action = data["next_action"]
    at = action and action.get("at") and f"{local_time(action['at'], settings.timezone)} {settings.timezone}"
    out.print(
        "next automatic action: "
        + (f"{action['action']} {action.get('on') or at or ''} ({action['why']})" if action else "none")
    )
    trust = data["trust_unlock"]
    out.print(
        "trust unlock: "
        + (
            "allowed, up to " + str(trust["max_days"]) + " day(s)"
            if trust["allowed"]
            else f"not allowed: {trust['why_not']}"
        )
    )


@root.command("history")
def show_history(customer: str = CUSTOMER_ARGUMENT, as_json: bool = JSON_OPTION, wide: bool = WIDE_OPTION):
    """A customer's transitions, newest first, with their effects."""
    with unit() as session:
        target = customers.find_customer(session, customer)
        items = [transition_json(t, t.effects) for t in history.customer_history(session, target.id)]
    if as_json:
        return print_json({"items": items})
    tables.history(out, target.id, items, get_settings().timezone, wide=wide)
