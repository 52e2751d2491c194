"""What any entry point accepts: row ids, business dates and text, checked before the database.

Ids follow the columns (INTEGER: 32 bits on PostgreSQL). Dates follow the business: nothing an
internet provider books is due in year 1 or returns in year 3984. Text must be something a person
typed: no control characters (a NUL breaks PostgreSQL, the others break logs and exports) and no
lone UTF-16 surrogates (they cannot be encoded). Each entry point words a refusal its own way.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import overload

from .errors import OutOfRange, UnsafeText

MAX_ROW_ID = 2**31 - 1  # ids and versions are INTEGER columns: 32 bits signed on PostgreSQL

DATE_WINDOW_YEARS = 10  # as_of, due dates and payment dates: within this many years of today
MAX_RETURN_DAYS = 366  # a suspension at the customer's request ends within a year

# C0 controls and lone surrogates; multi-line text (notes) keeps tab and line breaks. The control
# ranges are regex source (escapes), so the OpenAPI document can state them as patterns too.
_LINE_CONTROLS = r"\x00-\x1f"
_TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f"
_FORBIDDEN_IN_LINE = re.compile(f"[{_LINE_CONTROLS}\ud800-\udfff]")
_FORBIDDEN_IN_TEXT = re.compile(f"[{_TEXT_CONTROLS}\ud800-\udfff]")
# The same rules as JSON Schema patterns (lone surrogates left out: a schema regex cannot name them).
LINE_PATTERN = f"^[^{_LINE_CONTROLS}]*$"
TEXT_PATTERN = f"^[^{_TEXT_CONTROLS}]*$"


@dataclass(frozen=True)
class ForbiddenCharacter:
    code_point: str  # "U+0000"
    position: int  # 1-based

    def __str__(self) -> str:
        return f"{self.code_point} at position {self.position}"


def forbidden_character(text: str, *, multiline: bool = False) -> ForbiddenCharacter | None:
    """The first character no text may hold, or None."""
    found = (_FORBIDDEN_IN_TEXT if multiline else _FORBIDDEN_IN_LINE).search(text)
    if found is None:
        return None
    return ForbiddenCharacter(f"U+{ord(found.group()):04X}", found.start() + 1)


@overload
def check_text(field: str, text: str, *, multiline: bool = False) -> str: ...
@overload
def check_text(field: str, text: None, *, multiline: bool = False) -> None: ...
def check_text(field: str, text: str | None, *, multiline: bool = False) -> str | None:
    if text is not None:
        bad = forbidden_character(text, multiline=multiline)
        if bad:
            raise UnsafeText(f"{field} must not contain control characters or lone surrogates ({bad})")
    return text


def date_window(today: date) -> tuple[date, date]:
    """The first and last business date accepted on `today`."""
    span = timedelta(days=round(365.25 * DATE_WINDOW_YEARS))
    return today - span, today + span


def check_date(field: str, day: date | datetime | None, today: date):
    """`day` (a date, or a datetime by its own calendar date) if within the window, else OutOfRange."""
    if day is None:
        return None
    first, last = date_window(today)
    calendar_day = day.date() if isinstance(day, datetime) else day
    if not first <= calendar_day <= last:
        raise OutOfRange(
            f"{field} {calendar_day.isoformat()} is outside the accepted dates, {first.isoformat()} to "
            f"{last.isoformat()} ({DATE_WINDOW_YEARS} years either side of today)"
        )
    return day


def last_return_date(today: date) -> date:
    return today + timedelta(days=MAX_RETURN_DAYS)


def check_return_date(field: str, day: date | None, today: date) -> date | None:
    """A return date no further than MAX_RETURN_DAYS ahead (that it is after today is a guard)."""
    if day is not None and day > last_return_date(today):
        raise OutOfRange(
            f"{field} {day.isoformat()} is too far ahead: a suspension at the customer's request ends "
            f"by {last_return_date(today).isoformat()} ({MAX_RETURN_DAYS} days from today)"
        )
    return day
