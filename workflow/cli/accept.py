"""What the `ativa` command accepts, checked while its arguments are parsed.

A bad value is a usage error (one line, exit 2) before any service or database sees it: text
without control characters and within its column's length, dates as YYYY-MM-DD, ids within the
database's integer range. Choices are Enum or Literal annotations; numbers take min/max.
"""

import re
from collections.abc import Callable
from datetime import date

from pydantic_core import PydanticCustomError

from ..db.models import ApiToken, Customer, Plan, Router, Service
from ..domain import limits

MAX_ID = limits.MAX_ROW_ID  # ids and versions: the columns are 32-bit integers
PORT_MAX = 65535
NOTE_MAX = 2000  # as the API's note and suspension reason
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _refuse(message: str) -> PydanticCustomError:
    # Typer shows a validation error's message as is ("Invalid value for '--x': <message>");
    # a plain ValueError would read "Value error, <message>".
    return PydanticCustomError("ativa_cli", message)


def text(max_length: int | None = None, *, multiline: bool = False) -> Callable[[str], str]:
    """Text a person typed: no control characters (one line unless `multiline`), at most
    `max_length` characters."""

    def parse(value: str) -> str:
        # The rule of every entry point (domain/limits.py); invalid UTF-8 in argv arrives as
        # lone surrogates, which it refuses too.
        bad = limits.forbidden_character(value, multiline=multiline)
        if bad is not None:
            raise _refuse(f"must not contain control characters or lone surrogates ({bad})")
        if max_length is not None and len(value) > max_length:
            raise _refuse(f"at most {max_length} characters (got {len(value)})")
        return value

    return parse


def column_text(column) -> Callable[[str], str]:
    """Text that fits a String(n) column of the models."""
    return text(column.type.length)


def iso_date(value: str) -> date:
    if _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _refuse(f"{value!r} is not a date like 2026-12-01 (YYYY-MM-DD)")


# The lengths the database holds (PostgreSQL refuses longer values).
CUSTOMER_NAME = column_text(Customer.name)
EXTERNAL_REF = column_text(Customer.external_ref)
EMAIL = column_text(Customer.email)
PHONE = column_text(Customer.phone)
DOCUMENT = text(32)  # punctuation allowed: 18 characters for a CNPJ, some room for spaces
SERVICE_NAME = column_text(Service.name)
TOKEN_NAME = column_text(ApiToken.name)
PLAN_NAME = column_text(Plan.name)
ROUTER_NAME = column_text(Router.name)
ADDRESS = column_text(Router.address)
LOGIN = column_text(Service.login)
NOTE = text(NOTE_MAX, multiline=True)
ANY_TEXT = text(None)  # a search, a cursor, a customer id or ref, a user name: looked up, not stored
