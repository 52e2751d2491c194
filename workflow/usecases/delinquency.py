"""The delinquency sweep: who is due for a cut today, and cutting them a batch at a time.

Who is due is the domain's rule (domain/delinquency.py, Policy.not_due); the queries here are its
fast path, proved equal to it by tests/integration/test_due_rule_property.py. Candidates are found
with one set-based query; each batch is cut in one transaction that locks
the batch's customer rows, re-checks the rule under those locks, and writes for every customer
still due exactly what a normal transition (reason `delinquency`, source `scheduler`) writes:
the customer's new state, a history row and one outbox row per effect. A payment committed at any
moment before the lock wins; one committed after it reactivates the customer (see
usecases/billing.py). Running the sweep twice cuts nobody twice.
"""

from collections.abc import Callable
from dataclasses import astuple, dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import BigInteger, Connection, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from ..db.bulk import id_list
from ..db.engine import Database
from ..db.models import Customer, Invoice
from ..db.types import utcnow
from ..domain import brazilian, limits
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import (
    NOTHING_OVERDUE,
    CustomerCutFacts,
    NotDue,
    NotDueReason,
    Overdue,
    Policy,
    parse_weekdays,
)
from ..domain.errors import AtivaError
from ..domain.freeze import Freeze
from ..domain.vocabulary import CustomerEvent, CustomerStatus, InvoiceStatus, Role, Source
from ..settings import Settings, get_settings
from . import sweep_dispatch
from .batch_writes import Decided, write_decided
from .business_day import provider_calendar, provider_today
from .customer_locks import lock_customers_in_id_order
from .effect_bus import publish_groups_after_commit
from .freeze import freeze_in_force, read_state, trip_on_payment_silence
from .progress import BatchesDone, OnBatch, batch_sizes
from .transitions import (
    Actor,
    Decision,
    decide,
    guard_facts,
    history_row,
    state_of,
)

SCHEDULER = Actor(name="scheduler", role=Role.ADMIN)


def business_day(as_of: date | None, timezone: str) -> date:
    """The day a sweep or its preview is for: `as_of` when given (within the accepted dates),
    else today in the provider's time zone."""
    today = provider_today(timezone)
    return today if as_of is None else limits.check_date("as_of", as_of, today)


def policy_from(settings: Settings) -> Policy:
    return Policy(
        grace_days=settings.grace_days,
        min_overdue_amount=settings.min_overdue_amount,
        no_cut_weekdays=parse_weekdays(settings.no_cut_weekdays),
        is_holiday=provider_calendar(settings),
        ladder=settings.ladder,
    )


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    name: str
    external_ref: str | None
    overdue_total: Decimal
    oldest_due: date
    days_overdue: int
    overdue_invoices: int


@dataclass(frozen=True)
class HeldCandidate(Candidate):
    """Due by the rule, but a forced activation holds the cuts off through `held_until`."""

    held_until: date
    reason: str = "forced_activation_hold"


def _not_held(today: date):
    """SQL form of domain.delinquency.is_held, negated: no hold, or its date has passed."""
    return or_(Customer.forced_hold_until.is_(None), Customer.forced_hold_until < today)


def _overdue_by_customer(today: date):
    """SQL form of domain.delinquency.overdue_of, per customer: open invoices due before `today`,
    each owing its amount (none when unknown) less what was paid."""
    cents_due = func.coalesce(type_coerce(Invoice.amount, BigInteger), 0) - type_coerce(Invoice.amount_paid, BigInteger)
    return (
        select(
            Invoice.customer_id.label("customer_id"),
            func.min(Invoice.due_date).label("oldest_due"),
            func.sum(cents_due).label("cents"),
            func.count().label("invoices"),
        )
        .where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
        .group_by(Invoice.customer_id)
    )


def overdue_subquery(today: date):
    """The per-customer overdue aggregate (customer_id, oldest_due, cents, invoices), for other
    use cases' queries (the ladder's preview)."""
    return _overdue_by_customer(today)


def money_of_cents(cents: int) -> Decimal:
    return _money(cents)


