"""The customer forms: what was typed, checked field by field with messages in Portuguese.

The services check everything again; this only puts each message beside its field, and keeps
what the operator typed so nothing is lost on a refusal.
"""

from dataclasses import dataclass, field
from datetime import date

from validate_docbr import CNPJ, CPF

from ..domain import limits
from ..domain.documents import only_digits
from ..domain.errors import InvalidInput
from ..usecases import customers as customer_register

CUSTOMER_FIELDS = ("name", "document", "email", "phone", "external_ref")


@dataclass
class CustomerForm:
    values: dict[str, str] = field(default_factory=dict)
    auto_block_exempt: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form) -> "CustomerForm":
        return cls(
            {name: (form.get(name) or "").strip() for name in CUSTOMER_FIELDS},
            auto_block_exempt=form.get("auto_block_exempt") == "on",
        )

    @classmethod
    def from_customer(cls, customer) -> "CustomerForm":
        values = {name: getattr(customer, name) or "" for name in CUSTOMER_FIELDS}
        values["document"] = format_document(customer.document)
        return cls(values, auto_block_exempt=customer.auto_block_exempt)

    def check(self, stored=None) -> bool:
        """`stored`: the customer being edited (its saved values may hold a U+FFFD), None when new."""
        self.errors = {
            name: message
            for name in CUSTOMER_FIELDS
            if (message := unsafe_text_message(self.values.get(name, ""), stored=_stored_value(stored, name)))
        }
        if self.errors:
            return False
        if not self.values.get("name"):
            self.errors["name"] = "Informe o nome."
        document_error = document_message(self.values.get("document", ""))
        if document_error:
            self.errors["document"] = document_error
        if self.values.get("email") and not _email_ok(self.values["email"]):
            self.errors["email"] = "E-mail inválido. Exemplo: nome@provedor.com.br"
        if self.values.get("phone") and not _phone_ok(self.values["phone"]):
            self.errors["phone"] = "O telefone deve ter de 8 a 15 dígitos (pontuação é aceita)."
        return not self.errors

    def changes(self) -> dict:
        return {
            **{name: self.values.get(name) or None for name in CUSTOMER_FIELDS},
            "auto_block_exempt": self.auto_block_exempt,
        }


def _stored_value(customer, name: str) -> str | None:
    return None if customer is None else getattr(customer, name) or ""


# A form's text reaches the server as UTF-8, which cannot carry a lone surrogate: the browser sends
# U+FFFD (the "�" of broken text) in its place, so in a form that is what such a character looks like.
# Stored text may hold it legitimately (a Latin-1 import, or the API, which accepts it): only a
# U+FFFD the operator's edit adds is refused, never one already saved nor one in a search.
REPLACEMENT_CHARACTER = "\ufffd"


def unsafe_text_message(text: str, *, multiline: bool = False, stored: str | None = None) -> str | None:
    """None when the text can be saved; else what to do, in the operator's words. `stored` is the
    field's saved value, when the form edits one."""
    message = control_character_message(text, multiline=multiline)
    if message is not None:
        return message
    text, kept = text or "", (stored or "").count(REPLACEMENT_CHARACTER)
    if text.count(REPLACEMENT_CHARACTER) <= kept:
        return None
    # The first one past those already saved (an edit usually keeps the saved ones where they were).
    broken = -1
    for _ in range(kept + 1):
        broken = text.find(REPLACEMENT_CHARACTER, broken + 1)
    return (
        f"O texto tem um caractere inválido (�, na posição {broken + 1}): ele aparece quando um texto "
        "copiado perdeu letras. Apague-o e digite de novo."
    )


def control_character_message(text: str, *, multiline: bool = False) -> str | None:
    """None when the text has no character the database cannot keep (a search box checks only this)."""
    bad = limits.forbidden_character(text or "", multiline=multiline)
    if bad is None:
        return None
    return (
        f"O texto tem um caractere de controle que não pode ser gravado ({bad.code_point}, "
        f"na posição {bad.position}). Apague-o e digite de novo."
    )


def document_message(raw: str) -> str | None:
    """None when the CPF/CNPJ is valid; otherwise what is wrong, in the operator's words."""
    if not raw.strip():
        return "Informe o CPF ou o CNPJ."
    if any(ch.isalpha() for ch in raw):
        return "O CPF/CNPJ deve ter só números (pontos, traço e barra são aceitos)."
    digits = only_digits(raw)
    if len(digits) == 11:
        return None if CPF().validate(digits) else "CPF inválido: os dígitos verificadores não conferem."
    if len(digits) == 14:
        return None if CNPJ().validate(digits) else "CNPJ inválido: os dígitos verificadores não conferem."
    return f"O CPF tem 11 dígitos e o CNPJ tem 14; foram digitados {len(digits)}."


def format_document(digits: str | None) -> str:
    if not digits:
        return ""
    if len(digits) == 11:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14:
        return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    return digits


def _accepted(clean, value: str) -> bool:
    """Whether the register's own cleaning accepts the value (one rule, two languages)."""
    try:
        clean(value)
    except InvalidInput:
        return False
    return True


def _email_ok(email: str) -> bool:
    return _accepted(customer_register.clean_email, email)


def _phone_ok(phone: str) -> bool:
    return _accepted(customer_register.clean_phone, phone)


@dataclass
class StatusChoice:
    """The Ativo / Motivo / Observação part of the Editar form."""

    active: str = ""  # "sim" | "nao"
    reason: str = ""
    note: str = ""
    days: str = ""
    until: str = ""
    force: bool = False
    hold: str = ""  # Sem corte automático até (a forced activation's hold)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form) -> "StatusChoice":
        return cls(
            active=form.get("ativo", ""),
            reason=form.get("motivo", ""),
            note=(form.get("observacao") or "").strip(),
            days=(form.get("dias") or "").strip(),
            until=(form.get("data_retorno") or "").strip(),
            force=form.get("forcar") == "on",
            hold=(form.get("sem_corte_ate") or "").strip(),
        )

    def parsed_note(self) -> str | None:
        message = unsafe_text_message(self.note, multiline=True)
        if message:
            self.errors["observacao"] = message
            return None
        return self.note or None

    def parsed_days(self) -> int | None:
        if not self.days:
            return None
        # isascii: "²" is a digit to isdigit() but not to int()
        if not (self.days.isascii() and self.days.isdigit()) or not 1 <= int(self.days) <= 365:
            self.errors["dias"] = "Informe um número de dias entre 1 e 365."
            return None
        return int(self.days)

    def parsed_until(self) -> date | None:
        return self._date(self.until, "data_retorno")

    def parsed_hold(self) -> date | None:
        return self._date(self.hold, "sem_corte_ate")

    def _date(self, text: str, field_name: str) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.errors[field_name] = "Data inválida. Use o seletor de data (dd/mm/aaaa)."
            return None
