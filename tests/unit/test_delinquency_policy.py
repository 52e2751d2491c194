"""The cut rule and the calendar, with no database."""

from datetime import date, timedelta
from decimal import Decimal

import holidays
import pytest

from workflow.domain.delinquency import NoCut, Policy, parse_weekdays

BR = holidays.country_holidays("BR")
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), BR.get)
TUESDAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    "days_overdue, total, due",
    [(15, "100.00", False), (16, "100.00", True), (40, "49.99", False), (40, "50.00", True), (0, "999", False)],
)
def test_due_after_the_grace_period_and_from_the_minimum_amount(days_overdue, total, due):
    assert POLICY.is_due(TUESDAY - timedelta(days=days_overdue), Decimal(total), TUESDAY) is due


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