def _least_cents(amount: Decimal) -> int:
    """The fewest whole cents that reach `amount`: totals are whole cents, so `cents >= this` is
    exactly `total >= amount`, even for a minimum with more than two decimal places."""
    return int((amount * 100).to_integral_value(rounding=ROUND_CEILING))


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def _due(
    policy: Policy, today: date, among: list[int] | None = None, *, held: bool = False, now: datetime | None = None
):
    """The fast path of domain.delinquency.Policy.not_due (customers for whom it answers None),
    or with `held` of Policy.held_off (those only a forced activation's hold spares), as one query
    with their overdue facts; tests/integration/test_due_rule_property.py proves them equal. `now`
    (default: the database clock) is the instant a trust unlock is compared with; `among` narrows
    the invoice aggregate itself (the planner would not push an IN list into it)."""
    invoices = _overdue_by_customer(today)
    if among is not None:
        invoices = invoices.where(Invoice.customer_id.in_(id_list("among", among)))
    overdue = invoices.having(
        func.min(Invoice.due_date) < today - timedelta(days=policy.grace_days),
        func.sum(
            func.coalesce(type_coerce(Invoice.amount, BigInteger), 0) - type_coerce(Invoice.amount_paid, BigInteger)
        )
        >= _least_cents(policy.min_overdue_amount),
    ).subquery()
    return (
        select(
            Customer.id,
            Customer.name,
            Customer.external_ref,
            overdue.c.oldest_due,
            overdue.c.cents,
            overdue.c.invoices,
            Customer.forced_hold_until,
        )
        .join(overdue, overdue.c.customer_id == Customer.id)
        .where(
            Customer.status == CustomerStatus.ACTIVE,
            Customer.auto_block_exempt.is_(False),
            # A trust unlock holds until its deadline; the timers cut it then if still unpaid.
            or_(
                Customer.trust_unlock_until.is_(None), Customer.trust_unlock_until <= (utcnow() if now is None else now)
            ),
            ~_not_held(today) if held else _not_held(today),
        )
        .order_by(Customer.id)
    )


def _candidate(row, today: date) -> Candidate:
    return Candidate(
        row.id,
        row.name,
        row.external_ref,
        _money(row.cents),
        row.oldest_due,
        (today - row.oldest_due).days,
        row.invoices,
    )


def candidates(
    session: Session | Connection,
    policy: Policy,
    today: date,
    among: list[int] | None = None,
    *,
    now: datetime | None = None,
) -> list[Candidate]:
    """Customers due for a cut on `today` (whether or not it is a cut day) by Policy.not_due, in
    one query; `among` limits it to those customers."""
    return [_candidate(row, today) for row in session.execute(_due(policy, today, among, now=now))]


def held_candidates(
    session: Session | Connection, policy: Policy, today: date, *, now: datetime | None = None
) -> list[HeldCandidate]:
    """Customers the rule would cut on `today` but a forced activation's hold skips (Policy.held_off;
    the preview lists them, with the hold's date)."""
    return [
        HeldCandidate(**vars(_candidate(row, today)), held_until=row.forced_hold_until)
        for row in session.execute(_due(policy, today, held=True, now=now))
    ]


def due_customer_ids(session: Session, policy: Policy, today: date) -> list[int]:
    return list(session.scalars(_due(policy, today).with_only_columns(Customer.id)))


def candidates_for_warning(session: Session, today: date) -> list[int]:
    """The SQL pre-filter of Policy.warning_due: active, non-exempt customers with an open invoice
    past due and no warning for it yet. A superset (the amount and the projected cut, which needs
    the calendar, are weighed in Python under each customer's lock); the property test proves that
    it leaves out nobody the domain warns."""
    overdue = _overdue_by_customer(today).subquery()
    return list(
        session.scalars(
            select(Customer.id)
            .join(overdue, overdue.c.customer_id == Customer.id)
            .where(
                Customer.status == CustomerStatus.ACTIVE,
                Customer.auto_block_exempt.is_(False),
                (Customer.warned_for_due.is_(None)) | (Customer.warned_for_due != overdue.c.oldest_due),
            )
            .order_by(Customer.id)
        )
    )


def overdue_facts(session: Session | Connection, customer_id: int, today: date) -> Overdue:
    """(oldest due date, overdue total, invoices) of one customer's open invoices past due."""
    row = session.execute(_overdue_by_customer(today).where(Invoice.customer_id == customer_id)).one_or_none()
    return NOTHING_OVERDUE if row is None else Overdue(row.oldest_due, _money(row.cents), row.invoices)


def overdue_by_customer(session: Session | Connection, customer_ids: list[int], today: date) -> dict[int, Overdue]:
    """The overdue facts of those customers who owe something past due, in one query."""
    rows = session.execute(
        _overdue_by_customer(today).where(Invoice.customer_id.in_(id_list("customer_ids", customer_ids)))
    )
    return {row.customer_id: Overdue(row.oldest_due, _money(row.cents), row.invoices) for row in rows}


