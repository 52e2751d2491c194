"""Money and dates as a Brazilian reader writes them, in every page and generated note."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from workflow.domain import brazilian


@pytest.mark.parametrize(
    "value, written",
    [
        (Decimal("199.8"), "R$ 199,80"),
        (Decimal("1234.56"), "R$ 1.234,56"),
        ("1234567.891", "R$ 1.234.567,89"),
        (0, "R$ 0,00"),
        (Decimal("-5.5"), "-R$ 5,50"),
        (None, "—"),
    ],
)
def test_money(value, written):
    assert brazilian.money(value) == written


def test_day():
    assert brazilian.day(date(2026, 12, 1)) == "01/12/2026" == brazilian.day("2026-12-01T10:00:00")
    assert brazilian.day(None) == "—"


@pytest.mark.parametrize(
    "value, decimals, written",
    [(0, 0, "0"), (1234, 0, "1.234"), (1234567, 0, "1.234.567"), (1234.56, 1, "1.234,6"), (0.25, 2, "0,25")],
)
def test_number(value, decimals, written):
    assert brazilian.number(value, decimals) == written


@pytest.mark.parametrize(
    "seconds, written",
    [(0.84, "0,8 s"), (42, "42 s"), (210, "3,5 min"), (7560, "2,1 h")],
)
def test_duration(seconds, written):
    assert brazilian.duration(seconds) == written


def test_minute_in_the_provider_time_zone():
    noon_utc = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)
    assert brazilian.minute(noon_utc, "America/Sao_Paulo") == "30/11/2026 09:05"
