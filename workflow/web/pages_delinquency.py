"""Inadimplência: who the next run cuts and why, and the freeze of automatic cuts (every signed-in
user reads them); admins run the cut now, freeze the cuts and lift the freeze."""

import holidays
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from ..domain import brazilian
from ..domain.delinquency import NoCut
from ..domain.errors import InvalidInput
from ..domain.vocabulary import Source
from ..usecases import delinquency, freeze, freeze_views
from ..usecases.business_day import provider_today
from . import freeze_panel
from .auth import WebUser, admin, check_csrf, signed_in_user
from .freeze_panel import FreezeForm
from .pages_customers import form_data
from .rendering import render
from .shared_views import LADDER_LISTS, preview_day, sweep_preview

router = APIRouter(include_in_schema=False)
WEEKDAY_NAMES = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")


def no_cut_message(no_cut: NoCut, subdivision: str | None) -> str:
    """The policy's reason for a day without cuts, in the operator's words."""
    if no_cut.weekday is not None:
        return f"{brazilian.day(no_cut.day)} é {WEEKDAY_NAMES[no_cut.weekday]}, dia sem corte."
    # The policy's calendar speaks English (API messages); the operator reads the Brazilian name.
    name = holidays.country_holidays("BR", subdiv=subdivision, language="pt_BR").get(no_cut.day)
    return f"{brazilian.day(no_cut.day)} é feriado ({name or no_cut.holiday}): não há corte."


@router.get("/inadimplencia")
def preview(
    request: Request,
    data: str = Query("", max_length=40),
    executado: int = -1,
    lotes: int = 0,
    congelamento: str = Query("", max_length=20),
    user: WebUser = Depends(signed_in_user),
):
    """Who a run on the chosen day would cut; on a day without cuts, who the next cut day would."""
    return _page(request, user, data, executado, lotes, freeze_outcome=freeze_panel.OUTCOMES.get(congelamento))


def _page(
    request: Request,
    user: WebUser,
    data: str = "",
    executado: int = -1,
    lotes: int = 0,
    *,
    freeze_form: FreezeForm | None = None,
    freeze_outcome: str | None = None,
):
    settings = request.app.state.settings
    policy = delinquency.policy_from(settings)
    as_of, date_error = preview_day(data.strip(), settings.timezone)
    no_cut = policy.no_cut(as_of)
    shown = sweep_preview(request, policy, as_of)
    today = provider_today(settings.timezone)
    with request.app.state.db.read() as session:
        frozen = freeze.read_state(session)
        changes = freeze.history(session, freeze_views.HISTORY_SHOWN)
    return render(
        request,
        "delinquency.html",
        422 if date_error or (freeze_form and freeze_form.error) else 200,
        user=user,
        as_of=as_of,
        cut_day=shown.cut_day,
        candidates=shown.candidates,
        held=shown.held,
        steps=shown.steps,
        ladder_lists=LADDER_LISTS,
        no_cut=no_cut_message(no_cut, settings.holiday_subdivision) if no_cut else None,
        policy=policy,
        settings=settings,
        dispatched=executado,
        batches=lotes,
        date_error=date_error,
        typed_date=data,
        freeze_state=frozen,
        freeze_changes=changes,
        freeze_actions=freeze_panel.ACTIONS,
        freeze_reason=lambda f: freeze_panel.reason_words(f, settings.payment_silence_hours),
        freeze_form=freeze_form or _current_form(frozen),
        freeze_outcome=freeze_outcome,
        today=today,
    )


def _current_form(state: freeze.FreezeState) -> FreezeForm:
    """The form to change a freeze starts from the freeze a person set (not from an automatic one)."""
    current = state.freeze
    if not state.holds or current is None or current.automatic:
        return FreezeForm()
    return FreezeForm(current.reason, current.until.isoformat() if current.until else "")


@router.post("/inadimplencia/executar")
def run_now(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """The daily job's cut, now: batches handed to the workers, each cut re-checked under the
    customer's row lock, so a payment arriving meanwhile is never cut. The ladder's steps are not
    taken here (a request does not hold the database that long): the hourly job and the daily
    sweep take them."""
    check_csrf(user, data.get("csrf_token"))
    settings = request.app.state.settings
    today = provider_today(settings.timezone)
    result = delinquency.dispatch_sweep(
        request.app.state.db, delinquency.policy_from(settings), today, settings.sweep_batch_size
    )
    if result.frozen is not None:  # nobody handed out: the page says why
        outcome = "disparado" if result.tripped else "barrado"
        return RedirectResponse(f"/inadimplencia?congelamento={outcome}", status_code=303)
    return RedirectResponse(f"/inadimplencia?executado={result.candidates}&lotes={result.batches}", status_code=303)


@router.post("/inadimplencia/congelar")
def freeze_cuts(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """Freeze the automatic cuts (or change the reason or last day of the freeze)."""
    check_csrf(user, data.get("csrf_token"))
    reason, until = (value if isinstance(value, str) else "" for value in (data.get("motivo"), data.get("ate")))
    checked = freeze_panel.check_form(reason, until, provider_today(request.app.state.settings.timezone))
    if isinstance(checked, FreezeForm):
        return _page(request, user, freeze_form=checked)
    try:
        freeze.freeze_cuts(request.app.state.db, checked[0], checked[1], user.actor.name, Source.UI)
    except InvalidInput:  # the day turned between the check and the write
        return _page(request, user, freeze_form=FreezeForm(reason, until, "Confira o motivo e a data.", "motivo"))
    return RedirectResponse("/inadimplencia?congelamento=ligado", status_code=303)


@router.post("/inadimplencia/descongelar")
def lift_freeze(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """Lift the freeze: the next run cuts as usual."""
    check_csrf(user, data.get("csrf_token"))
    lifted = freeze.lift_freeze(request.app.state.db, user.actor.name, Source.UI)
    return RedirectResponse(f"/inadimplencia?congelamento={'desligado' if lifted else 'nada'}", status_code=303)