def cut_facts(row) -> CustomerCutFacts:
    """What the domain's cut rule reads of a customer (an ORM object or a row with its columns;
    the sweep's lock does not read `warned_for_due`, which only the warning rule needs)."""
    return CustomerCutFacts(
        row.status,
        row.auto_block_exempt,
        row.trust_unlock_until,
        row.forced_hold_until,
        getattr(row, "warned_for_due", None),
    )


@dataclass
class BatchResult:
    inactivated: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


class SweepRuleDrift(RuntimeError):
    """The SQL re-check found a customer due but the state machine refuses to cut it: the two
    expressions of the rule disagree. Nothing of the batch is written."""


def cut_request(today: date, facts: Candidate) -> TransitionRequest:
    """The request of a sweep cut: reason delinquency, with the debt that justified it as note
    (in Portuguese: operators read it in the history)."""
    note = (
        f"Corte automático de {brazilian.day(today)}: {facts.overdue_invoices} fatura(s) vencida(s), "
        f"total {brazilian.money(facts.overdue_total)}, a mais antiga vencida em "
        f"{brazilian.day(facts.oldest_due)}."
    )
    return TransitionRequest("delinquency", note, actor_role=SCHEDULER.role, automatic=True)


def why_skipped(not_due: NotDue) -> str:
    """A batch's skip, in words, from the domain's reason."""
    match not_due.reason:
        case NotDueReason.NOT_ACTIVE:
            return f"already {not_due.status}"
        case NotDueReason.EXEMPT:
            return "exempt from automatic blocks"
        case NotDueReason.TRUST_UNLOCK:
            return "on a trust unlock until its deadline"
        case NotDueReason.FORCED_HOLD:
            return f"held by a forced activation through {not_due.until}"  # a date: ISO
        case NotDueReason.NOTHING_OVERDUE:
            return "no longer due (nothing past due)"
        case NotDueReason.WITHIN_GRACE:
            return "no longer due (within the grace period)"
        case NotDueReason.BELOW_MINIMUM:
            return "no longer due (less than the minimum amount past due)"
    raise AssertionError(f"unknown reason {not_due.reason}")


def _why_not_due(policy: Policy, customer_id: int, locked, overdue: Overdue, today: date, now: datetime) -> str:
    if locked is None:
        return f"customer {customer_id} does not exist"
    not_due = policy.not_due(cut_facts(locked), overdue, today, now)
    if not_due is None:
        raise SweepRuleDrift(
            f"customer {customer_id} is due by the domain's rule, but the sweep's SQL left it "
            "out: the two disagree; nothing of this batch was written"
        )
    return why_skipped(not_due)


def _confirm_due(policy: Policy, locked, facts: Candidate, today: date, now: datetime) -> None:
    """The domain's rule confirms every cut its SQL fast path picked."""
    overdue = Overdue(facts.oldest_due, facts.overdue_total, facts.overdue_invoices)
    not_due = policy.not_due(cut_facts(locked), overdue, today, now)
    if not_due is not None:
        raise SweepRuleDrift(
            f"customer {locked.id} is due by the sweep's SQL, but not by the domain's rule "
            f"({why_skipped(not_due)}): the two disagree; nothing of this batch was written"
        )


def inactivate_due(db: Database, policy: Policy, customer_ids: list[int], today: date) -> BatchResult:
    """Cut, in one transaction, every customer of the batch still due once the batch is locked;
    the others are skipped, with the reason."""
    result = BatchResult()
    with db.write() as session:
        conn = session.connection()
        # The re-check is a statement of its own *after* the lock: on PostgreSQL a statement that
        # waited for a lock keeps its old snapshot for everything but the locked rows. It is the
        # fast path of the domain's rule (Policy.not_due and the machine's delinquency guard), one
        # statement per batch instead of two reads per customer; the domain then confirms each
        # answer on the facts read, and test_due_rule_property.py proves the two equal.
        locked = {row.id: row for row in lock_customers_in_id_order(conn, customer_ids)}
        frozen = freeze_in_force(conn)  # a freeze recorded meanwhile stops this batch whole
        if frozen is not None:
            result.skipped = dict.fromkeys(customer_ids, frozen.describe())
            return result
        now = utcnow()  # once the locks are held: the instant SQL and domain compare trust unlocks with
        due = candidates(conn, policy, today, among=sorted(locked), now=now)
        for facts in due:
            _confirm_due(policy, locked[facts.customer_id], facts, today, now)
        left_out = sorted(set(customer_ids) - {c.customer_id for c in due})
        existing = [customer_id for customer_id in left_out if customer_id in locked]
        overdue = overdue_by_customer(conn, existing, today) if existing else {}
        for customer_id in left_out:
            result.skipped[customer_id] = _why_not_due(
                policy, customer_id, locked.get(customer_id), overdue.get(customer_id, NOTHING_OVERDUE), today, now
            )
        if due:
            effect_groups = _cut(conn, [(locked[c.customer_id], c) for c in due], today)
            publish_groups_after_commit(session, effect_groups)
            result.inactivated = [c.customer_id for c in due]
    return result


