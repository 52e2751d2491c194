"""The customer register: create, find, list, edit (and, through edit, transition)."""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.models import Customer
from ..db.types import utcnow
from ..domain import limits
from ..domain.customer_machine import TransitionRequest
from ..domain.documents import only_digits, parse_document
from ..domain.errors import (
    DuplicateDocument,
    DuplicateExternalRef,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from ..domain.vocabulary import CustomerEvent, CustomerStatus, DelinquencyStage, InactivationReason, Source
from .business_day import provider_today
from .customer_locks import lock_customer, lock_customer_row
from .ladder import clear_stage_if_spared
from .transitions import (
    Actor,
    TransitionOutcome,
    check_version,
    transition_customer,
)
from .written_rows import CustomerRow

EDITABLE_FIELDS = ("name", "document", "email", "phone", "external_ref", "auto_block_exempt")
MAX_PAGE = 200
MAX_ID = limits.MAX_ROW_ID


@dataclass
class CustomerDraft:
    name: str
    document: str
    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None
    auto_block_exempt: bool = False


@dataclass
class CustomerEdit:
    """A PATCH: only the fields given change; `status` != current status means a transition."""

    changes: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    reason: str | None = None
    note: str | None = None
    force: bool = False
    version: int | None = None
    days: int | None = None  # trust unlock length
    until: date | None = None  # return date of a suspension at the customer's request
    hold_until: date | None = None  # forced activation: no automatic cut through that day


@dataclass
class EditOutcome:
    customer: Customer | CustomerRow  # the ORM object, or what the transition wrote
    transition: TransitionOutcome | None


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name must not be empty")
    return name


def clean_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidInput(f"email {email!r} is invalid: {error}") from None


def clean_phone(phone: str | None) -> str | None:
    if phone is None or not phone.strip():
        return None
    phone = phone.strip()
    if not all(ch.isdigit() or ch in "+()- " for ch in phone) or not 8 <= len(only_digits(phone)) <= 15:
        raise InvalidInput(f"phone {phone!r} must have 8 to 15 digits (punctuation allowed)")
    return phone


def _clean_ref(ref: str | None) -> str | None:
    return ref.strip() if ref and ref.strip() else None


def _clean(field_name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        limits.check_text(field_name, value)
    if field_name == "name":
        return {"name": _clean_name(value)}
    if field_name == "document":
        doc = parse_document(value or "")
        return {"document": doc.digits, "document_type": doc.type}
    if field_name == "email":
        return {"email": clean_email(value)}
    if field_name == "phone":
        return {"phone": clean_phone(value)}
    if field_name == "external_ref":
        return {"external_ref": _clean_ref(value)}
    if field_name == "auto_block_exempt":
        return {"auto_block_exempt": bool(value)}
    raise InvalidInput(f"field {field_name!r} cannot be edited")


def _check_unique(session: Session, values: dict[str, Any], exclude_id: int | None) -> None:
    """Clear 409s for the common case; the unique indexes still guard against races."""
    others = select(Customer.id).where(Customer.id != exclude_id) if exclude_id else select(Customer.id)
    if "document" in values and session.scalar(others.where(Customer.document == values["document"])):
        raise DuplicateDocument(f"a customer with document {values['document']} already exists")
    ref = values.get("external_ref")
    if ref and session.scalar(others.where(Customer.external_ref == ref)):
        raise DuplicateExternalRef(f"a customer with external_ref {ref!r} already exists")


def _flush_unique(session: Session, values: dict[str, Any]) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        text = str(error.orig).lower()
        if "external_ref" in text:
            raise DuplicateExternalRef(
                f"a customer with external_ref {values.get('external_ref')!r} already exists"
            ) from None
        if "document" in text:
            raise DuplicateDocument(f"a customer with document {values.get('document')} already exists") from None
        raise


def create_customer(session: Session, draft: CustomerDraft) -> Customer:
    values: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        values.update(_clean(name, getattr(draft, name)))
    _check_unique(session, values, exclude_id=None)
    now = utcnow()
    customer = Customer(
        **values,
        status=CustomerStatus.ACTIVE.value,
        status_changed_at=now,
        invoicing_enabled=True,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    _flush_unique(session, values)
    return customer


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def find_customer(session: Session, id_or_ref: str) -> Customer:
    """For the CLI: `id:N`, `ref:X`, or a bare value that must not be both an id and a ref."""
    kind, _, value = id_or_ref.partition(":")
    if kind in ("id", "ref") and value:
        by_id = _by_id(session, value) if kind == "id" else None
        by_ref = _by_ref(session, value) if kind == "ref" else None
    else:
        by_id, by_ref = _by_id(session, id_or_ref), _by_ref(session, id_or_ref)
        if by_id is not None and by_ref is not None and by_id.id != by_ref.id:
            raise InvalidInput(
                f"{id_or_ref!r} is both the id of customer {by_id.id} and the external_ref of "
                f"customer {by_ref.id}; write id:{id_or_ref} or ref:{id_or_ref}"
            )
    customer = by_id or by_ref
    if customer is None:
        raise NotFound(f"customer {id_or_ref!r} does not exist")
    return customer


def _by_id(session: Session, value: str) -> Customer | None:
    digits = value.isascii() and value.isdigit()  # "²" is a digit to isdigit(), not to int()
    return session.get(Customer, int(value)) if digits and int(value) <= MAX_ID else None


def _by_ref(session: Session, value: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.external_ref == value))


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"c{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw[:1] != "c" or not raw[1:].isdigit() or int(raw[1:]) > MAX_ID:
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput(f"cursor {cursor!r} is not one this API returned") from None


LADDER_FILTERS = ("none", "notice", "reduced", "cut")


def _at_stage(stage: str):
    """The customers standing.delinquency_stage puts at `stage`: a ladder step while active, the
    cut when inactive for delinquency, none otherwise."""
    active = Customer.status == CustomerStatus.ACTIVE.value
    inactive = Customer.status == CustomerStatus.INACTIVE.value
    delinquency = InactivationReason.DELINQUENCY.value
    if stage == "cut":
        return and_(inactive, Customer.inactivation_reason == delinquency)
    if stage == DelinquencyStage.NONE.value:
        other_reason = or_(Customer.inactivation_reason.is_(None), Customer.inactivation_reason != delinquency)
        return or_(and_(active, Customer.delinquency_stage == stage), and_(inactive, other_reason))
    return and_(active, Customer.delinquency_stage == stage)


def matching_conditions(status: str | None, q: str | None, stage: str | None = None) -> list:
    """The WHERE conditions of a register search: status, the ladder's stage, and a term found in
    the name, e-mail, external_ref or (typed with or without punctuation) the CPF/CNPJ."""
    conditions = []
    if status:
        try:
            conditions.append(Customer.status == CustomerStatus(status).value)
        except ValueError:
            raise InvalidInput(f"status {status!r} is not one of: active, inactive") from None
    if stage:
        if stage not in LADDER_FILTERS:
            raise InvalidInput(f"delinquency_stage {stage!r} is not one of: {', '.join(LADDER_FILTERS)}")
        conditions.append(_at_stage(stage))
    if q and q.strip():
        term = limits.check_text("q", q.strip())
        # autoescape: a "%" or "_" typed by a user is a character, not a wildcard.
        found_in = [
            Customer.name.icontains(term, autoescape=True),
            Customer.email.icontains(term, autoescape=True),
            Customer.external_ref.icontains(term, autoescape=True),
        ]
        digits = only_digits(term)
        # "123.456.789-09" finds the stored digits; a bare name never matches documents.
        if digits and len(digits) >= 3 and all(ch.isdigit() or ch in ".-/ " for ch in term):
            found_in.append(Customer.document.contains(digits))
        conditions.append(or_(*found_in))
    return conditions


def list_customers(
    session: Session,
    *,
    status: str | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    stage: str | None = None,
) -> tuple[list[Customer], str | None]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    query = select(Customer).where(*matching_conditions(status, q, stage)).order_by(Customer.id).limit(limit + 1)
    if cursor:
        query = query.where(Customer.id > decode_cursor(cursor))
    rows = list(session.scalars(query))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def search_customers(
    session: Session, *, status: str | None, q: str | None, page: int, per_page: int, stage: str | None = None
) -> tuple[list[Customer], int]:
    """A numbered page of matches, by name, and how many match in all (the UI's list)."""
    if not 1 <= per_page <= MAX_PAGE or page < 1:
        raise InvalidInput(f"page must be 1 or more and per_page between 1 and {MAX_PAGE}")
    conditions = matching_conditions(status, q, stage)
    total = session.execute(select(func.count()).select_from(Customer).where(*conditions)).scalar_one()
    rows = session.scalars(
        select(Customer)
        .where(*conditions)
        .order_by(Customer.name, Customer.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def edit_customer(session: Session, customer_id: int, edit: CustomerEdit, actor: Actor, source: Source) -> EditOutcome:
    """The Editar → Salvar path: field edits and, if Ativo changed, the transition, atomically."""
    customer = lock_customer(session, customer_id)
    check_version(customer, edit.version)

    values: dict[str, Any] = {}
    for name, value in edit.changes.items():
        values.update(_clean(name, value))
    values = {k: v for k, v in values.items() if getattr(customer, k) != v}

    outcome = None
    if edit.status is None and (edit.reason or edit.note or edit.force or edit.days or edit.until or edit.hold_until):
        raise InvalidInput("reason, note, force, days, until and hold_until go with a status change; send status too")
    wants_transition = edit.status is not None and edit.status != customer.status
    if edit.status == customer.status and (edit.reason or edit.days or edit.until or edit.hold_until):
        raise TransitionNotAllowed(f"customer {customer.id} is already {customer.status}; nothing was changed")
    if not values and not wants_transition:
        return EditOutcome(customer, None)

    if values:
        _check_unique(session, values, exclude_id=customer.id)
        for name, value in values.items():
            setattr(customer, name, value)
        customer.updated_at = utcnow()
        _flush_unique(session, values)

    if wants_transition and edit.status is not None:  # (wants_transition implies a status)
        try:
            target = CustomerStatus(edit.status)
        except ValueError:
            raise InvalidInput(f"status {edit.status!r} is not one of: active, inactive") from None
        event = CustomerEvent.INACTIVATE if target is CustomerStatus.INACTIVE else CustomerEvent.ACTIVATE
        request = TransitionRequest(
            edit.reason,
            edit.note,
            force=edit.force,
            actor_role=actor.role,
            days=edit.days,
            until=edit.until,
            hold_until=edit.hold_until,
        )
        # Same transaction, row already locked; the transition bumps the version once for the save.
        outcome = transition_customer(session, customer.id, event, request, actor, source)
        session.expire(customer)  # the transition wrote the row behind the ORM's back
        return EditOutcome(outcome.customer, outcome)
    customer.version += 1
    session.flush()
    if values.get("auto_block_exempt"):
        # Exempt from every automatic step: a customer at a step of the ladder is back on its plan now.
        row = lock_customer_row(session.connection(), customer.id)
        cleared = clear_stage_if_spared(
            session,
            row,
            actor,
            source,
            provider_today(),
            "Cliente isento de bloqueio automático: fora da régua de cobrança, de volta ao plano.",
        )
        if cleared is not None:
            session.expire(customer)
            return EditOutcome(cleared.customer, cleared)
    return EditOutcome(customer, None)
