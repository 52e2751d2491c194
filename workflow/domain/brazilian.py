"""Money and dates the way a Brazilian reader writes them: `R$ 1.234,56`, `25/12/2026`.

One formatter for the whole product: the UI's pages and the history notes the services write.
"""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from .vocabulary import DelinquencyStage

# The collection ladder's steps as operators and customers read them (badges, pages, history notes).
STAGE_NAMES = {
    DelinquencyStage.NOTICE.value: "Aviso",
    DelinquencyStage.REDUCED.value: "Velocidade reduzida",
}


def money(value: Decimal | str | int | float | None) -> str:
    if value is None:
        return "—"
    amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}R$ {number(abs(amount), 2)}"


def day(value: date | str | None) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y")


def minute(value: datetime, zone: str) -> str:
    """dd/mm/aaaa hh:mm in the provider's time zone."""
    return value.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M")


def first_name(full_name: str | None) -> str:
    """What a page greets a customer by: the first word of the name only (the public notice page
    must not reveal the rest)."""
    words = (full_name or "").split()
    return words[0] if words else ""


def number(value: int | float | Decimal, decimals: int = 0) -> str:
    """`1.234` or `1.234,5`: a dot between thousands, a comma before the decimals."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def duration(seconds: float) -> str:
    """A wait as a reader takes it in: `0,8 s`, `42 s`, `3,5 min`, `2,1 h`."""
    if seconds < 10:
        return f"{number(seconds, 1)} s"
    if seconds < 60:
        return f"{number(seconds)} s"
    if seconds < 3600:
        return f"{number(seconds / 60, 1)} min"
    return f"{number(seconds / 3600, 1)} h"
