"""The freeze of automatic cuts without a database: when a freeze holds, the business hours and
the payment-silence verdict (domain/freeze.py), and the machine's `cuts_frozen` guard."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from workflow.domain.customer_machine import (
    KEPT_STATUS_REASONS,
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
)
from workflow.domain.errors import GuardFailed
from workflow.domain.freeze import (
    PAYMENT_SILENCE,
    WEEKS_COMPARED,
    BusinessHours,
    Freeze,
    SilenceVerdict,
    check_until,
    last_business_hours,
    reference_weeks,
)
from workflow.domain.vocabulary import CustomerEvent, Role

SP = ZoneInfo("America/Sao_Paulo")
TUESDAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CALENDAR = BusinessHours(8, 18, holidays.country_holidays("BR").get)
BANK_DOWN = Freeze("banco fora do ar", NOW, "user:maria", "ui", until=TUESDAY)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SP)


# -- a freeze -------------------------------------------------------------------------------------------


def test_a_freeze_holds_through_its_last_day_or_until_lifted():
    assert BANK_DOWN.holds(TUESDAY - timedelta(days=400))
    assert BANK_DOWN.holds(TUESDAY)  # the last day is frozen too
    assert not BANK_DOWN.holds(TUESDAY + timedelta(days=1))
    forever = Freeze("auditoria", NOW, "cli:root", "cli")
    assert forever.holds(date(2100, 1, 1))
    assert not forever.automatic and Freeze(PAYMENT_SILENCE, NOW, "scheduler", "scheduler").automatic


def test_a_last_day_before_today_freezes_nothing_and_is_refused():
    check_until(None, TUESDAY)
    check_until(TUESDAY, TUESDAY)
    with pytest.raises(ValueError, match="before today"):
        check_until(TUESDAY - timedelta(days=1), TUESDAY)


# -- business hours -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opens, closes", [(18, 8), (8, 8), (-1, 10), (8, 25)])
def test_business_hours_must_open_before_they_close_within_a_day(opens, closes):
    with pytest.raises(ValueError, match="business hours"):
        BusinessHours(opens, closes)


@pytest.mark.parametrize(
    "start, expected",
    [
        (local(2026, 12, 1, 8), True),  # Tuesday, opening hour
        (local(2026, 12, 1, 17), True),  # the last hour before closing
        (local(2026, 12, 1, 18), False),  # closed
        (local(2026, 12, 1, 7), False),
        (local(2026, 12, 5, 10), False),  # Saturday
        (local(2026, 12, 25, 10), False),  # Christmas, a Friday
        (local(2026, 11, 20, 10), False),  # Consciência Negra, a national holiday
    ],
)
def test_a_business_hour_is_a_weekday_hour_within_the_span_and_not_a_holiday(start, expected):
    assert CALENDAR.is_business_hour(start) is expected


def test_the_last_business_hours_skip_nights_weekends_and_holidays_newest_first():
    # Monday 2026-12-28 10:30: 2 hours that morning (the hour in progress does not count), the
    # weekend and Christmas (Friday) skipped, then Thursday the 24th's last hours.
    spans = last_business_hours(local(2026, 12, 28, 10, 30), 5, CALENDAR)
    assert spans == [
        (local(2026, 12, 28, 8), local(2026, 12, 28, 10)),
        (local(2026, 12, 24, 15), local(2026, 12, 24, 18)),
    ]
    assert sum((end - start) // timedelta(hours=1) for start, end in spans) == 5


def test_no_business_hour_in_a_calendar_without_any_finds_nothing_and_stops():
    never = BusinessHours(8, 18, lambda _day: "every day is a holiday")
    assert last_business_hours(local(2026, 12, 1, 12), 24, never) == []


def test_the_reference_weeks_are_the_same_hours_earlier_skipping_a_week_with_a_holiday():
    spans = [(local(2026, 11, 23, 8), local(2026, 11, 23, 15))]  # a Monday
    weeks = reference_weeks(spans, CALENDAR)
    assert len(weeks) == WEEKS_COMPARED
    # Monday 2 November is Finados: that week is replaced by the one before the fourth.
    assert [week[0][0].date() for week in weeks] == [
        date(2026, 11, 16),
        date(2026, 11, 9),
        date(2026, 10, 26),
        date(2026, 10, 19),
    ]
    assert weeks[0] == [(local(2026, 11, 16, 8), local(2026, 11, 16, 15))]


# -- the verdict ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hours, recent, previous, silent",
    [
        (24, 0, (20, 25, 30, 20), True),
        (24, 1, (20, 25, 30, 20), False),  # one payment breaks the silence
        (24, 0, (20, 25, 19, 20), False),  # one week below the minimum: too small a flow to judge
        (24, 0, (0, 0, 0, 0), False),  # no history: a new provider is never frozen
        (24, 0, (20, 20, 20), False),  # fewer weeks than compared
        (0, 0, (20, 20, 20, 20), False),  # no business hour in the window
    ],
)
def test_a_silence_is_no_payment_where_every_week_before_brought_the_minimum(hours, recent, previous, silent):
    verdict = SilenceVerdict(hours, recent, previous, 20)
    assert verdict.silent is silent
    assert f"{hours} business hour(s)" in verdict.summary()


# -- the machine's guard --------------------------------------------------------------------------------


def _send(state: LifecycleState, event: CustomerEvent, request: TransitionRequest, facts: CustomerFacts):
    CustomerLifecycle(state).send(event.value, request=request, facts=facts)
    return state


def _facts(overdue: int = 1, *, stage_due: str | None = None, frozen: Freeze | None = BANK_DOWN) -> CustomerFacts:
    return CustomerFacts(overdue, now=NOW, today=TUESDAY, stage_due=stage_due, frozen=frozen)


def test_an_automatic_cut_is_refused_while_frozen_and_says_by_whom_and_through_when():
    state = LifecycleState("active", None)
    request = TransitionRequest("delinquency", None, actor_role=Role.ADMIN, automatic=True)
    with pytest.raises(GuardFailed) as refused:
        _send(state, CustomerEvent.INACTIVATE, request, _facts())
    assert refused.value.rule == "cuts_frozen"
    assert "through 2026-12-01" in refused.value.detail and "user:maria" in refused.value.detail
    assert state == LifecycleState("active", None)  # a refusal changes nothing
    assert _send(state, CustomerEvent.INACTIVATE, request, _facts(frozen=None)).status == "inactive"


def test_people_cut_and_payments_reactivate_while_frozen():
    by_hand = TransitionRequest("delinquency", None, actor_role=Role.OPERATOR)
    assert _send(LifecycleState("active", None), CustomerEvent.INACTIVATE, by_hand, _facts()).status == "inactive"
    paid = TransitionRequest("payment_received", None, actor_role=Role.BILLING)
    cut = LifecycleState("inactive", "delinquency")
    assert _send(cut, CustomerEvent.ACTIVATE, paid, _facts(overdue=0)).status == "active"


def test_the_ladder_steps_no_one_forward_while_frozen_but_still_clears():
    step = TransitionRequest(
        KEPT_STATUS_REASONS[CustomerEvent.ADVANCE_STAGE], "n", actor_role=Role.ADMIN, automatic=True, stage="notice"
    )
    with pytest.raises(GuardFailed) as refused:
        _send(LifecycleState("active", None), CustomerEvent.ADVANCE_STAGE, step, _facts(stage_due="notice"))
    assert refused.value.rule == "cuts_frozen"
    clear = TransitionRequest("payment_received", "n", actor_role=Role.ADMIN, automatic=True)
    at_notice = LifecycleState("active", None, delinquency_stage="notice")
    assert _send(at_notice, CustomerEvent.CLEAR_STAGE, clear, _facts(0, stage_due="none")).delinquency_stage == "none"
