"""The rule of an automatic cut has one definition, the domain's (Policy.not_due, held_off,
warning_due, over overdue_of's aggregate); the sweep's SQL is its fast path. Hypothesis draws
customers with random invoice sets (open, paid, cancelled; amounts unknown, partly or fully paid; due
around the day), exemptions, trust unlocks ending before or after now, forced holds ending before,
on or after the day, statuses, and a random policy (grace, minimum, weekdays without cuts, a state's
holidays) on a random day (weekends and Brazilian holidays included). On SQLite and PostgreSQL,
the SQL candidate sets and what the sweep and the warnings actually do must be the domain's answer."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import holidays
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from tests.conftest import empty_tables
from workflow.db.models import Customer, Invoice
from workflow.db.types import utcnow
from workflow.domain.delinquency import WEEKDAYS, CustomerCutFacts, InvoiceFacts, Policy, overdue_of
from workflow.domain.vocabulary import CustomerStatus, InactivationReason, InvoiceStatus
from workflow.settings import Settings
from workflow.usecases import delinquency, timers

FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2027, 12, 31)
SUBDIVISIONS = (None, "SP", "RJ", "BA")
HOLIDAYS = sorted(
    {
        day
        for subdivision in SUBDIVISIONS
        for day in holidays.country_holidays("BR", subdiv=subdivision, years=range(2025, 2028))
    }
)
MINIMUMS = ("0", "0.01", "0.015", "1.00", "49.995", "50.00", "99.99")  # some below a cent's precision


@dataclass(frozen=True)
class DrawnInvoice:
    status: str
    due_date: date | None
    amount: Decimal | None
    amount_paid: Decimal


@dataclass(frozen=True)
class DrawnCustomer:
    status: str
    inactivation_reason: str | None
    auto_block_exempt: bool
    trust_unlock_in: timedelta | None  # from the moment the example starts
    forced_hold_until: date | None
    warned_for_due: date | None
    invoices: list[DrawnInvoice] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    today: date
    grace_days: int
    min_overdue_amount: Decimal
    no_cut_weekdays: str
    holiday_subdivision: str | None
    warning_days: int
    customers: list[DrawnCustomer]

    def policy(self) -> Policy:
        """Built the way the service builds it, with the real Brazilian calendar."""
        return delinquency.policy_from(
            Settings(
                grace_days=self.grace_days,
                min_overdue_amount=self.min_overdue_amount,
                no_cut_weekdays=self.no_cut_weekdays,
                holiday_subdivision=self.holiday_subdivision,
            )
        )


def cents(value: int) -> Decimal:
    return Decimal(value) / 100


def least_cents(minimum: Decimal) -> int:
    return int((minimum * 100).to_integral_value(rounding=ROUND_CEILING))


def amounts(minimum: Decimal) -> st.SearchStrategy[Decimal | None]:
    """Unknown, anything, or about the minimum: the cents either side of it (a minimum may have
    more than two decimal places), or half of it (two invoices reach it together)."""
    least = least_cents(minimum)
    near = sorted({cents(c) for c in (least - 1, least, least + 1, least // 2, least - least // 2) if c >= 0})
    return st.one_of(st.none(), st.integers(0, 30_000).map(cents), st.sampled_from(near), st.sampled_from(near))


@st.composite
def debt_on_the_edge(draw, today: date, grace_days: int, minimum: Decimal) -> list[DrawnInvoice]:
    """One open invoice on the last day of grace or the first past it, owing the minimum or a cent
    less: where a `<` for a `<=` in the rule shows."""
    days_overdue = draw(st.sampled_from([grace_days, grace_days + 1]))
    owed = cents(max(0, least_cents(minimum) - draw(st.sampled_from([0, 1]))))
    return [DrawnInvoice(InvoiceStatus.OPEN.value, today - timedelta(days=days_overdue), owed, Decimal(0))]


@st.composite
def invoices(draw, today: date, grace_days: int, minimum: Decimal) -> DrawnInvoice:
    # Past the grace, within it or not due yet, or on the last day of grace, the first day past
    # it, the due day.
    days_overdue = draw(
        st.one_of(
            st.integers(grace_days + 1, 60),
            st.integers(-5, grace_days),
            st.sampled_from([grace_days, grace_days + 1, 0, 1]),
        )
    )
    due_date = draw(st.sampled_from([today - timedelta(days=days_overdue)] * 30 + [None]))
    amount = draw(amounts(minimum))
    owed = int((amount or 0) * 100)
    # Unpaid, paid in full or in part; with nothing owed, maybe paid anyway (owing less than nothing).
    paid = draw(st.sampled_from([0, 0, 0, owed]) | st.integers(0, owed) if owed else st.sampled_from([0, 0, 500]))
    status = draw(st.sampled_from([InvoiceStatus.OPEN] * 4 + [InvoiceStatus.PAID, InvoiceStatus.CANCELLED]))
    return DrawnInvoice(status.value, due_date, amount, cents(paid))


# What may spare a customer, one at a time (so that each meets a debt that is due often enough to
# show a fault), each boundary on either side, or several at once.
CASES = (
    "plain",
    "inactive",
    "exempt",
    "trust unlock running",
    "trust unlock ended",
    "hold ended",
    "hold ends today",
    "hold runs on",
    "anything",
)


@st.composite
def customers(draw, today: date, grace_days: int, minimum: Decimal) -> DrawnCustomer:
    case = draw(st.sampled_from(CASES) | st.just("plain"))
    anything = case == "anything"
    inactive = case == "inactive" or (anything and draw(st.booleans()))
    reason = draw(st.sampled_from(list(InactivationReason))).value if inactive else None
    exempt = case == "exempt" or (anything and draw(st.booleans()))
    # At least ten minutes from now either way: the example's run never crosses a deadline.
    running, ended = st.integers(10, 3 * 24 * 60), st.integers(-3 * 24 * 60, -10)
    trust_minutes = (
        draw(running)
        if case == "trust unlock running"
        else draw(ended)
        if case == "trust unlock ended"
        else draw(st.none() | running | ended)
        if anything
        else None
    )
    hold_days = {
        "hold ended": st.sampled_from([-1, -3]),
        "hold ends today": st.just(0),
        "hold runs on": st.sampled_from([1, 6]),
        "anything": st.none() | st.integers(-3, 6),
    }.get(case, st.none())
    hold_until = draw(hold_days.map(lambda days: None if days is None else today + timedelta(days=days)))
    drawn = draw(
        st.one_of(
            debt_on_the_edge(today, grace_days, minimum), st.lists(invoices(today, grace_days, minimum), max_size=4)
        )
    )
    due_dates = sorted({i.due_date for i in drawn if i.due_date is not None})
    # Never warned, warned for an earlier episode, or for one of these invoices.
    warned = draw(st.sampled_from([None, today - timedelta(days=200), *due_dates]))
    return DrawnCustomer(
        CustomerStatus.INACTIVE.value if inactive else CustomerStatus.ACTIVE.value,
        reason,
        exempt,
        None if trust_minutes is None else timedelta(minutes=trust_minutes),
        hold_until,
        warned,
        drawn,
    )


@st.composite
def scenarios(draw) -> Scenario:
    today = draw(
        st.one_of(
            st.dates(FIRST_DAY, LAST_DAY),
            st.sampled_from(HOLIDAYS),
            st.sampled_from(HOLIDAYS).map(lambda day: day - timedelta(days=1)),
        )
    )
    grace_days = draw(st.integers(0, 20))
    minimum = Decimal(draw(st.sampled_from(MINIMUMS)))
    weekdays = draw(st.sets(st.integers(0, 6), max_size=3))
    return Scenario(
        today=today,
        grace_days=grace_days,
        min_overdue_amount=minimum,
        no_cut_weekdays=",".join(WEEKDAYS[day] for day in sorted(weekdays)),
        holiday_subdivision=draw(st.sampled_from(SUBDIVISIONS)),
        warning_days=draw(st.integers(0, 10)),
        customers=draw(st.lists(customers(today, grace_days, minimum), min_size=2, max_size=7)),
    )


def write(db, scenario: Scenario, start: datetime) -> dict[int, DrawnCustomer]:
    """The drawn customers and invoices, in one transaction; their ids."""
    written = {}
    with db.write() as session:
        conn = session.connection()
        for n, drawn in enumerate(scenario.customers):
            customer_id = conn.execute(
                insert(Customer).returning(Customer.id),
                {
                    "name": f"Drawn {n}",
                    "document": f"{n:011d}",
                    "document_type": "cpf",
                    "status": drawn.status,
                    "inactivation_reason": drawn.inactivation_reason,
                    "status_changed_at": start,
                    "invoicing_enabled": drawn.status == CustomerStatus.ACTIVE,
                    "auto_block_exempt": drawn.auto_block_exempt,
                    "trust_unlock_until": None if drawn.trust_unlock_in is None else start + drawn.trust_unlock_in,
                    "trust_unlocks_used": 0 if drawn.trust_unlock_in is None else 1,
                    "forced_hold_until": drawn.forced_hold_until,
                    "warned_for_due": drawn.warned_for_due,
                    "version": 1,
                    "created_at": start,
                    "updated_at": start,
                },
            ).scalar_one()
            if drawn.invoices:
                conn.execute(
                    insert(Invoice),
                    [
                        {
                            "external_id": f"drawn-{customer_id}-{k}",
                            "customer_id": customer_id,
                            "amount": i.amount,
                            "amount_paid": i.amount_paid,
                            "due_date": i.due_date,
                            "status": i.status,
                            "created_at": start,
                            "updated_at": start,
                        }
                        for k, i in enumerate(drawn.invoices)
                    ],
                )
            written[customer_id] = drawn
    return written


def facts_of(drawn: DrawnCustomer, start: datetime) -> CustomerCutFacts:
    """The customer as drawn, in the domain's terms (no database read)."""
    return CustomerCutFacts(
        drawn.status,
        drawn.auto_block_exempt,
        None if drawn.trust_unlock_in is None else start + drawn.trust_unlock_in,
        drawn.forced_hold_until,
        drawn.warned_for_due,
    )


