"""Sistema > Cadastros > Clientes: the list, Novo cliente, the customer's page and Editar."""

from dataclasses import astuple

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import FormData

from ..domain.customer_machine import TransitionRequest
from ..domain.errors import (
    AtivaError,
    DuplicateDocument,
    DuplicateExternalRef,
    GuardFailed,
    InvalidInput,
    InvalidReason,
    NotFound,
    OutOfRange,
    StaleVersion,
)
from ..domain.vocabulary import ActivationReason, CustomerEvent, CustomerStatus, EffectState, ServiceStatus, Source
from ..usecases import customer_services, customers, history, plans, standing, timers, transitions
from ..usecases.business_day import provider_today
from ..usecases.radius import view as radius_view
from . import flash, labels, radius_labels
from .auth import WebUser, check_csrf, editor, signed_in_user
from .forms import CustomerForm, StatusChoice
from .rendering import render
from .shared_views import ListFilters

router = APIRouter(include_in_schema=False)
PER_PAGE = 20
HISTORY_PER_PAGE = 20
CustomerId = Path(ge=1, le=customers.MAX_ID)
# Fields of the form that a refusal names, so the message appears beside the right control.
RULE_FIELDS = {
    "reason_required": "motivo",
    "note_required": "observacao",
    "overdue_invoices": "motivo",
    "no_overdue_invoice": "motivo",
    "trust_unlock_days_required": "dias",
    "trust_unlock_too_long": "dias",
    "days_only_for_trust_unlock": "dias",
    "return_date_not_in_future": "data_retorno",
    "until_only_for_suspension": "data_retorno",
    "return_date_requires_customer_request": "data_retorno",
    "hold_requires_forced_activation": "sem_corte_ate",
    "hold_not_in_future": "sem_corte_ate",
    "hold_too_long": "sem_corte_ate",
}


async def form_data(request: Request) -> FormData:
    return await request.form()


def _text(data: FormData, name: str) -> str:
    """A text field of the form; missing, or a file where text belongs, reads as empty."""
    value = data.get(name)
    return value if isinstance(value, str) else ""


def page_number(raw: str) -> int:
    """A page number from the address bar: anything but a plain positive number is page 1."""
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


def _not_found(request: Request, user: WebUser, customer_id: int):
    return render(
        request,
        "message.html",
        404,
        user=user,
        title="Cliente não encontrado",
        message=f"Não existe cliente com o número {customer_id}.",
    )


