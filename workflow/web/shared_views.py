"""What a page and its CSV export both read, so the two cannot drift apart: the customer list's
filters (/clientes) and the cut and ladder preview of a day (/inadimplencia)."""

import re
from dataclasses import dataclass
from datetime import date

from fastapi import Request

from ..domain import brazilian
from ..domain.delinquency import Policy
from ..domain.errors import OutOfRange
from ..domain.limits import date_window
from ..domain.vocabulary import CustomerStatus
from ..usecases import delinquency, ladder
from ..usecases.business_day import provider_today
from . import labels
from .forms import control_character_message

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # what the date picker sends


@dataclass(frozen=True)
class ListFilters:
    """The list's filters from the address bar (the list and its CSV export read them alike)."""

    q: str
    situacao: str  # the address bar's words, kept for the links
    etapa: str
    status: str | None  # what the register's search takes
    stage: str | None
    q_error: str | None

    @classmethod
    def of(cls, q: str, situacao: str, etapa: str) -> "ListFilters":
        # Values typed or edited in the address bar: an odd one means "all", never an error.
        q = q[:200]
        status = {"ativo": CustomerStatus.ACTIVE.value, "inativo": CustomerStatus.INACTIVE.value}.get(situacao)
        stage = labels.STAGE_FILTERS.get(etapa)
        return cls(q, situacao if status else "", etapa if stage else "", status, stage, control_character_message(q))


# The ladder's lists on the page: (attribute of LadderPreview, id, title).
LADDER_LISTS = (
    ("to_notice", "regua-para-aviso", "Entrariam em aviso"),
    ("to_reduced", "regua-para-reduzida", "Teriam a velocidade reduzida"),
    ("back_to_plan", "regua-de-volta", "Voltariam ao plano normal"),
    ("at_notice", "regua-em-aviso", "Em aviso agora"),
    ("at_reduced", "regua-em-reduzida", "Com velocidade reduzida agora"),
)


def preview_day(typed: str, timezone: str) -> tuple[date, str | None]:
    """The day to preview, and what is wrong with the typed one (then today is shown instead)."""
    today = provider_today(timezone)
    if not typed:
        return today, None
    try:
        if not ISO_DATE.fullmatch(typed):
            raise ValueError(typed)
        return delinquency.business_day(date.fromisoformat(typed), timezone), None
    except ValueError:
        return today, "Data inválida. Use o seletor de data (dd/mm/aaaa)."
    except OutOfRange:
        first, last = date_window(today)
        return today, (f"Escolha uma data entre {brazilian.day(first)} e {brazilian.day(last)}.")


@dataclass(frozen=True)
class SweepPreview:
    """What the page (and its CSV) shows for a day: the cut of that day or of the next cut day."""

    cut_day: date
    candidates: list[delinquency.Candidate]
    held: list[delinquency.HeldCandidate]
    steps: ladder.LadderPreview


def sweep_preview(request: Request, policy: Policy, as_of: date) -> SweepPreview:
    cut_day = policy.next_cut_day(as_of)
    with request.app.state.db.read() as session:
        found = delinquency.candidates(session, policy, cut_day)
        held = delinquency.held_candidates(session, policy, cut_day)
        # The ladder moves any day, not only on cut days: as its job would on the chosen day.
        steps = ladder.ladder_preview(session.connection(), policy, as_of)
    return SweepPreview(cut_day, found, held, steps)
