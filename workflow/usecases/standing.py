"""One answer to "why is this customer where it is, and what happens next?"."""

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Customer, Invoice
from ..db.types import utcnow
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import Overdue, Policy, is_held
from ..domain.errors import AtivaError, GuardFailed, TransitionNotAllowed
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    InactivationReason,
    InvoiceStatus,
    Role,
)
from ..settings import Settings
from .customers import get_customer
from .delinquency import cut_facts, overdue_facts, policy_from
from .transitions import decide, guard_facts, state_of


def standing(session: Session, customer_id: int, settings: Settings, today: date) -> dict:
    customer = get_customer(session, customer_id)
    policy = policy_from(settings)
    overdue = overdue_facts(session, customer_id, today)
    oldest, total, count = overdue
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer_id, Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
        .order_by(Invoice.due_date)
    ).all()
    return {
        "customer_id": customer.id,
        "status": customer.status,
        "inactivation_reason": customer.inactivation_reason,
        "as_of": today.isoformat(),
        "overdue": {
            "invoices": [
                {
                    "invoice_id": i.external_id,
                    "amount": str(i.amount) if i.amount is not None else None,
                    "paid": str(i.amount_paid),
                    "due_date": i.due_date.isoformat(),
                    "days_overdue": (today - i.due_date).days,
                }
                for i in invoices
                if i.due_date is not None  # always: the query takes only invoices past their due date
            ],
            "total": str(total),
            "oldest_due": oldest.isoformat() if oldest else None,
            "days_overdue": (today - oldest).days if oldest else 0,
        },
        "auto_block_exempt": customer.auto_block_exempt,
        "trust_unlock_until": customer.trust_unlock_until.isoformat() if customer.trust_unlock_until else None,
        "return_on": customer.return_on.isoformat() if customer.return_on else None,
        "forced_hold": _forced_hold(customer, today),
        "delinquency_stage": delinquency_stage(customer),
        "notice_snoozed_until": _snoozed_until(customer),
        "next_stage": _next_stage(customer, policy, overdue, today),
        "next_action": _next_action(customer, policy, settings, overdue, today),
        "trust_unlock": _trust_unlock(customer, count, today),
    }


def _forced_hold(customer: Customer, today: date) -> dict | None:
    """The hold of a forced activation, while it lasts: no automatic cut through `until`."""
    if customer.status != CustomerStatus.ACTIVE or not is_held(customer.forced_hold_until, today):
        return None
    return {
        "until": customer.forced_hold_until.isoformat(),
        "normal_rule_from": (customer.forced_hold_until + timedelta(days=1)).isoformat(),
    }


CUT = "cut"  # the stage of a customer the sweep inactivated for delinquency


def delinquency_stage(customer: Customer) -> str:
    """Where the customer stands on the collection ladder: its recorded step while active
    (none, notice, reduced), "cut" once inactive for delinquency, else none."""
    if customer.status == CustomerStatus.ACTIVE:
        return customer.delinquency_stage
    if customer.inactivation_reason == InactivationReason.DELINQUENCY:
        return CUT
    return DelinquencyStage.NONE.value


def _snoozed_until(customer: Customer) -> str | None:
    """The end of an acknowledged notice's snooze (off the notice list until then)."""
    if customer.delinquency_stage != DelinquencyStage.NOTICE or customer.notice_snoozed_until is None:
        return None
    return customer.notice_snoozed_until.isoformat()


def _next_stage(customer: Customer, policy: Policy, overdue: Overdue, today: date) -> dict | None:
    """The domain's next step after the current stage if nothing is paid (a later step of the
    ladder or the cut), with its day; None when none is ahead. A running trust unlock's end is
    next_action's (the timers cut then), not a step of the ladder."""
    if customer.status != CustomerStatus.ACTIVE or customer.trust_unlock_until:
        return None
    step = policy.next_step(cut_facts(customer), customer.delinquency_stage, overdue, today)
    if step is None or overdue.oldest_due is None:
        return None
    stage, on = step
    after = policy.grace_days if stage == CUT else dict(policy.ladder.step_days())[DelinquencyStage(stage)]
    why = f"R$ {overdue.total} overdue since {overdue.oldest_due.isoformat()}; {stage} after {after} days"
    if stage == CUT:
        why += " of grace, on the next cut day"
    if is_held(customer.forced_hold_until, today):
        why = f"held by a forced activation through {customer.forced_hold_until.isoformat()}; then {why}"
    return {"stage": stage, "on": on.isoformat(), "why": why}


def _next_action(customer: Customer, policy: Policy, settings: Settings, overdue: Overdue, today: date) -> dict | None:
    if customer.status == CustomerStatus.ACTIVE:
        if customer.trust_unlock_until:
            return {
                "action": "inactivate" if overdue.oldest_due else "end_trust_unlock",
                "at": customer.trust_unlock_until.isoformat(),
                "why": "the trust unlock ends; the customer is inactivated again if an invoice is still past due then",
            }
        cut = policy.heading_for_cut(cut_facts(customer), overdue, today)
        if cut is not None and overdue.oldest_due is not None:  # a cut ahead implies a debt
            why = (
                f"R$ {overdue.total} overdue since {overdue.oldest_due.isoformat()}; cut after "
                f"{policy.grace_days} days of grace, on the next cut day"
            )
            if is_held(customer.forced_hold_until, today):
                why = f"held by a forced activation through {customer.forced_hold_until.isoformat()}; then {why}"
            return {
                "action": "inactivate",
                "on": cut.isoformat(),
                "warning_on": max(today, date.fromordinal(cut.toordinal() - settings.warning_days)).isoformat(),
                "why": why,
            }
        return None
    if customer.inactivation_reason == InactivationReason.CUSTOMER_REQUEST and customer.return_on:
        return {"action": "activate", "on": customer.return_on.isoformat(), "why": "scheduled return"}
    if customer.inactivation_reason == InactivationReason.DELINQUENCY:
        return {"action": "activate", "on": None, "why": "as soon as no invoice is past due (payment or cancellation)"}
    return None


def _trust_unlock(customer: Customer, overdue: int, today: date) -> dict:
    """Ask the machine itself, on a copy (decide changes nothing): the same guards and the same
    facts as a real trust unlock."""
    facts = guard_facts(overdue, utcnow(), today)
    request = TransitionRequest(
        ActivationReason.TRUST_UNLOCK.value, None, actor_role=Role.OPERATOR, days=facts.trust.max_days
    )
    answer = {
        "max_days": facts.trust.max_days,
        "uses_left": max(0, facts.trust.uses_per_episode - customer.trust_unlocks_used),
    }
    try:
        decide(customer.id, state_of(customer), CustomerEvent.ACTIVATE, request, facts)
    except TransitionNotAllowed:
        return {**answer, "allowed": False, "why_not": f"the customer is {customer.status}", "rule": "already_active"}
    except GuardFailed as refused:
        return {**answer, "allowed": False, "why_not": refused.detail, "rule": refused.rule}
    except AtivaError as refused:
        return {**answer, "allowed": False, "why_not": refused.detail, "rule": refused.code}
    return {**answer, "allowed": True, "why_not": None, "rule": None}
