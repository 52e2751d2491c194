"""The freeze of automatic cuts, and the payment silence that trips it.

While a freeze holds, nothing cuts a customer automatically: not the sweep, not the end of a trust
unlock, not a step of the collection ladder (the machine's guards read `CustomerFacts.frozen`).
People still inactivate by hand and payments still reactivate. A freeze is lifted by a person, or
ends after its `until` day (the provider's business date, inclusive, like a forced hold).

A bank that stops sending payments for a day is what it guards against: when no payment has
arrived for some business hours that, in each of the previous four weeks, brought at least a
minimum of payments, the payments are taken as missing, not as absent (`payment_silence`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

PAYMENT_SILENCE = "payment_silence"  # the reason of a freeze the sweep trips by itself
WEEKS_COMPARED = 4
# A reference week whose hours fell on a holiday is replaced by an earlier one, this far back.
WEEKS_SEARCHED = 8
# How far back business hours are looked for: far beyond any run of holidays and weekends.
_LONGEST_LOOKBACK = timedelta(days=60)


class FreezeAction(StrEnum):
    ON = "on"  # a person froze the cuts (or changed the reason or the end of a freeze)
    OFF = "off"  # a person lifted it
    TRIPPED = "tripped"  # the sweep froze them on a payment silence
    EXPIRED = "expired"  # its `until` day passed


@dataclass(frozen=True)
class Freeze:
    """A freeze of the automatic cuts as recorded: why, by whom, since when, through which day."""

    reason: str
    since: datetime
    actor: str
    source: str
    until: date | None = None  # None: until a person lifts it

    def holds(self, today: date) -> bool:
        """Whether it stops cuts on `today`: the provider's real date, never a run's `as_of` (a
        sweep run for a later day must not slip past a freeze that holds now)."""
        return self.until is None or today <= self.until

    def describe(self) -> str:
        """One line, the same wherever a frozen cut is reported (machine guard, sweep, timers)."""
        until = f" through {self.until.isoformat()}" if self.until else ""
        return f"automatic cuts are frozen{until}: {self.reason} (by {self.actor})"

    @property
    def automatic(self) -> bool:
        return self.reason == PAYMENT_SILENCE


def check_until(until: date | None, today: date) -> None:
    """A freeze's last day is today or later (a day already past would freeze nothing)."""
    if until is not None and until < today:
        raise ValueError(f"the freeze's last day ({until.isoformat()}) is before today ({today.isoformat()})")


# -- payment silence --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """The hours payments are expected in: from `opens` to `closes` (local hours, 0-24) on
    weekdays that are not holidays. Banks post boletos on business days; with the whole day (the
    default) 24 business hours are one business day."""

    opens: int = 0
    closes: int = 24
    is_holiday: Callable[[date], str | None] = lambda _day: None

    def __post_init__(self) -> None:
        if not 0 <= self.opens < self.closes <= 24:
            raise ValueError(f"business hours must open before they close, within 0-24, not {self.opens}-{self.closes}")

    def is_business_hour(self, start: datetime) -> bool:
        """Whether the hour starting at `start` (local, on the hour) is a business hour."""
        day = start.date()
        return day.weekday() < 5 and not self.is_holiday(day) and self.opens <= start.hour < self.closes


def last_business_hours(now: datetime, hours: int, calendar: BusinessHours) -> list[tuple[datetime, datetime]]:
    """The last `hours` whole business hours before `now` (local, aware), merged into contiguous
    [start, end) spans, newest first. The hour `now` is in counts only once it is over."""
    end = now.replace(minute=0, second=0, microsecond=0)
    spans: list[tuple[datetime, datetime]] = []
    found = 0
    start = end - timedelta(hours=1)
    while found < hours and end - start < _LONGEST_LOOKBACK:
        if calendar.is_business_hour(start):
            found += 1
            if spans and spans[-1][0] == start + timedelta(hours=1):
                spans[-1] = (start, spans[-1][1])
            else:
                spans.append((start, start + timedelta(hours=1)))
        start -= timedelta(hours=1)
    return spans


Spans = list[tuple[datetime, datetime]]


def reference_weeks(spans: Spans, calendar: BusinessHours) -> list[Spans]:
    """The same spans in the WEEKS_COMPARED latest earlier weeks whose hours were all business
    hours: a week where one fell on a holiday (a quiet day for banks) is replaced by an earlier
    one, up to WEEKS_SEARCHED weeks back. Fewer than WEEKS_COMPARED found: no comparison."""
    week = timedelta(weeks=1)
    found: list[Spans] = []
    for k in range(1, WEEKS_SEARCHED + 1):
        shifted = [(start - k * week, end - k * week) for start, end in spans]
        if all(calendar.is_business_hour(hour) for start, end in shifted for hour in _hours(start, end)):
            found.append(shifted)
        if len(found) == WEEKS_COMPARED:
            break
    return found


def _hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(hours=n) for n in range(int((end - start) / timedelta(hours=1)))]


@dataclass(frozen=True)
class SilenceVerdict:
    """What the payment-silence rule saw: payments in the last business hours and in the same
    hours of each previous week, and whether that is a silence."""

    hours: int
    recent: int
    previous_weeks: tuple[int, ...]
    min_events: int
    since: datetime | None = None  # where the window opens: no payment from then on
    lifted_at: datetime | None = None  # a person's last lift of the freeze, if any

    @property
    def lifted_during(self) -> bool:
        """A person lifted the freeze after this silence began: they judged it, and only a silence
        that begins after their lift trips the freeze again."""
        return self.lifted_at is not None and self.since is not None and self.lifted_at >= self.since

    @property
    def silent(self) -> bool:
        """No payment in the window, while each of the weeks before brought at least the minimum
        in the same hours (a provider too small or too new for such a flow is never frozen)."""
        return (
            self.hours > 0
            and not self.lifted_during
            and self.recent == 0
            and len(self.previous_weeks) == WEEKS_COMPARED
            and all(count >= self.min_events for count in self.previous_weeks)
        )

    def summary(self) -> str:
        weeks = ", ".join(str(count) for count in self.previous_weeks)
        return (
            f"no payment in the last {self.hours} business hour(s); the same hours of the previous "
            f"{len(self.previous_weeks)} weeks had {weeks} (at least {self.min_events} each expected)"
        )
