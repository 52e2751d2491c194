"""The rule of an automatic cut has one definition, the domain's (Policy.not_due, held_off,
warning_due, over overdue_of's aggregate); the sweep's SQL is its fast path. Hypothesis draws
customers with random invoice sets (open, paid, cancelled; amounts unknown, partly or fully paid; due
around the day), exemptions, trust unlocks ending before or after now, forced holds ending before,
on or after the day, statuses, and a random policy (grace, minimum, weekdays without cuts, a state's
holidays) on a random day (weekends and Brazilian holidays included). On SQLite and PostgreSQL,
the SQL candidate sets and what the sweep and the warnings actually do must be the domain's answer."""

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import holidays
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from tests.conftest import empty_tables
from workflow.db.models import Customer, Invoice
from workflow.db.types import utcnow
from workflow.domain.delinquency import WEEKDAYS, CustomerCutFacts, InvoiceFacts, Policy, overdue_of, stage_rank
from workflow.domain.vocabulary import CustomerStatus, DelinquencyStage, InactivationReason, InvoiceStatus
from workflow.settings import Settings
from workflow.usecases import delinquency, ladder, timers

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
    stage: str = DelinquencyStage.NONE.value  # the collection ladder's step (an active customer's)


@dataclass(frozen=True)
class Scenario:
    today: date
    grace_days: int
    min_overdue_amount: Decimal
    no_cut_weekdays: str
    holiday_subdivision: str | None
    warning_days: int
    customers: list[DrawnCustomer]
    notice_after_days: int | None = None
    reduce_after_days: int | None = None
    reduced_rate_percent: int | None = None
    reduced_rate_kbps: int | None = None

    def settings(self) -> Settings:
        """The service's settings (which refuse a ladder that is not before the cut)."""
        return Settings(
            grace_days=self.grace_days,
            min_overdue_amount=self.min_overdue_amount,
            no_cut_weekdays=self.no_cut_weekdays,
            holiday_subdivision=self.holiday_subdivision,
            notice_after_days=self.notice_after_days,
            reduce_after_days=self.reduce_after_days,
            reduced_rate_percent=self.reduced_rate_percent,
            reduced_rate_kbps=self.reduced_rate_kbps,
        )

    def policy(self) -> Policy:
        """Built the way the service builds it, with the real Brazilian calendar."""
        return delinquency.policy_from(self.settings())


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
                    "delinquency_stage": drawn.stage,
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


# -- the collection ladder: the same customers, at a stage, with a ladder before the cut ------------


@st.composite
def ladder_scenarios(draw) -> Scenario:
    """A scenario with a ladder (notice, reduction, both or neither, day 0 included) before its
    cut, each active customer at a drawn stage (a partial payment may leave one at a later stage
    than its debt asks for), and some debts on a step's edges: its last day and the first past it."""
    scenario = draw(scenarios())
    grace = scenario.grace_days
    notice = draw(st.none() | st.integers(0, grace - 1)) if grace > 0 else None
    low = 0 if notice is None else notice + 1
    reduce = draw(st.none() | st.integers(low, grace - 1)) if low < grace else None
    rate = draw(st.sampled_from([(None, None), (30, None), (None, 2048)]))
    steps = [days for days in (notice, reduce) if days is not None]
    least = cents(least_cents(scenario.min_overdue_amount))
    drawn = []
    for customer in scenario.customers:
        if steps and draw(st.booleans()):
            days = draw(st.sampled_from(steps)) + draw(st.sampled_from([0, 1]))
            owed = max(Decimal(0), least - draw(st.sampled_from([Decimal(0), Decimal("0.01")])))
            customer = replace(
                customer, invoices=[DrawnInvoice("open", scenario.today - timedelta(days=days), owed, Decimal(0))]
            )
        if customer.status == CustomerStatus.ACTIVE:
            customer = replace(customer, stage=draw(st.sampled_from(list(DelinquencyStage))).value)
        drawn.append(customer)
    return replace(
        scenario,
        customers=drawn,
        notice_after_days=notice,
        reduce_after_days=reduce,
        reduced_rate_percent=rate[0],
        reduced_rate_kbps=rate[1],
    )


