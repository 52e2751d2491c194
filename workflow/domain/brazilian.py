"""Money and dates the way a Brazilian reader writes them: `R$ 1.234,56`, `25/12/2026`.

One formatter for the whole product: the UI's pages and the history notes the services write.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

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
    whole, _, cents = f"{abs(amount):,.2f}".partition(".")
    sign = "-" if amount < 0 else ""
    return f"{sign}R$ {whole.replace(',', '.')},{cents}"


def day(value: date | str | None) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y")


def first_name(full_name: str | None) -> str:
    """What a page greets a customer by: the first word of the name only (the public notice page
    must not reveal the rest)."""
    words = (full_name or "").split()
    return words[0] if words else ""
