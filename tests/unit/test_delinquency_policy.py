"""The cut rule (who is due, why not, holds, warnings) and the calendar, with no database."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.domain.delinquency import (
    NOTHING_OVERDUE,
    CustomerCutFacts,
    InvoiceFacts,
    NoCut,
    NotDue,
    NotDueReason,
    Overdue,
    Policy,
    overdue_of,
    parse_weekdays,
)

BR = holidays.country_holidays("BR")
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), BR.get)
TUESDAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    "days_overdue, total, due",
    [(15, "100.00", False), (16, "100.00", True), (40, "49.99", False), (40, "50.00", True), (0, "999", False)],
)
def test_due_after_the_grace_period_and_from_the_minimum_amount(days_overdue, total, due):
    overdue = Overdue(TUESDAY - timedelta(days=days_overdue), Decimal(total), 1)
    assert (POLICY.debt_not_due(overdue, TUESDAY) is None) is due


@pytest.mark.parametrize(
    "day, reason",
    [
        (date(2026, 12, 1), None),  # Tuesday
        (date(2026, 12, 5), "sat"),
        (date(2026, 12, 6), "sun"),
        (date(2026, 11, 20), "holiday"),  # Zumbi / Consciência Negra, national since 2024, a Friday
        (date(2026, 12, 25), "holiday"),
        (date(2026, 4, 3), "holiday"),  # Good Friday
    ],
)
def test_cut_days(day, reason):
    why = POLICY.why_not_a_cut_day(day)
    assert (why is None) if reason is None else (reason in why)


def test_projected_cut_skips_weekends_and_holidays():
    # Oldest due 2026-12-09: first due day is 2026-12-25 (Christmas, a Friday), then the weekend.
    assert POLICY.first_due_day(date(2026, 12, 9)) == date(2026, 12, 25)
    assert POLICY.projected_cut(date(2026, 12, 9), TUESDAY) == date(2026, 12, 28)
    # Already overdue for long: the next cut day from today.
    assert POLICY.projected_cut(date(2026, 1, 1), date(2026, 12, 5)) == date(2026, 12, 7)


def test_next_cut_day_and_why_a_day_has_none():
    assert POLICY.next_cut_day(TUESDAY) == TUESDAY
    assert POLICY.next_cut_day(date(2026, 12, 25)) == date(2026, 12, 28)  # Christmas, then the weekend
    assert POLICY.no_cut(TUESDAY) is None
    assert POLICY.no_cut(date(2026, 12, 5)) == NoCut(date(2026, 12, 5), weekday=5)
    assert POLICY.no_cut(date(2026, 12, 25)) == NoCut(date(2026, 12, 25), holiday="Christmas Day")


def test_configurable_weekdays():
    assert parse_weekdays("Fri, sat,SUN") == frozenset({4, 5, 6})
    with pytest.raises(ValueError, match="funday"):
        parse_weekdays("fri,funday")


def test_a_hold_lasts_through_its_date_and_moves_the_projected_cut():
    from workflow.domain.delinquency import is_held

    hold = date(2026, 12, 11)  # a Friday
    assert is_held(hold, date(2026, 12, 1)) and is_held(hold, hold)
    assert not is_held(hold, date(2026, 12, 12)) and not is_held(None, TUESDAY)
    # Long overdue: without the hold the cut is today; with it, the first cut day after it.
    assert POLICY.projected_cut(date(2026, 1, 1), TUESDAY) == TUESDAY
    assert POLICY.projected_cut(date(2026, 1, 1), TUESDAY, held_until=hold) == date(2026, 12, 14)


# -- the whole rule: who is due, why not, the hold, the warning ------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACTIVE = CustomerCutFacts("active")
OLD_DEBT = Overdue(TUESDAY - timedelta(days=20), Decimal("80.00"), 1)


def test_the_overdue_aggregate_counts_open_invoices_due_before_today():
    invoices = [
        InvoiceFacts("open", TUESDAY - timedelta(days=20), Decimal("100.00"), Decimal("30.00")),  # 70 owed
        InvoiceFacts("open", TUESDAY - timedelta(days=3), None),  # amount unknown: nothing owed
        InvoiceFacts("open", TUESDAY, Decimal("500.00")),  # due today: not overdue yet
        InvoiceFacts("paid", TUESDAY - timedelta(days=40), Decimal("500.00"), Decimal("500.00")),
        InvoiceFacts("cancelled", TUESDAY - timedelta(days=40), Decimal("500.00")),
        InvoiceFacts("open", None, Decimal("500.00")),  # no due date yet
    ]
    assert overdue_of(invoices, TUESDAY) == Overdue(TUESDAY - timedelta(days=20), Decimal("70.00"), 2)
    assert overdue_of(invoices[2:], TUESDAY) == NOTHING_OVERDUE


@pytest.mark.parametrize(
    "customer, overdue, answer",
    [
        (ACTIVE, OLD_DEBT, None),
        (CustomerCutFacts("inactive"), OLD_DEBT, NotDue(NotDueReason.NOT_ACTIVE, status="inactive")),
        (CustomerCutFacts("active", auto_block_exempt=True), OLD_DEBT, NotDue(NotDueReason.EXEMPT)),
        (
            CustomerCutFacts("active", trust_unlock_until=NOW + timedelta(seconds=1)),
            OLD_DEBT,
            NotDue(NotDueReason.TRUST_UNLOCK, until=NOW + timedelta(seconds=1)),
        ),
        (CustomerCutFacts("active", trust_unlock_until=NOW), OLD_DEBT, None),  # its deadline has come
        (
            CustomerCutFacts("active", forced_hold_until=TUESDAY),
            OLD_DEBT,
            NotDue(NotDueReason.FORCED_HOLD, until=TUESDAY),
        ),
        (CustomerCutFacts("active", forced_hold_until=TUESDAY - timedelta(days=1)), OLD_DEBT, None),
        (ACTIVE, NOTHING_OVERDUE, NotDue(NotDueReason.NOTHING_OVERDUE)),
        (ACTIVE, Overdue(TUESDAY - timedelta(days=15), Decimal("80.00"), 1), NotDue(NotDueReason.WITHIN_GRACE)),
        (ACTIVE, Overdue(TUESDAY - timedelta(days=16), Decimal("49.99"), 1), NotDue(NotDueReason.BELOW_MINIMUM)),
        # The customer's own state is read before its debt.
        (CustomerCutFacts("active", auto_block_exempt=True), NOTHING_OVERDUE, NotDue(NotDueReason.EXEMPT)),
    ],
)
def test_not_due_answers_why(customer, overdue, answer):
    assert POLICY.not_due(customer, overdue, TUESDAY, NOW) == answer


def test_the_sweep_cuts_the_due_on_cut_days_only():
    assert POLICY.sweep_cuts(ACTIVE, OLD_DEBT, TUESDAY, NOW)
    saturday = date(2026, 12, 5)
    assert POLICY.not_due(ACTIVE, OLD_DEBT, saturday, NOW) is None
    assert not POLICY.sweep_cuts(ACTIVE, OLD_DEBT, saturday, NOW)


def test_held_off_names_the_hold_that_alone_spares_a_customer():
    held = CustomerCutFacts("active", forced_hold_until=TUESDAY + timedelta(days=3))
    assert POLICY.held_off(held, OLD_DEBT, TUESDAY, NOW) == TUESDAY + timedelta(days=3)
    assert POLICY.held_off(held, Overdue(TUESDAY - timedelta(days=2), Decimal("80.00"), 1), TUESDAY, NOW) is None
    exempt_and_held = CustomerCutFacts("active", True, forced_hold_until=TUESDAY)
    assert POLICY.held_off(exempt_and_held, OLD_DEBT, TUESDAY, NOW) is None
    assert POLICY.held_off(ACTIVE, OLD_DEBT, TUESDAY, NOW) is None


def test_heading_for_cut_and_the_warning():
    recent = Overdue(TUESDAY - timedelta(days=13), Decimal("80.00"), 1)  # due on Friday 2026-12-04
    assert POLICY.heading_for_cut(ACTIVE, recent, TUESDAY) == date(2026, 12, 4)
    assert POLICY.heading_for_cut(ACTIVE, OLD_DEBT, TUESDAY) == TUESDAY  # due now: today, a cut day
    assert POLICY.heading_for_cut(CustomerCutFacts("active", True), recent, TUESDAY) is None
    assert POLICY.heading_for_cut(ACTIVE, Overdue(recent.oldest_due, Decimal("49.99"), 1), TUESDAY) is None
    assert POLICY.warning_due(ACTIVE, recent, TUESDAY, warning_days=3) == date(2026, 12, 4)
    assert POLICY.warning_due(ACTIVE, recent, TUESDAY, warning_days=2) is None  # three days away
    warned = CustomerCutFacts("active", warned_for_due=recent.oldest_due)
    assert POLICY.warning_due(warned, recent, TUESDAY, warning_days=5) is None  # once per episode
    held = CustomerCutFacts("active", forced_hold_until=date(2026, 12, 11))
    assert POLICY.warning_due(held, recent, TUESDAY, warning_days=5) is None  # the cut after the hold: 12-14
    assert POLICY.warning_due(held, recent, date(2026, 12, 9), warning_days=5) == date(2026, 12, 14)


@settings(max_examples=300, deadline=None)
@given(
    days_after_tuesday=st.integers(-30, 60),
    days_overdue=st.integers(-5, 60),
    cents=st.integers(0, 20_000),
    hold_days=st.none() | st.integers(-5, 20),
)
def test_the_projected_cut_is_the_first_cut_day_the_rule_cuts(days_after_tuesday, days_overdue, cents, hold_days):
    """heading_for_cut and not_due state one rule: the sweep cuts on the projected day (if nothing
    changes), and on no cut day before it."""
    today = TUESDAY + timedelta(days=days_after_tuesday)
    hold = None if hold_days is None else today + timedelta(days=hold_days)
    customer = CustomerCutFacts("active", forced_hold_until=hold)
    overdue = Overdue(today - timedelta(days=days_overdue), Decimal(cents) / 100, 1)
    cut = POLICY.heading_for_cut(customer, overdue, today)
    if cut is None:
        assert overdue.total < POLICY.min_overdue_amount
        return
    assert POLICY.sweep_cuts(customer, overdue, cut, NOW)
    assert not any(
        POLICY.sweep_cuts(customer, overdue, today + timedelta(days=n), NOW) for n in range((cut - today).days)
    )
