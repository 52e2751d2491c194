"""Inadimplência (admin): who the next run cuts and why, and a button to run it now."""

from datetime import date

import holidays
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from ..domain.delinquency import Policy
from ..services import delinquency
from ..services.clock import provider_today
from .auth import WebUser, admin, check_csrf
from .pages_customers import form_data
from .rendering import brazilian_date, render

router = APIRouter(include_in_schema=False)
WEEKDAY_NAMES = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
                 "sábado", "domingo")


def why_no_cut(policy: Policy, day: date, subdivision: str | None) -> str | None:
    if day.weekday() in policy.no_cut_weekdays:
        return f"{brazilian_date(day)} é {WEEKDAY_NAMES[day.weekday()]}, dia sem corte."
    if policy.is_holiday(day):
        # The policy's calendar speaks English (API messages); the operator reads the Brazilian name.
        name = holidays.country_holidays("BR", subdiv=subdivision, language="pt_BR").get(day)
        return f"{brazilian_date(day)} é feriado ({name}): não há corte."
    return None


@router.get("/inadimplencia")
def preview(request: Request, data: date | None = Query(None), executado: int = -1,
            lotes: int = 0, user: WebUser = Depends(admin)):
    settings = request.app.state.settings
    policy = delinquency.policy_from(settings)
    as_of = data or provider_today(settings.timezone)
    with request.app.state.db.read() as session:
        found = delinquency.candidates(session, policy, as_of)
        held = delinquency.held_candidates(session, policy, as_of)
    return render(request, "delinquency.html", user=user, as_of=as_of, candidates=found, held=held,
                  no_cut=why_no_cut(policy, as_of, settings.holiday_subdivision), policy=policy, settings=settings,
                  dispatched=executado, batches=lotes)


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
