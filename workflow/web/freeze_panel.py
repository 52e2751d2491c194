"""The freeze of automatic cuts in the UI: the banner every signed-in page shows while it holds,
and what the card on Inadimplência says (in the operator's words)."""

from dataclasses import dataclass
from datetime import date

from fastapi import Request

from ..domain import brazilian, limits
from ..domain.freeze import Freeze, FreezeAction
from ..usecases import freeze
from . import shared_views

ACTIONS = {
    FreezeAction.ON: "Ligado",
    FreezeAction.OFF: "Desligado",
    FreezeAction.TRIPPED: "Disparado por silêncio de pagamentos",
    FreezeAction.EXPIRED: "Expirado",
}
# After the freeze form: the page's message (a key in the address, never text typed elsewhere).
OUTCOMES = {
    "ligado": "Cortes automáticos congelados.",
    "desligado": "Congelamento desligado: a próxima execução da inadimplência volta a cortar.",
    "nada": "Não havia congelamento para desligar.",
    "barrado": "Execução não iniciada: os cortes automáticos estão congelados, ninguém foi cortado.",
    "disparado": "Execução não iniciada: os pagamentos pararam de chegar e os cortes automáticos foram "
    "congelados agora; ninguém foi cortado.",
}


def banner(request: Request) -> Freeze | None:
    """The freeze holding today, or None: one read of one row, made only by pages with the layout."""
    with request.app.state.db.read() as session:
        return freeze.holding(session)


def reason_words(frozen: Freeze, silence_hours: int) -> str:
    """Why, as an operator reads it: the automatic freeze says what the payments did."""
    if frozen.automatic:
        return (
            f"nenhum pagamento recebido há {silence_hours} horas úteis, quando nas mesmas horas das semanas "
            "anteriores os pagamentos chegavam normalmente (o banco ou o gateway pode ter parado de enviá-los)"
        )
    return frozen.reason


@dataclass(frozen=True)
class FreezeForm:
    reason: str = ""
    until: str = ""
    error: str | None = None
    field: str | None = None  # the field the error is about: motivo or ate


def check_form(reason: str, until: str, today: date) -> tuple[str, date | None] | FreezeForm:
    """The reason and last day typed, or the form back with what is wrong (in Portuguese)."""
    text = reason.strip()
    if not text:
        return FreezeForm(reason, until, "Informe o motivo do congelamento.", "motivo")
    if freeze.is_reserved_reason(text):
        return FreezeForm(
            reason,
            until,
            "Esse motivo é reservado ao congelamento automático; descreva-o com outras palavras.",
            "motivo",
        )
    if len(text) > freeze.REASON_MAX_CHARS:
        return FreezeForm(reason, until, f"O motivo pode ter até {freeze.REASON_MAX_CHARS} caracteres.", "motivo")
    if limits.forbidden_character(text, multiline=True):
        return FreezeForm(reason, until, "O motivo tem caracteres que não podem ser gravados.", "motivo")
    if not until.strip():
        return text, None
    try:
        if not shared_views.ISO_DATE.fullmatch(until.strip()):
            raise ValueError(until)
        last_day = date.fromisoformat(until.strip())
    except ValueError:
        return FreezeForm(reason, until, "Data inválida. Use o seletor de data (dd/mm/aaaa).", "ate")
    if last_day < today:
        return FreezeForm(reason, until, f"A data final não pode ser antes de hoje ({brazilian.day(today)}).", "ate")
    _, last = limits.date_window(today)
    if last_day > last:
        return FreezeForm(reason, until, f"Escolha uma data até {brazilian.day(last)}.", "ate")
    return text, last_day
