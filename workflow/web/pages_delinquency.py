"""Inadimplência (admin): who the next run cuts and why, and a button to run it now."""

from datetime import date

import holidays
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from ..domain import brazilian
from ..domain.delinquency import NoCut
from ..services import delinquency
from ..services.clock import provider_today
from .auth import WebUser, admin, check_csrf
from .pages_customers import form_data
from .rendering import render

router = APIRouter(include_in_schema=False)
WEEKDAY_NAMES = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
                 "sábado", "domingo")


def no_cut_message(no_cut: NoCut, subdivision: str | None) -> str:
    """The policy's reason for a day without cuts, in the operator's words."""
    if no_cut.weekday is not None:
        return f"{brazilian.day(no_cut.day)} é {WEEKDAY_NAMES[no_cut.weekday]}, dia sem corte."
    # The policy's calendar speaks English (API messages); the operator reads the Brazilian name.
    name = holidays.country_holidays("BR", subdiv=subdivision, language="pt_BR").get(no_cut.day)
    return f"{brazilian.day(no_cut.day)} é feriado ({name or no_cut.holiday}): não há corte."


@router.get("/inadimplencia")
def preview(request: Request, data: date | None = Query(None), executado: int = -1,
            lotes: int = 0, user: WebUser = Depends(admin)):
    """Who a run on the chosen day would cut; on a day without cuts, who the next cut day would."""
    settings = request.app.state.settings
    policy = delinquency.policy_from(settings)
    as_of = data or provider_today(settings.timezone)
    no_cut = policy.no_cut(as_of)
    cut_day = policy.next_cut_day(as_of)
    with request.app.state.db.read() as session:
        found = delinquency.candidates(session, policy, cut_day)
        held = delinquency.held_candidates(session, policy, cut_day)
    return render(request, "delinquency.html", user=user, as_of=as_of, cut_day=cut_day, candidates=found,
                  held=held, no_cut=no_cut_message(no_cut, settings.holiday_subdivision) if no_cut else None,
                  policy=policy, settings=settings, dispatched=executado, batches=lotes)


@router.post("/inadimplencia/executar")
def run_now(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """The same run as the daily job: batches handed to the workers, each cut re-checked under
    the customer's row lock, so a payment arriving meanwhile is never cut."""
    from workers.tasks import sweep_batch

    check_csrf(user, data.get("csrf_token"))
    settings = request.app.state.settings
    today = provider_today(settings.timezone)
    result = delinquency.run_sweep(
        request.app.state.db, delinquency.policy_from(settings), today, settings.sweep_batch_size,
        dispatch=lambda ids: sweep_batch.delay(ids, today.isoformat()),
    )
    return RedirectResponse(f"/inadimplencia?executado={result.candidates}&lotes={result.batches}",
                            status_code=303)
