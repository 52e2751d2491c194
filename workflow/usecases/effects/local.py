"""Local effects: make the customer's services and invoicing match its current status (as the
domain's ALIGNMENT table says), in one transaction with the record of the effect's outcome. A
service changed here may need a provisioning call: it is written already claimed, for the caller
to make next."""

from datetime import timedelta

from sqlalchemy import ColumnElement, Connection, and_, bindparam, update

from ...db.driver import DriverStatement
from ...db.engine import Database
from ...db.models import Customer, Service
from ...db.types import utcnow
from ...domain.status_alignment import ALIGNMENT, ServicesInLine
from ...domain.vocabulary import CustomerStatus, Effect, EffectState, ServiceStatus, SuspensionCause
from ...settings import Settings
from .. import heartbeats
from ..customer_locks import lock_customer_row
from ..radius.enforcement import Claimed, services_changed_many
from ..transitions import QUEUE_EFFECTS, new_effect
from .claims import SETTLE, settle_on
from .descriptions import provisioning_delivery
from .outcomes import BUSY, Claim, Outcome, RunResult, Settlement

_customers = Customer.__table__
_services = Service.__table__


class _Overtaken(Exception):
    """Our claim lapsed and another attempt settled the effect: undo what we did."""


def run_local(db: Database, claim: Claim, settings: Settings) -> RunResult:
    """One local effect in its own transaction."""
    try:
        with db.write_core() as conn:
            customer = lock_customer_row(conn, claim.customer_id)  # customer first, then the effect row
            result = _apply_local(conn, customer, claim, settings)
    except _Overtaken:
        return RunResult(claim.effect_id, BUSY)
    return result


def run_locals_together(db: Database, claims: list[Claim], settings: Settings) -> list[RunResult] | None:
    """The local effects of one customer (restore_services and resume_invoicing after a payment)
    in one transaction: the customer locked once, each effect applied and settled under its own
    claim, as run_local does. All or nothing: None if any of them fails or was overtaken, and
    then nothing was written; the caller runs them one at a time, so each outcome, error and
    attempt stays its own."""
    if len({c.customer_id for c in claims}) != 1 or len({c.effect_id for c in claims}) != len(claims):
        return None
    try:
        with db.write_core() as conn:
            customer = lock_customer_row(conn, claims[0].customer_id)
            # The row locked above stays what each effect reads: none of them changes what
            # another one checks (the status), and each reads invoicing_enabled only for itself.
            return [_apply_local(conn, customer, c, settings) for c in claims]
    except Exception:  # noqa: BLE001 - rolled back; one at a time shows whose fault it was
        return None


def run_locals_of_customers(db: Database, groups: list[list[Claim]], settings: Settings) -> list[RunResult] | None:
    """The local effects of several customers (a sweep's message, a batch of payments) in one
    transaction, customers locked in id order (as the sweep locks them): one commit instead of one
    per customer, and their outcomes recorded at its end in one statement (PostgreSQL) under the
    same attempt check as run_local's. All or nothing, like run_locals_together: None if any of
    them fails or was overtaken, and then nothing was written; the caller runs them customer by
    customer."""
    ordered = sorted(groups, key=lambda group: group[0].customer_id)
    ids = [c.effect_id for group in ordered for c in group]
    if len({c.customer_id for group in ordered for c in group}) != len(ordered) or len(set(ids)) != len(ids):
        return None
    try:
        with db.write_core() as conn:
            results = []
            sessions = _SessionCalls()  # queued once for every customer, after the loop
            outcomes: list[Settlement] = []  # recorded together, after the loop
            for group in ordered:
                customer = lock_customer_row(conn, group[0].customer_id)
                results += [_apply_local(conn, customer, c, settings, sessions, outcomes) for c in group]
            made = sessions.queue(conn, settings)
            if settle_on(conn, outcomes, utcnow()) != set(ids):
                raise _Overtaken
            for result in results:
                result.follow_ups += made.get(result.effect_id, [])
            return results
    except Exception:  # noqa: BLE001 - rolled back; customer by customer shows whose fault it was
        return None


def _apply_local(
    conn: Connection,
    customer,
    claim: Claim,
    settings: Settings,
    sessions: "_SessionCalls | None" = None,
    outcomes: "list[Settlement] | None" = None,
) -> RunResult:
    """Apply one local effect and settle it, or leave its settlement in `outcomes` for the caller
    to record before its transaction ends."""
    outcome, follow_ups = _LOCAL[Effect(claim.name)](conn, customer, claim, settings, sessions)
    if outcomes is not None:
        outcomes.append(Settlement(claim.effect_id, claim.attempt, outcome.state, outcome.note, claim.until))
        return RunResult(claim.effect_id, outcome.state.value, follow_ups=follow_ups)
    settled = _SETTLE.rows(
        conn,
        {
            "effect_id": claim.effect_id,
            "attempt": claim.attempt,
            "new_state": outcome.state.value,
            "new_note": outcome.note,
            "now": utcnow(),
        },
    )
    if not settled:
        raise _Overtaken
    return RunResult(claim.effect_id, outcome.state.value, follow_ups=follow_ups)


def _superseded(customer) -> Outcome:
    return Outcome(EffectState.SKIPPED, f"superseded: the customer is {customer.status} now")