@router.get("/clientes")
def customer_list(
    request: Request,
    q: str = "",
    situacao: str = "",
    etapa: str = "",
    pagina: str = "1",
    user: WebUser = Depends(signed_in_user),
):
    q, situacao, etapa, status, stage, q_error = astuple(ListFilters.of(q, situacao, etapa))
    page = page_number(pagina)
    if q_error:  # nothing to search for: the term could never be stored
        return render(
            request,
            "customers.html",
            422,
            user=user,
            customers=[],
            total=0,
            q=q,
            situacao=situacao,
            etapa=etapa,
            page=1,
            pages=1,
            q_error=q_error,
        )
    with request.app.state.db.read() as session:
        rows, total = customers.search_customers(session, status=status, q=q, page=page, per_page=PER_PAGE, stage=stage)
        pages = max(1, -(-total // PER_PAGE))
        if page > pages:  # past the end (the list shrank since the link was made): the last page
            page = pages
            rows, total = customers.search_customers(
                session, status=status, q=q, page=page, per_page=PER_PAGE, stage=stage
            )
    return render(
        request,
        "customers.html",
        user=user,
        customers=rows,
        total=total,
        q=q,
        situacao=situacao,
        etapa=etapa,
        page=page,
        pages=pages,
        q_error=None,
    )


@router.get("/clientes/novo")
def new_customer_form(request: Request, user: WebUser = Depends(editor)):
    return render(request, "customer_new.html", user=user, form=CustomerForm())


@router.post("/clientes/novo")
def create_customer(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(editor)):
    check_csrf(user, data.get("csrf_token"))
    form = CustomerForm.from_form(data)
    if form.check():
        try:
            with request.app.state.db.write() as session:
                draft = customers.CustomerDraft(**form.changes())
                customer_id = customers.create_customer(session, draft).id
            return flash.redirect_with(request, f"/clientes/{customer_id}", "criado")
        except AtivaError as error:
            _field_error(form.errors, error)
    return render(request, "customer_new.html", 422, user=user, form=form)


def _field_error(errors: dict[str, str], error: AtivaError) -> None:
    if isinstance(error, DuplicateDocument):
        errors["document"] = labels.error_message(error)
    elif isinstance(error, DuplicateExternalRef):
        errors["external_ref"] = labels.error_message(error)
    else:
        errors["form"] = labels.error_message(error)


def _customer_context(request: Request, session, customer_id: int, history_page: int = 1) -> dict:
    settings = request.app.state.settings
    customer = customers.get_customer(session, customer_id)
    services = customer_services.list_services(session, customer_id)
    changes = history.history_page(session, customer_id, history_page, HISTORY_PER_PAGE)
    # Cancelled services never change again: folded away, so a long-time customer's page stays short.
    return {
        "customer": customer,
        "services": [s for s in services if s.status != ServiceStatus.CANCELLED],
        "cancelled_services": [s for s in services if s.status == ServiceStatus.CANCELLED],
        "service_names": {s.id: s.name for s in services},
        "history": changes,
        "changes": changes.changes,
        "busy": _effects_running(changes.changes),
        "standing": standing.standing(session, customer_id, settings, provider_today(settings.timezone)),
        # Each service's login, plan, FreeRADIUS group and open sessions (RADIUS off: login and plan).
        "network": radius_view.customer_network(session, settings, customer_id),
        "radius": radius_labels,
        "zone": settings.timezone,
        "plans": plans.usable_plans(session),  # Adicionar serviço's choices
    }


def _effects_running(changes) -> bool:
    return any(e.state == EffectState.PENDING.value for change in changes for e in change.effects)


def render_customer(
    request: Request,
    user: WebUser,
    customer_id: int,
    template: str,
    status_code: int = 200,
    history_page: int = 1,
    **extra,
):
    with request.app.state.db.read() as session:
        try:
            context = _customer_context(request, session, customer_id, history_page)
        except NotFound:
            return _not_found(request, user, customer_id)
        return render(request, template, status_code, user=user, **extra, **context)


@router.get("/clientes/{customer_id}")
def customer_page(
    request: Request, customer_id: int = CustomerId, historico: str = "1", user: WebUser = Depends(signed_in_user)
):
    message = flash.pending(request)
    response = render_customer(
        request, user, customer_id, "customer.html", history_page=page_number(historico), flash=message
    )
    flash.consume(request, response)
    return response


@router.get("/clientes/{customer_id}/atividade")
def customer_activity(
    request: Request, customer_id: int = CustomerId, historico: str = "1", user: WebUser = Depends(signed_in_user)
):
    """Services and history, polled by the page until every effect has finished."""
    return render_customer(request, user, customer_id, "_activity.html", history_page=page_number(historico))


@router.get("/clientes/{customer_id}/editar")
def edit_form(request: Request, customer_id: int = CustomerId, user: WebUser = Depends(editor)):
    with request.app.state.db.read() as session:
        try:
            customer = customers.get_customer(session, customer_id)
        except NotFound:
            return _not_found(request, user, customer_id)
        choice = StatusChoice(active="sim" if customer.status == CustomerStatus.ACTIVE else "nao")
        return render(
            request,
            "customer_edit.html",
            user=user,
            customer=customer,
            form=CustomerForm.from_customer(customer),
            choice=choice,
            version=customer.version,
            current=None,
            message=None,
            hold_days=request.app.state.settings.forced_activation_hold_days,
        )


@router.post("/clientes/{customer_id}/editar")
def save_edit(
    request: Request,
    customer_id: int = CustomerId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    """Salvar: field edits and, when Ativo changed, the transition, in one transaction."""
    check_csrf(user, data.get("csrf_token"))
    form, choice = CustomerForm.from_form(data), StatusChoice.from_form(data)
    typed_version = _text(data, "version")
    version = int(typed_version) if typed_version.isascii() and typed_version.isdigit() else None
    with request.app.state.db.read() as session:
        try:
            saved = customers.get_customer(session, customer_id)
        except NotFound:
            return _not_found(request, user, customer_id)
        session.expunge(saved)
    form.check(saved)
    edit = _edit_from(form, choice, saved, version)
    message = None
    if not form.errors and not choice.errors:
        try:
            with request.app.state.db.write() as session:
                customers.edit_customer(session, customer_id, edit, user.actor, Source.UI)
            return flash.redirect_with(request, f"/clientes/{customer_id}", "salvo")
        except StaleVersion as error:
            message = labels.error_message(error)
        except GuardFailed as error:
            choice.errors[RULE_FIELDS.get(error.rule, "form")] = labels.error_message(error)
        except OutOfRange:  # only the return date has bounds on this form
            choice.errors["data_retorno"] = labels.RETURN_DATE_TOO_FAR
        except InvalidInput as error:
            choice.errors["motivo" if isinstance(error, InvalidReason) else "form"] = labels.error_message(error)
        except AtivaError as error:
            _field_error(form.errors, error)
    return _edit_again(request, user, customer_id, form, choice, version, message)


def _edit_from(form: CustomerForm, choice: StatusChoice, saved, version: int | None) -> customers.CustomerEdit:
    target = {"sim": CustomerStatus.ACTIVE.value, "nao": CustomerStatus.INACTIVE.value}.get(choice.active)
    if target is None:
        choice.errors["ativo"] = "Escolha Sim ou Não."
    changes_status = target is not None and target != saved.status
    if not changes_status and choice.reason:
        choice.errors["motivo"] = "O motivo só vale quando o campo Ativo muda. Deixe em branco ou mude o Ativo."
    if changes_status and not choice.reason:
        choice.errors["motivo"] = labels.GUARD_MESSAGES["reason_required"]
    days, until, hold = choice.parsed_days(), choice.parsed_until(), choice.parsed_hold()
    if hold is not None and not (changes_status and target == CustomerStatus.ACTIVE.value):
        choice.errors["sem_corte_ate"] = labels.GUARD_MESSAGES["hold_requires_forced_activation"]
    return customers.CustomerEdit(
        changes=form.changes(),
        status=target if changes_status else None,
        reason=choice.reason or None if changes_status else None,
        note=choice.parsed_note() if changes_status else None,
        force=choice.force and changes_status,
        version=version,
        days=days if changes_status else None,
        until=until if changes_status else None,
        hold_until=hold if changes_status else None,
    )


def _edit_again(
    request: Request,
    user: WebUser,
    customer_id: int,
    form: CustomerForm,
    choice: StatusChoice,
    version: int | None,
    message: str | None,
):
    """The form again, with what was typed; after a conflict, also what is saved now."""
    with request.app.state.db.read() as session:
        current = customers.get_customer(session, customer_id)
        conflict = message is not None
        return render(
            request,
            "customer_edit.html",
            409 if conflict else 422,
            user=user,
            customer=current,
            form=form,
            choice=choice,
            version=current.version if conflict else version,
            current=current if conflict else None,
            message=message,
            hold_days=request.app.state.settings.forced_activation_hold_days,
        )


@router.post("/clientes/{customer_id}/desbloqueio")
def trust_unlock(
    request: Request,
    customer_id: int = CustomerId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    """Desbloqueio de confiança from the customer's page: active for a number of days."""
    check_csrf(user, data.get("csrf_token"))
    choice = StatusChoice(days=_text(data, "dias").strip(), note=_text(data, "observacao").strip())
    days, note = choice.parsed_days(), choice.parsed_note()
    error = choice.errors.get("observacao") or choice.errors.get("dias")
    if days is not None and not error:
        request_ = TransitionRequest(ActivationReason.TRUST_UNLOCK.value, note, actor_role=user.role, days=days)
        try:
            with request.app.state.db.write() as session:
                transitions.transition_customer(
                    session, customer_id, CustomerEvent.ACTIVATE, request_, user.actor, Source.UI
                )
            return flash.redirect_with(request, f"/clientes/{customer_id}", "salvo")
        except AtivaError as refused:
            error = labels.error_message(refused)
    return page_with_error(request, user, customer_id, error or "Informe o número de dias.")


@router.post("/clientes/{customer_id}/retorno")
def change_return_date(
    request: Request,
    customer_id: int = CustomerId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    """Change or clear (empty date) the return date of a suspension at the customer's request."""
    check_csrf(user, data.get("csrf_token"))
    choice = StatusChoice(until=_text(data, "data_retorno").strip())
    until = choice.parsed_until()
    if not choice.errors:
        today = provider_today(request.app.state.settings.timezone)
        try:
            with request.app.state.db.write() as session:
                timers.set_return_date(session, customer_id, until, today, user.actor, Source.UI)
            return flash.redirect_with(request, f"/clientes/{customer_id}", "salvo")
        except AtivaError as refused:
            if isinstance(refused, OutOfRange):
                choice.errors["data_retorno"] = labels.RETURN_DATE_TOO_FAR
            elif isinstance(refused, GuardFailed):  # a date not after today, or not a suspension at request
                choice.errors["data_retorno"] = labels.error_message(refused)
            else:
                choice.errors["data_retorno"] = "Só um cliente suspenso a pedido dele tem data de retorno."
    return page_with_error(request, user, customer_id, choice.errors["data_retorno"])


def page_with_error(request: Request, user: WebUser, customer_id: int, error: str, status_code: int = 422):
    return render_customer(request, user, customer_id, "customer.html", status_code, action_error=error)
