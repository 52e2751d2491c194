"""A customer's services from its page: Adicionar serviço, Suspender (with a note), Reativar and
Cancelar (confirmed). Operators and admins only; the rules are the use cases' (customer_services)."""

from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import FormData

from ..db.models import Service
from ..domain import limits, radius
from ..domain.errors import (
    AtivaError,
    CustomerInactive,
    DuplicateExternalRef,
    DuplicateLogin,
    GuardFailed,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from ..domain.vocabulary import ServiceEvent
from ..usecases import customer_services, customers
from . import flash, labels
from .auth import WebUser, check_csrf, editor
from .forms import unsafe_text_message
from .pages_customers import CustomerId, form_data, page_with_error, render_customer
from .rendering import render

router = APIRouter(include_in_schema=False)
ServiceId = Path(ge=1, le=customers.MAX_ID)
NOTE_MAX = 2000  # as the API's suspension reason
# What the fields hold in the database (PostgreSQL refuses longer text).
NAME_MAX: int = Service.__table__.c.name.type.length  # type: ignore[attr-defined]
REF_MAX: int = Service.__table__.c.external_ref.type.length  # type: ignore[attr-defined]

CUSTOMER_INACTIVE = {
    ServiceEvent.RESUME: "O cliente está inativo: ative o cliente para reativar os serviços dele.",
    None: "O cliente está inativo: ative o cliente antes de adicionar um serviço.",
}
NOT_ALLOWED = {
    ServiceEvent.SUSPEND: "Só um serviço ativo pode ser suspenso. Nada foi alterado.",
    ServiceEvent.RESUME: "Só um serviço suspenso pode ser reativado. Nada foi alterado.",
    ServiceEvent.CANCEL: "Este serviço já foi cancelado. Nada foi alterado.",
}
DONE = {
    ServiceEvent.SUSPEND: "servico_suspenso",
    ServiceEvent.RESUME: "servico_reativado",
    ServiceEvent.CANCEL: "servico_cancelado",
}


def _text(data: FormData, name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


@dataclass
class ServiceForm:
    """Adicionar serviço, as typed. The password is never sent back to the page."""

    name: str = ""
    external_ref: str = ""
    login: str = ""
    password: str = ""
    plan_id: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, data: FormData) -> "ServiceForm":
        password = data.get("password")
        return cls(
            name=_text(data, "name"),
            external_ref=_text(data, "external_ref"),
            login=_text(data, "login"),
            password=password if isinstance(password, str) else "",  # as typed: spaces count
            plan_id=_text(data, "plan_id"),
        )

    def check(self) -> bool:
        """Each message beside its field; the use case checks everything again."""
        for name, limit in (("name", NAME_MAX), ("external_ref", REF_MAX), ("login", None), ("password", None)):
            value = getattr(self, name)
            message = unsafe_text_message(value)
            if message is None and limit is not None and len(value) > limit:
                message = f"Use no máximo {limit} caracteres (foram digitados {len(value)})."
            if message:
                self.errors[name] = message
        if not self.name and "name" not in self.errors:
            self.errors["name"] = "Informe o nome do serviço (por exemplo, o plano: Fibra 500 Mega)."
        if self.plan_id and not (
            self.plan_id.isascii() and self.plan_id.isdigit() and int(self.plan_id) <= limits.MAX_ROW_ID
        ):
            self.errors["plan_id"] = "Escolha um plano da lista."
        if self.login and "login" not in self.errors:
            self._check_access()
        elif self.password and "password" not in self.errors:
            self.errors["password"] = "A senha é do login RADIUS: informe o login também, ou apague a senha."  # noqa: S105
        return not self.errors

    def _check_access(self) -> None:
        try:
            radius.check_login(self.login)
        except InvalidInput:
            self.errors["login"] = "O login pode ter até 64 letras, números e . _ @ + - (sem espaços nem acentos)."
        if not self.password:
            self.errors.setdefault("password", "Informe a senha do login.")
        elif "password" not in self.errors:
            try:
                radius.check_password(self.password)
            except InvalidInput:
                self.errors["password"] = f"A senha pode ter de 1 a {radius.PASSWORD_MAX} caracteres."
        if not self.plan_id:
            self.errors.setdefault("plan_id", "Um serviço com login precisa de um plano: escolha um.")

    def access(self) -> customer_services.Access:
        return customer_services.Access(
            login=self.login or None,
            password=self.password if self.login else None,
            plan_id=int(self.plan_id) if self.plan_id else None,
        )


def _refusal(form: ServiceForm, error: AtivaError) -> None:
    if isinstance(error, DuplicateLogin):
        form.errors["login"] = "Este login já é de outro serviço (maiúsculas e minúsculas não contam)."
    elif isinstance(error, DuplicateExternalRef):
        form.errors["external_ref"] = "Já existe um serviço com este código."
    elif isinstance(error, CustomerInactive):
        form.errors["form"] = CUSTOMER_INACTIVE[None]
    elif isinstance(error, InvalidInput) and form.plan_id:  # the form checked all else: the plan
        form.errors["plan_id"] = "Escolha outro plano: o escolhido não existe mais ou foi aposentado."
    else:
        form.errors["form"] = labels.error_message(error)


@router.post("/clientes/{customer_id}/servicos")
def add_service(
    request: Request,
    customer_id: int = CustomerId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    check_csrf(user, data.get("csrf_token"))
    form = ServiceForm.from_form(data)
    if form.check():
        try:
            with request.app.state.db.write() as session:
                customer_services.add_service(session, customer_id, form.name, form.external_ref or None, form.access())
            return flash.redirect_with(request, f"/clientes/{customer_id}#servicos-titulo", "servico_adicionado")
        except NotFound:
            return _not_found(request, user, customer_id)
        except AtivaError as error:
            _refusal(form, error)
    form.password = ""
    return render_customer(
        request, user, customer_id, "customer.html", 422, service_form=form, action_error=form.errors.get("form")
    )


def _not_found(request: Request, user: WebUser, customer_id: int):
    return render(
        request,
        "message.html",
        404,
        user=user,
        title="Serviço não encontrado",
        message=f"O cliente {customer_id} não existe ou não tem esse serviço.",
    )


def _change(request: Request, user: WebUser, customer_id: int, service_id: int, event: ServiceEvent, note=None):
    try:
        with request.app.state.db.write() as session:
            # customer_id: a forged address naming another customer's service finds nothing.
            customer_services.change_service(session, service_id, event, note, customer_id=customer_id)
        return flash.redirect_with(request, f"/clientes/{customer_id}#servicos-titulo", DONE[event])
    except NotFound:
        return _not_found(request, user, customer_id)
    except CustomerInactive:
        message = CUSTOMER_INACTIVE[ServiceEvent.RESUME]
    except TransitionNotAllowed:
        message = NOT_ALLOWED[event]
    except GuardFailed:  # the only guard of a suspension: its note
        message = "Escreva uma observação dizendo por que o serviço foi suspenso."
    except AtivaError as error:
        message = labels.error_message(error)
    return page_with_error(request, user, customer_id, message)


@router.post("/clientes/{customer_id}/servicos/{service_id}/suspender")
def suspend(
    request: Request,
    customer_id: int = CustomerId,
    service_id: int = ServiceId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    check_csrf(user, data.get("csrf_token"))
    note = _text(data, "observacao")
    message = unsafe_text_message(note, multiline=True)
    if message is None and len(note) > NOTE_MAX:
        message = f"A observação pode ter no máximo {NOTE_MAX} caracteres (foram digitados {len(note)})."
    if message:
        return page_with_error(request, user, customer_id, message)
    return _change(request, user, customer_id, service_id, ServiceEvent.SUSPEND, note)


@router.post("/clientes/{customer_id}/servicos/{service_id}/reativar")
def resume(
    request: Request,
    customer_id: int = CustomerId,
    service_id: int = ServiceId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    check_csrf(user, data.get("csrf_token"))
    return _change(request, user, customer_id, service_id, ServiceEvent.RESUME)


@router.post("/clientes/{customer_id}/servicos/{service_id}/cancelar")
def cancel(
    request: Request,
    customer_id: int = CustomerId,
    service_id: int = ServiceId,
    data: FormData = Depends(form_data),
    user: WebUser = Depends(editor),
):
    """Cancelling is for good: the form's box must be ticked, whatever the browser did."""
    check_csrf(user, data.get("csrf_token"))
    if data.get("confirmar") != "sim":
        return page_with_error(request, user, customer_id, "Marque a confirmação para cancelar o serviço.")
    return _change(request, user, customer_id, service_id, ServiceEvent.CANCEL)