def _provisioning_calls(
    conn, customer, claim: Claim, services, effect: Effect, status: ServiceStatus, settings: Settings
) -> list[Claim]:
    """One provisioning call per service changed, written already claimed (attempt 1) and
    described from what this transaction just wrote. If the worker dies before making them, their
    claim lapses and the relay publishes them like any other pending effect."""
    if not settings.provisioning_webhook_url or not services:
        return []
    now = utcnow()
    until = now + timedelta(seconds=settings.effect_claim_seconds)
    # Same transition as the effect that caused them, so the history shows them together.
    rows = [
        {
            **new_effect(effect, customer.id, now, transition_id=claim.transition_id, service_id=s.id, origin="effect"),
            "attempts": 1,
            "claimed_until": until,
            "claimed_by": heartbeats.this_process(),
        }
        for s in services
    ]
    ids = conn.execute(QUEUE_EFFECTS, rows).scalars()
    return [
        Claim(
            effect_id,
            effect.value,
            1,
            customer.id,
            claim.transition_id,
            until,
            provisioning_delivery(
                effect, effect_id, now, service.id, service.external_ref, customer.id, customer.external_ref, status
            ),
        )
        for effect_id, service in zip(ids, services, strict=True)
    ]


def _session_calls(conn, claim: Claim, service_ids: list[int], settings: Settings) -> list[Claim]:
    """The logins of the services changed move to their new group in this transaction (RADIUS in
    the same database); their open sessions are dropped next, by effects written already claimed."""
    calls = _SessionCalls()
    calls.add(claim, service_ids)
    return calls.queue(conn, settings).get(claim.effect_id, [])


class _SessionCalls:
    """The services changed by the local effects of one transaction, their logins' rows written
    and their session effects queued together (a few statements for a sweep's whole message)."""

    def __init__(self) -> None:
        self.changes: list[tuple[Claim, list[int]]] = []

    def add(self, claim: Claim, service_ids: list[int]) -> None:
        if service_ids:
            self.changes.append((claim, service_ids))

    def queue(self, conn, settings: Settings) -> dict[int, list[Claim]]:
        """Follow-up claims by the effect id of the local effect that changed the services."""
        if not self.changes:
            return {}
        until = utcnow() + timedelta(seconds=settings.effect_claim_seconds)
        queued = services_changed_many(
            conn,
            settings,
            [(service_ids, claim.transition_id) for claim, service_ids in self.changes],
            Effect.RADIUS_DISCONNECT,
            claimed=Claimed(until, heartbeats.this_process()),
        )
        return {
            claim.effect_id: [
                Claim(effect_id, Effect.RADIUS_DISCONNECT.value, 1, facts.customer_id, claim.transition_id, until)
                for effect_id, facts in made
            ]
            for (claim, _), made in zip(self.changes, queued, strict=True)
        }


def services_out_of_line(line: ServicesInLine) -> ColumnElement[bool]:
    """The services (of any customer: the caller says whose) that disagree with the status this
    line belongs to: those its local effect changes, and those the reconciler counts as drift."""
    clauses = [_services.c.status == line.out_of_line.value]
    if line.out_of_line_cause is not None:
        clauses.append(_services.c.suspension_cause == line.out_of_line_cause.value)
    return and_(*clauses)


def _bring_in_line(line: ServicesInLine) -> DriverStatement:
    """One statement: the customer's services out of line take the status they should have; a
    suspension records that the customer's status caused it (so an activation undoes only those)."""
    suspends = line.becomes is ServiceStatus.SUSPENDED
    return DriverStatement(
        update(_services)
        .where(_services.c.customer_id == bindparam("owner_id"), services_out_of_line(line))
        .values(
            status=line.becomes.value,
            suspension_cause=SuspensionCause.CUSTOMER_INACTIVE.value if suspends else None,
            suspension_note=None,
            suspended_at=bindparam("now") if suspends else None,
            updated_at=bindparam("now"),
        )
        .returning(_services.c.id, _services.c.external_ref),
        "ServiceBroughtInLine",
    )


# The statements of every payment's and every cut's local effects: on the driver's cursor on
# PostgreSQL (db/driver.py), as the customer's lock before them.
_SET_INVOICING = DriverStatement(
    update(_customers).where(_customers.c.id == bindparam("customer_id")).values(invoicing_enabled=bindparam("enabled"))
)
_SETTLE = DriverStatement(SETTLE, "Settled")
_VERBS = {ServiceStatus.SUSPENDED: "suspended", ServiceStatus.ACTIVE: "restored"}  # for the effect's note


def _change_services(wanted: CustomerStatus, line: ServicesInLine):
    statement = _bring_in_line(line)

    def apply(conn, customer, claim: Claim, settings: Settings, sessions: "_SessionCalls | None"):
        if customer.status != wanted:
            return _superseded(customer), []
        services = statement.rows(conn, {"owner_id": customer.id, "now": utcnow()})
        calls = _provisioning_calls(conn, customer, claim, services, line.provisioning, line.becomes, settings)
        if sessions is None:
            calls += _session_calls(conn, claim, [s.id for s in services], settings)
        else:  # queued with those of the other customers of the transaction
            sessions.add(claim, [s.id for s in services])
        return Outcome(EffectState.DONE, f"{len(services)} service(s) {_VERBS[line.becomes]}"), calls

    return apply


def _set_invoicing(enabled: bool, wanted: CustomerStatus):
    def apply(conn, customer, claim: Claim, settings: Settings, sessions: "_SessionCalls | None"):
        if customer.status != wanted:
            return _superseded(customer), []
        if customer.invoicing_enabled == enabled:
            return Outcome(EffectState.DONE, f"invoicing was already {'on' if enabled else 'paused'}"), []
        _SET_INVOICING.rows(conn, {"customer_id": customer.id, "enabled": enabled})
        return Outcome(EffectState.DONE, "invoicing resumed" if enabled else "invoicing paused"), []

    return apply


# Each local effect acts only while the customer is in the status it serves (else: superseded).
_LOCAL = {
    effect: apply
    for status, alignment in ALIGNMENT.items()
    for effect, apply in (
        (alignment.services.effect, _change_services(status, alignment.services)),
        (alignment.invoicing.effect, _set_invoicing(alignment.invoicing.enabled, status)),
    )
}
