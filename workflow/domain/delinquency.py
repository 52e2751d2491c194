"""When a delinquent customer is due to be cut: grace period, minimum amount, cut days.

Pure rules on dates and amounts; the service layer feeds them the ledger and the provider's
calendar (time zone, holidays).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeGuard

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The longest hold a forced activation may set: a person's decision, not a permanent exemption
# (that is auto_block_exempt).
FORCED_HOLD_MAX_DAYS = 90


def is_held(hold_until: date | None, today: date) -> TypeGuard[date]:
    """A forced activation's hold: no automatic cut, trust-unlock cut or early warning through
    `hold_until` (inclusive, the provider's business date); the normal rule applies from the next
    day. The sweep's SQL states the same rule (services/delinquency.py, _not_held)."""
    return hold_until is not None and today <= hold_until


@dataclass(frozen=True)
class NoCut:
    """Why a day has no cuts: a weekday without cuts, or a holiday (named in the calendar's language)."""

    day: date
    weekday: int | None = None  # date.weekday(), when the weekday has no cuts
    holiday: str | None = None


@dataclass(frozen=True)
class Policy:
    grace_days: int
    min_overdue_amount: Decimal
    no_cut_weekdays: frozenset[int]  # date.weekday() numbers
    is_holiday: Callable[[date], str | None]  # the holiday's name, or None

    def no_cut(self, day: date) -> NoCut | None:
        """None on a cut day; otherwise why there is no cut that day."""
        if day.weekday() in self.no_cut_weekdays:
            return NoCut(day, weekday=day.weekday())
        holiday = self.is_holiday(day)
        if holiday:
            return NoCut(day, holiday=holiday)
        return None

    def why_not_a_cut_day(self, day: date) -> str | None:
        reason = self.no_cut(day)
        if reason is None:
            return None
        if reason.weekday is not None:
            return f"{day.isoformat()} is a {WEEKDAYS[reason.weekday]}, a day without cuts"
        return f"{day.isoformat()} is a holiday ({reason.holiday})"

    def is_due(self, oldest_due: date, overdue_total: Decimal, today: date) -> bool:
        """More than `grace_days` past the oldest open invoice's due date, and enough owed."""
        return (today - oldest_due).days > self.grace_days and overdue_total >= self.min_overdue_amount

    def first_due_day(self, oldest_due: date) -> date:
        return oldest_due + timedelta(days=self.grace_days + 1)

    def next_cut_day(self, day: date) -> date:
        """`day` itself when it is a cut day, else the first cut day after it."""
        for _ in range(60):  # a calendar never has 60 days without a cut day
            if self.no_cut(day) is None:
                return day
            day += timedelta(days=1)
        return day

    def projected_cut(self, oldest_due: date, today: date, held_until: date | None = None) -> date:
        """The first cut day on which the customer would be due (if nothing is paid), after the
        hold of a forced activation if there is one."""
        day = max(self.first_due_day(oldest_due), today)
        if held_until is not None:
            day = max(day, held_until + timedelta(days=1))
        return self.next_cut_day(day)


FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(text: str) -> frozenset[int]:
    """"fri,sat,sun" or "friday, saturday": the weekdays, as date.weekday() numbers."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in WEEKDAYS and n not in FULL_NAMES]
    if unknown:
        raise ValueError(f"unknown weekday(s) {', '.join(unknown)}; use {', '.join(WEEKDAYS)}")
    return frozenset(WEEKDAYS.index(n[:3]) for n in names)