def _cut(conn: Connection, due: list[tuple], today: date) -> list[list[int]]:
    """Write the cuts of (locked row, overdue facts) pairs exactly as transition_customer writes one
    (batch_writes.write_decided), many rows per statement; returns the effect ids, a list per customer."""
    now = utcnow()
    decided: list[Decided] = []
    for members in _group_by_prior_state(due).values():
        first_row, first_facts = members[0]
        decision = _decide_cut(first_row, first_facts, today, now)
        decided += [
            Decided(
                row,
                decision,
                history_row(
                    row.id,
                    row.version + 1,
                    CustomerEvent.INACTIVATE,
                    row.status,
                    decision,
                    cut_request(today, facts),
                    SCHEDULER,
                    Source.SCHEDULER,
                    now,
                ),
            )
            for row, facts in members
        ]
    return write_decided(conn, decided, now).effect_groups


def _group_by_prior_state(due: list[tuple]) -> dict[tuple, list[tuple]]:
    """The state machine stays the authority over the cut: it decides once per distinct prior
    lifecycle state in the batch (nearly always one), since a cut's outcome depends on that state
    and the request, not on the amount owed. A refusal fails the whole batch."""
    groups: dict[tuple, list[tuple]] = {}
    for row, facts in due:
        # The ladder's step is left out: the cut ends it whatever it was (on_inactivate).
        prior = astuple(replace(state_of(row), delinquency_stage="none", notice_snoozed_until=None))
        groups.setdefault(prior, []).append((row, facts))
    return groups


def _decide_cut(row, facts: Candidate, today: date, now: datetime) -> Decision:
    try:
        return decide(
            row.id,
            state_of(row),
            CustomerEvent.INACTIVATE,
            cut_request(today, facts),
            guard_facts(facts.overdue_invoices, now, today),
        )
    except AtivaError as refused:
        raise SweepRuleDrift(
            f"customer {row.id} is due by the sweep's SQL rule, but the state machine refuses to cut "
            f"it ({refused.detail}): the two disagree; nothing of this batch was written"
        ) from refused


@dataclass
class SweepRun:
    as_of: date
    not_a_cut_day: str | None
    candidates: int = 0
    batches: int = 0
    inactivated: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    frozen: Freeze | None = None  # the freeze that stopped the run: nobody was cut
    tripped: bool = False  # the run itself froze the cuts, on a payment silence


def run_sweep(
    db: Database,
    policy: Policy,
    today: date,
    batch_size: int,
    dispatch: Callable[[list[int]], None] | None = None,
    on_batch: OnBatch | None = None,
) -> SweepRun:
    """Find the due customers in one query, then cut them here batch by batch, or hand each batch
    to `dispatch` (Celery tasks that several workers share); `on_batch` hears of each batch cut or
    handed over. Before anything, a payment silence freezes the cuts; a freeze that holds stops the
    run (each batch checks it again)."""
    run = SweepRun(today, policy.why_not_a_cut_day(today))
    run.tripped = trip_on_payment_silence(db, get_settings()) is not None
    with db.read() as session:
        state = read_state(session)
    if state.holds:
        run.frozen = state.freeze
        return run
    if run.not_a_cut_day:
        return run
    with db.read() as session:
        due = due_customer_ids(session, policy, today)
    run.candidates = len(due)
    of_batches = len(batch_sizes(len(due), batch_size))
    for start in range(0, len(due), batch_size):
        batch = due[start : start + batch_size]
        run.batches += 1
        if dispatch is not None:
            dispatch(batch)
        else:
            done = inactivate_due(db, policy, batch, today)
            run.inactivated += done.inactivated
            run.skipped.update(done.skipped)
        if on_batch is not None:
            on_batch(BatchesDone(start + len(batch), len(due), run.batches, of_batches))
    return run


def dispatch_sweep(db: Database, policy: Policy, today: date, batch_size: int) -> SweepRun:
    """The run the API and the UI start: the batches go to the workers through the installed
    dispatcher (sweep_dispatch), several workers sharing them."""
    dispatch = sweep_dispatch.installed_dispatcher()  # refused before anything is queued
    return run_sweep(db, policy, today, batch_size, dispatch=lambda ids: dispatch(ids, today))
