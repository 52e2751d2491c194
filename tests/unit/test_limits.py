"""The input bounds of workflow/domain/limits.py: text, business dates, return dates."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from workflow.domain import limits
from workflow.domain.errors import InvalidInput, OutOfRange, UnsafeText

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("code", [*range(0x20)])
def test_every_c0_control_is_refused_in_a_line(code):
    bad = limits.forbidden_character(f"ab{chr(code)}c")
    assert (bad.code_point, bad.position) == (f"U+{code:04X}", 3)


@pytest.mark.parametrize("allowed", ["\t", "\n", "\r"])
def test_multiline_text_keeps_tab_and_line_breaks_only(allowed):
    assert limits.forbidden_character(f"a{allowed}b", multiline=True) is None
    assert limits.forbidden_character(f"a{allowed}b") is not None
    assert str(limits.forbidden_character("a\x00b", multiline=True)) == "U+0000 at position 2"
    assert limits.forbidden_character("a\x0bb", multiline=True).code_point == "U+000B"


@pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_lone_surrogates_are_refused(surrogate):
    assert limits.forbidden_character(f"x{surrogate}").position == 2
    assert limits.forbidden_character(f"x{surrogate}", multiline=True) is not None


def test_ordinary_text_passes_accents_emoji_and_all():
    text = "José da Conceição — ação nº 1 😀 \u00a0\u2028 \x7f"
    assert limits.forbidden_character(text) is None
    assert limits.check_text("name", text) == text
    assert limits.check_text("name", None) is None


def test_check_text_names_the_field():
    with pytest.raises(UnsafeText) as refused:
        limits.check_text("external_ref", "A\x00")
    assert isinstance(refused.value, InvalidInput)
    assert "external_ref" in refused.value.detail and "U+0000" in refused.value.detail


def test_business_dates_lie_within_ten_years_of_today():
    first, last = limits.date_window(TODAY)
    assert first.year == 2016 and last.year == 2036
    for day in (first, last, TODAY):
        assert limits.check_date("as_of", day, TODAY) == day
    for day in (first - timedelta(days=1), last + timedelta(days=1), date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(OutOfRange) as refused:
            limits.check_date("as_of", day, TODAY)
        assert refused.value.detail.startswith(f"as_of {day.isoformat()} is outside")
    assert limits.check_date("due_date", None, TODAY) is None


def test_a_datetime_is_judged_by_its_own_calendar_day():
    year_one = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3)))
    with pytest.raises(OutOfRange):
        limits.check_date("paid_at", year_one, TODAY)
    fine = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert limits.check_date("paid_at", fine, TODAY) is fine


def test_a_return_date_is_at_most_a_year_ahead():
    last = limits.last_return_date(TODAY)
    assert last == TODAY + timedelta(days=limits.MAX_RETURN_DAYS)
    assert limits.check_return_date("until", last, TODAY) == last
    with pytest.raises(OutOfRange) as refused:
        limits.check_return_date("until", date(3984, 1, 1), TODAY)
    assert "until 3984-01-01 is too far ahead" in refused.value.detail
