"""Ações em lote (admin): build a selection, read its preview, confirm, watch the workers run it.

Every rule is the bulk job's (usecases/bulk.py): this page turns the form and the uploaded file
into its request and its answers into Portuguese. A refused list names each line of the file.
"""

import logging
from dataclasses import dataclass, field, replace
from datetime import date

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData, UploadFile

from ..domain import brazilian, limits
from ..domain.bulk import (
    BULK_REASONS,
    MAX_CUSTOMERS,
    OPEN_STATES,
    REASONS_NEEDING_A_NOTE,
    Conflict,
    NothingSelected,
    SelectionRefused,
    TooManyCustomers,
    read_entries,
)
from ..domain.customer_list import MAX_LIST_BYTES, ListRefused, read_customer_list
from ..domain.errors import AtivaError, InvalidInput, NotFound
from ..domain.vocabulary import CustomerEvent, Source
from ..usecases import bulk
from ..usecases.business_day import provider_today
from ..usecases.sweep_dispatch import NoDispatcher
from . import bulk_labels, labels
from .auth import WebUser, admin, check_csrf
from .forms import unsafe_text_message
from .pages_customers import form_data, page_number
from .rendering import render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
PER_PAGE = 50
JobId = Path(ge=1, le=limits.MAX_ROW_ID)
MODES = ("filtro", "arquivo", "desfazer")
FILTER_FIELDS = (  # the form's field -> the filter's criterion and the words it may take
    ("situacao", "status", labels.STATUS),
    ("motivo_inativacao", "inactivation_reason", labels.INACTIVATION_REASONS),
    ("origem", "source", labels.SOURCES),
)


@dataclass
class BadLine:
    line: int
    value: str
    problem: str