def statuses(db) -> dict[int, str]:
    with db.read() as session:
        return {row.id: row.status for row in session.execute(select(Customer.id, Customer.status))}


def edge_debt(today: date, days_overdue: int, owed: str) -> list[DrawnInvoice]:
    return [DrawnInvoice(InvoiceStatus.OPEN.value, today - timedelta(days=days_overdue), Decimal(owed), Decimal(0))]


TUESDAY = date(2026, 12, 1)
# The edges every run checks, whatever hypothesis draws: a minimum finer than a cent, the last day
# of grace and the first past it, a hold ending today and yesterday, a trust unlock running.
EDGES = Scenario(
    TUESDAY,
    15,
    Decimal("0.015"),
    "sat,sun",
    None,
    5,
    [
        DrawnCustomer("active", None, False, None, None, None, edge_debt(TUESDAY, 16, "0.01")),
        DrawnCustomer("active", None, False, None, None, None, edge_debt(TUESDAY, 16, "0.02")),
        DrawnCustomer("active", None, False, None, None, None, edge_debt(TUESDAY, 15, "0.02")),
        DrawnCustomer("active", None, False, None, TUESDAY, None, edge_debt(TUESDAY, 16, "0.02")),
        DrawnCustomer("active", None, False, None, TUESDAY - timedelta(days=1), None, edge_debt(TUESDAY, 16, "0.02")),
        DrawnCustomer("active", None, False, timedelta(hours=1), None, None, edge_debt(TUESDAY, 16, "0.02")),
    ],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
@example(scenario=EDGES)
def test_the_sql_fast_path_the_sweep_and_the_warnings_follow_the_domain_rule(db, scenario):
    empty_tables(db)
    start = utcnow()
    written = write(db, scenario, start)
    policy, today = scenario.policy(), scenario.today
    now = utcnow()
    overdue = {
        cid: overdue_of([InvoiceFacts(i.status, i.due_date, i.amount, i.amount_paid) for i in drawn.invoices], today)
        for cid, drawn in written.items()
    }
    facts = {cid: facts_of(drawn, start) for cid, drawn in written.items()}
    not_due = {cid: policy.not_due(facts[cid], overdue[cid], today, now) for cid in written}
    due = sorted(cid for cid, answer in not_due.items() if answer is None)
    for answer in not_due.values():  # how often each answer comes up (--hypothesis-show-statistics)
        event("due" if answer is None else f"not due: {answer.reason}")
    held = {cid: until for cid in written if (until := policy.held_off(facts[cid], overdue[cid], today, now))}
    warned = sorted(
        cid for cid in written if policy.warning_due(facts[cid], overdue[cid], today, scenario.warning_days) is not None
    )

    # The SQL fast path: the same customers, with the same overdue facts.
    with db.read() as session:
        found = delinquency.candidates(session, policy, today, now=now)
        assert {c.customer_id: (c.oldest_due, c.overdue_total, c.overdue_invoices) for c in found} == {
            cid: tuple(overdue[cid]) for cid in due
        }
        assert {
            c.customer_id: c.held_until for c in delinquency.held_candidates(session, policy, today, now=now)
        } == held
        assert all(delinquency.overdue_facts(session, cid, today) == overdue[cid] for cid in written)
        assert set(warned) <= set(delinquency.candidates_for_warning(session, today))

    # What the warnings and the sweep actually do.
    assert timers.queue_warnings(db, policy, today, scenario.warning_days) == warned
    assert timers.queue_warnings(db, policy, today, scenario.warning_days) == []  # once per episode
    before = statuses(db)
    run = delinquency.run_sweep(db, policy, today, batch_size=2)
    cut_by_sweep = [cid for cid in due if policy.sweep_cuts(facts[cid], overdue[cid], today, now)]
    assert run.not_a_cut_day == policy.why_not_a_cut_day(today)
    assert (sorted(run.inactivated), run.skipped) == (cut_by_sweep, {})
    assert statuses(db) == before | dict.fromkeys(cut_by_sweep, CustomerStatus.INACTIVE.value)

    # A batch of everyone: what the sweep left due is cut (on a day without cuts), every other
    # customer is skipped with the domain's reason, and no answer of the SQL contradicts the domain
    # (that would raise SweepRuleDrift).
    everyone = sorted(written)
    batch = delinquency.inactivate_due(db, policy, everyone, today)
    left_due = [cid for cid in due if cid not in cut_by_sweep]
    assert sorted(batch.inactivated) == left_due
    after = {
        cid: CustomerCutFacts(CustomerStatus.INACTIVE.value) if cid in cut_by_sweep else facts[cid] for cid in everyone
    }
    assert batch.skipped == {
        cid: delinquency.why_skipped(policy.not_due(after[cid], overdue[cid], today, utcnow()))
        for cid in everyone
        if cid not in left_due
    }