def stages(db) -> dict[int, tuple[str, int]]:
    with db.read() as session:
        return {
            row.id: (row.delinquency_stage, row.version)
            for row in session.execute(select(Customer.id, Customer.delinquency_stage, Customer.version))
        }


LADDER_EDGES = replace(
    EDGES,
    notice_after_days=5,
    reduce_after_days=10,
    customers=[
        replace(EDGES.customers[1], invoices=edge_debt(TUESDAY, 5, "0.02")),  # the notice's last day
        replace(EDGES.customers[1], invoices=edge_debt(TUESDAY, 6, "0.02")),  # its first
        replace(EDGES.customers[1], invoices=edge_debt(TUESDAY, 6, "0.01")),  # below the minimum
        replace(EDGES.customers[1], invoices=edge_debt(TUESDAY, 11, "0.02"), stage="notice"),
        replace(EDGES.customers[1], invoices=edge_debt(TUESDAY, 6, "0.02"), stage="reduced"),  # stays
        replace(EDGES.customers[1], invoices=[], stage="reduced"),  # paid: back to the plan
        replace(EDGES.customers[3], invoices=edge_debt(TUESDAY, 11, "0.02"), stage="notice"),  # held: cleared
        replace(EDGES.customers[5], stage="notice"),  # a trust unlock running: cleared
        replace(EDGES.customers[1], auto_block_exempt=True, stage="reduced"),  # exempt: cleared
    ],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=ladder_scenarios())
@example(scenario=LADDER_EDGES)
def test_the_ladders_sql_pre_filter_and_job_follow_the_domain_rule(db, scenario):
    """Every customer Policy.stage_due would move (a later stage, or back to none) is among the
    SQL's candidates, and after the job each customer's stage is the rule's: a later one, none, or
    unchanged when the rule asks for a lower stage that is not none (a partial payment does not
    undo a step). A second run moves nobody."""
    empty_tables(db)
    start = utcnow()
    written = write(db, scenario, start)
    policy, today, used = scenario.policy(), scenario.today, scenario.settings()
    now = utcnow()
    overdue = {
        cid: overdue_of([InvoiceFacts(i.status, i.due_date, i.amount, i.amount_paid) for i in drawn.invoices], today)
        for cid, drawn in written.items()
    }
    expected = {}
    for cid, drawn in written.items():
        wanted = policy.stage_due(facts_of(drawn, start), overdue[cid], today, now)
        later = stage_rank(wanted) > stage_rank(drawn.stage)
        cleared = wanted is DelinquencyStage.NONE and drawn.stage != DelinquencyStage.NONE
        expected[cid] = wanted.value if later or cleared else drawn.stage
        event("stays" if expected[cid] == drawn.stage else f"{drawn.stage} -> {expected[cid]}")
    moving = {cid for cid, drawn in written.items() if expected[cid] != drawn.stage}
    assert all(written[cid].status == CustomerStatus.ACTIVE for cid in moving)  # the ladder is the active's

    with db.read() as session:
        assert moving <= set(ladder.candidates_for_ladder(session.connection(), policy, today))

    before = stages(db)
    run = ladder.advance_ladder(db, policy, today, used)
    assert run.kept == {}
    assert run.advanced == {cid: expected[cid] for cid in moving if expected[cid] != DelinquencyStage.NONE}
    assert sorted(run.cleared) == sorted(cid for cid in moving if expected[cid] == DelinquencyStage.NONE)
    after = stages(db)
    assert {cid: stage for cid, (stage, _) in after.items()} == expected
    assert {cid: version for cid, (_, version) in after.items()} == {
        cid: version + (cid in moving) for cid, (_, version) in before.items()
    }

    again = ladder.advance_ladder(db, policy, today, used)
    assert (again.advanced, again.cleared, again.kept) == ({}, [], {})
    assert stages(db) == after