@dataclass
class BulkForm:
    """What was typed on Nova ação em lote, kept on a refusal; `errors` by field."""

    values: dict[str, str] = field(default_factory=dict)
    force: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    bad_lines: list[BadLine] = field(default_factory=list)

    @classmethod
    def from_form(cls, data: FormData) -> "BulkForm":
        names = ("modo", "acao", "motivo", "observacao", "tipo_lista", "data_corte", "data")
        values = {name: _text(data, name).strip() for name in names}
        values.update((name, _text(data, name).strip()) for name, _, _ in FILTER_FIELDS)
        return cls(values, force=data.get("forcar") == "on")

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def _text(data: FormData, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _date(form: BulkForm, name: str, today: date) -> date | None:
    text = form.get(name)
    if not text:
        return None
    try:
        return limits.check_date(name, date.fromisoformat(text), today)
    except InvalidInput:  # a malformed date, or one outside the accepted window
        first, last = limits.date_window(today)
        form.errors[name] = (
            f"Data inválida. Use o seletor de data (dd/mm/aaaa), entre {brazilian.day(first)} e {brazilian.day(last)}."
        )
        return None


def _note(form: BulkForm) -> str | None:
    note = form.get("observacao")
    message = unsafe_text_message(note, multiline=True)
    if message is None and len(note) > bulk.MAX_NOTE_LENGTH:
        message = f"A observação pode ter até {bulk.MAX_NOTE_LENGTH} caracteres."
    if message:
        form.errors["observacao"] = message
    return note or None


def _action_and_reason(form: BulkForm) -> tuple[str | None, str | None]:
    action = bulk_labels.ACTION_CHOICES.get(form.get("acao"))
    if action is None:
        form.errors["acao"] = "Escolha Ativar ou Inativar."
        return None, None
    if form.get("motivo") not in BULK_REASONS[CustomerEvent(action)]:
        form.errors["motivo"] = f"Escolha um motivo de {'ativação' if action == 'activate' else 'inativação'}."
    if form.force and action != CustomerEvent.ACTIVATE.value:
        form.errors["forcar"] = labels.GUARD_MESSAGES["force_not_applicable"]
    return action, form.get("motivo")


def _filter(form: BulkForm, today: date) -> bulk.BulkFilter | None:
    wanted: dict = {}
    for name, criterion, words in FILTER_FIELDS:
        value = form.get(name)
        if value and value not in words:
            form.errors[name] = "Escolha uma opção da lista."
        elif value:
            wanted[criterion] = value
    cut_date = _date(form, "data_corte", today)
    if cut_date is not None:
        wanted["cut_date"] = cut_date
    if not wanted and not form.errors:
        form.errors["filtro"] = "Escolha pelo menos um critério do filtro."
    return bulk.BulkFilter(**wanted) if wanted else None


def _uploaded(form: BulkForm, upload: object) -> tuple[list, list[int]] | None:
    match = form.get("tipo_lista")
    if match not in bulk_labels.MATCHES:
        form.errors["tipo_lista"] = "Diga o que a primeira coluna do arquivo traz."
    if not isinstance(upload, UploadFile) or not upload.filename:
        form.errors["arquivo"] = "Escolha o arquivo CSV com a lista de clientes."
        return None
    if "tipo_lista" in form.errors:  # the kind decides which column a header names
        return None
    upload.file.seek(0)
    raw = upload.file.read(MAX_LIST_BYTES + 1)
    try:
        listed = read_customer_list(raw, match)
    except ListRefused as refused:
        form.errors["arquivo"] = bulk_labels.list_refusal(refused)
        return None
    try:  # the job's own reading of each entry, before anything is looked up
        read_entries(listed.entries, match)
    except SelectionRefused as refused:
        _name_lines(form, refused, listed.lines, bulk_labels.INVALID_ENTRY[match])
        return None
    return listed.entries, listed.lines


def _name_lines(form: BulkForm, refused: SelectionRefused, lines: list[int], problem: str) -> None:
    form.bad_lines = [BadLine(lines[entry["position"] - 1], str(entry["value"]), problem) for entry in refused.entries]
    count = len(form.bad_lines)
    form.errors["arquivo"] = (
        f"Nada foi criado: {count} linha(s) do arquivo não servem. "
        "Corrija-as (lista no alto da página) e envie de novo."
    )


def _request(form: BulkForm, today: date, listed: tuple[list, list[int]] | None) -> bulk.BulkRequest | None:
    mode = form.get("modo")
    note = _note(form)
    if mode == "desfazer":
        day = _date(form, "data", today)
        if day is None and "data" not in form.errors:
            form.errors["data"] = "Informe o dia dos cortes a desfazer."
        if not note and "observacao" not in form.errors:
            form.errors["observacao"] = "Escreva uma observação: ela fica no histórico de cada cliente reativado."
        request = bulk.BulkRequest(action=None, note=note, preset=bulk.UNDO_CUTS, preset_date=day)
        return None if form.errors else request
    action, reason = _action_and_reason(form)
    if reason in REASONS_NEEDING_A_NOTE and not note and "observacao" not in form.errors:
        form.errors["observacao"] = labels.GUARD_MESSAGES["note_required"]
    common = bulk.BulkRequest(action, reason, note, force=form.force)
    if mode == "filtro":
        wanted = _filter(form, today)
        return None if form.errors else replace(common, filter=wanted)
    if mode == "arquivo":
        if listed is None or form.errors:
            return None
        return replace(common, customers=listed[0], match=form.get("tipo_lista"))
    form.errors["modo"] = "Escolha como selecionar os clientes: por filtro ou por arquivo."
    return None


def _refused_selection(form: BulkForm, error: AtivaError, lines: list[int] | None) -> None:
    """The job's refusal of the selection, in the operator's words (nothing was created)."""
    mode = form.get("modo")
    if isinstance(error, SelectionRefused) and lines is not None:
        _name_lines(form, error, lines, bulk_labels.UNKNOWN_ENTRY[form.get("tipo_lista")])
    elif isinstance(error, TooManyCustomers):
        form.errors["form"] = (
            f"Um lote tem no máximo {MAX_CUSTOMERS:,} clientes e a seleção tem mais. ".replace(",", ".")
            + "Refine a seleção; nada foi criado."
        )
    elif not isinstance(error, NothingSelected):  # the form let something through: say what
        log.info("bulk job refused: %s", error.detail)  # the English words stay in the log
        form.errors["form"] = f"A seleção foi recusada; nada foi criado. {labels.error_message(error)}"
    elif mode == "desfazer":
        form.errors["data"] = (
            f"Ninguém cortado pela inadimplência automática em {_day(form.get('data'))} "
            "continua inativo por esse corte; nada foi criado."
        )
    elif mode == "filtro":
        form.errors["filtro"] = "Nenhum cliente atende a esse filtro; nada foi criado."
    else:
        form.errors["form"] = "A seleção foi recusada; nada foi criado. Confira os campos."


def _day(iso: str) -> str:
    return brazilian.day(date.fromisoformat(iso))


def _new_page(request: Request, user: WebUser, form: BulkForm, status_code: int = 200):
    return render(
        request,
        "bulk_new.html",
        status_code,
        user=user,
        form=form,
        bulk=bulk_labels,
        max_upload_mb=MAX_LIST_BYTES // (1024 * 1024),
        max_customers=f"{MAX_CUSTOMERS:,}".replace(",", "."),
    )


@router.get("/lotes")
def job_list(request: Request, pagina: str = "1", user: WebUser = Depends(admin)):
    page = page_number(pagina)
    jobs = bulk.list_jobs(request.app.state.db, (page - 1) * PER_PAGE, PER_PAGE + 1)
    return render(
        request,
        "bulk_jobs.html",
        user=user,
        jobs=jobs[:PER_PAGE],
        page=page,
        more=len(jobs) > PER_PAGE,
        bulk=bulk_labels,
    )


@router.get("/lotes/novo")
def new_job_form(request: Request, user: WebUser = Depends(admin)):
    return _new_page(request, user, BulkForm({"modo": "filtro"}))


@router.post("/lotes/novo")
def create_job(request: Request, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """The preview job: nothing changes until Confirmar e executar. A plain function, run in the
    thread pool: the preview of a long list must not hold up the server's event loop."""
    check_csrf(user, data.get("csrf_token"))
    form = BulkForm.from_form(data)
    today = provider_today(request.app.state.settings.timezone)
    listed = _uploaded(form, data.get("arquivo")) if form.get("modo") == "arquivo" else None
    wanted = _request(form, today, listed)
    if wanted is None:
        return _new_page(request, user, form, 422)
    try:
        job = bulk.create_job(request.app.state.db, wanted, user.actor, Source.UI)
    except (InvalidInput, TooManyCustomers) as refused:
        _refused_selection(form, refused, listed[1] if listed else None)
        return _new_page(request, user, form, 413 if isinstance(refused, TooManyCustomers) else 422)
    return RedirectResponse(f"/lotes/{job.id}", status_code=303)


def _job_context(request: Request, job_id: int, page: int) -> dict | None:
    try:
        job = bulk.job_view(request.app.state.db, job_id, 0, 0)  # its size first, for the page asked
    except NotFound:
        return None
    pages = max(1, -(-job.total // PER_PAGE))
    page = min(page, pages)
    job = bulk.job_view(request.app.state.db, job_id, (page - 1) * PER_PAGE, PER_PAGE)
    return {"job": job, "page": page, "pages": pages, "open": job.state in OPEN_STATES, "bulk": bulk_labels}


def _job_page(request: Request, user: WebUser, job_id: int, page: int = 1, status_code: int = 200, **extra):
    context = _job_context(request, job_id, page)
    if context is None:
        return render(
            request,
            "message.html",
            404,
            user=user,
            title="Lote não encontrado",
            message=f"Não existe ação em lote com o número {job_id}.",
        )
    return render(request, "bulk_job.html", status_code, user=user, **context, **extra)


@router.get("/lotes/{job_id}")
def job_page(request: Request, job_id: int = JobId, pagina: str = "1", user: WebUser = Depends(admin)):
    return _job_page(request, user, job_id, page_number(pagina))


@router.get("/lotes/{job_id}/andamento")
def job_progress(request: Request, job_id: int = JobId, pagina: str = "1", user: WebUser = Depends(admin)):
    """The part of the page that changes while the workers run the job (polled every 2 s)."""
    context = _job_context(request, job_id, page_number(pagina))
    if context is None:
        return render(request, "message.html", 404, user=user, title="Lote não encontrado", message="")
    return render(request, "_bulk_job_status.html", user=user, **context)


# What each button's refusal says (the job is in another state, or no worker is connected).
REFUSALS: dict[str, dict[type[Exception], tuple[int, str]]] = {
    "executar": {
        Conflict: (409, "Este lote já foi executado, está em execução ou foi cancelado: nada foi feito de novo."),
        NoDispatcher: (503, "Os workers não estão conectados: nada foi executado. Tente de novo em instantes."),
    },
    "cancelar": {Conflict: (409, "Este lote já terminou: não há o que cancelar.")},
}


def _press(request: Request, user: WebUser, job_id: int, data: FormData, button: str, use_case):
    """A button of the job's page: the use case, then the page again (POST/redirect/GET)."""
    check_csrf(user, data.get("csrf_token"))
    try:
        use_case(request.app.state.db, job_id, user.actor)
    except NotFound:
        return _job_page(request, user, job_id)
    except (Conflict, NoDispatcher) as refused:
        status_code, message = REFUSALS[button][type(refused)]
        return _job_page(request, user, job_id, status_code=status_code, message=message)
    return RedirectResponse(f"/lotes/{job_id}", status_code=303)


@router.post("/lotes/{job_id}/executar")
def run_job(request: Request, job_id: int = JobId, data: FormData = Depends(form_data), user: WebUser = Depends(admin)):
    """Confirmar e executar: the batches handed to the workers."""
    return _press(request, user, job_id, data, "executar", bulk.run_job)


@router.post("/lotes/{job_id}/cancelar")
def cancel_job(
    request: Request, job_id: int = JobId, data: FormData = Depends(form_data), user: WebUser = Depends(admin)
):
    """Descartar a preview, or Cancelar a job under way between its batches."""
    return _press(request, user, job_id, data, "cancelar", bulk.cancel_job)
