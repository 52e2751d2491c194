"""The public notice page (/aviso): who is behind a network address, and what the page may tell
them. The visitor is found by the open RADIUS session holding the address (radacct's
Framed-IP-Address), its login, the service with that login and its customer; only a customer at
a step of the collection ladder with something past due gets a notice. What it shows is the
least that lets them pay: the first name, each overdue invoice's amount and due date, the total.
"""

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address

from sqlalchemy import Connection, cast, literal, or_, select
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import Customer, Invoice, Service
from ..db.radius_tables import radacct
from ..domain import brazilian, radius
from ..domain.delinquency import InvoiceFacts, is_overdue, overdue_of
from ..domain.errors import AtivaError, GuardFailed
from ..domain.vocabulary import CustomerStatus, DelinquencyStage, InvoiceStatus, ServiceStatus
from ..settings import Settings
from .ladder import acknowledge_notice
from .radius.enforcement import radius_mode
from .radius.view import radius_connection

log = logging.getLogger(__name__)
Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class OverdueInvoice:
    due_date: date
    amount: Decimal  # what is still owed of it


@dataclass(frozen=True)
class Notice:
    customer_id: int  # never shown: the acknowledgement needs it
    first_name: str
    invoices: tuple[OverdueInvoice, ...]
    total: Decimal
    stage: DelinquencyStage
    can_continue: bool  # on the notice list (at the notice stage, not acknowledged): "Continuar navegando"


def login_at(conn: Connection, address: Address) -> str | None:
    """The login of the open session holding the address (IPv4: its Framed-IP-Address; IPv6: its
    Framed-IPv6-Address, or within its Framed-IPv6-Prefix or Delegated-IPv6-Prefix). A session
    whose stop never arrived (a router rebooted without Accounting-On) may still claim an address
    the pool gave someone else since: the one that started last holds it."""
    value = cast(literal(str(address)), INET)
    if address.version == 4:
        holds = radacct.c.framedipaddress == value
    else:  # a dual-stack customer may reach the page over IPv6: its address, or within its prefixes
        holds = or_(
            radacct.c.framedipv6address == value,
            radacct.c.framedipv6prefix.op(">>=")(value),
            radacct.c.delegatedipv6prefix.op(">>=")(value),
        )
    query = (
        select(radacct.c.username)
        .where(radacct.c.acctstoptime.is_(None), holds)
        .order_by(radacct.c.acctstarttime.desc().nulls_last(), radacct.c.radacctid.desc())
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def _radius_login(session: Session, settings: Settings, address: Address) -> str | None:
    conn = session.connection()
    try:
        with radius_connection(conn, settings) as radius_conn:
            return None if radius_conn is None else login_at(radius_conn, address)
    except OperationalError:
        # Only a RADIUS database of its own can fail apart from the main one: the page stays neutral.
        if radius_mode(settings, conn.dialect.name) != "separate":
            raise
        log.warning("notice page: the RADIUS database did not answer; the visitor gets the neutral page")
        return None


def notice_for(session: Session, settings: Settings, address: Address | None, today: date) -> Notice | None:
    """The notice for the visitor at `address`, or None (unknown address, RADIUS off, a service
    that is not active (a leftover session of a cancelled or suspended one), a customer at no step
    of the ladder, or nothing past due): the neutral page."""
    if address is None:
        return None
    username = _radius_login(session, settings, address)
    if not username:
        return None
    customer = session.execute(
        select(Customer.id, Customer.name, Customer.status, Customer.delinquency_stage, Customer.notice_snoozed_until)
        .join(Service, Service.customer_id == Customer.id)
        .where(Service.login_key == username.lower(), Service.status == ServiceStatus.ACTIVE.value)
    ).first()
    if (
        customer is None
        or customer.status != CustomerStatus.ACTIVE
        or customer.delinquency_stage == DelinquencyStage.NONE
    ):
        return None
    rows = session.execute(
        select(Invoice.status, Invoice.due_date, Invoice.amount, Invoice.amount_paid)
        .where(Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    facts = [InvoiceFacts(r.status, r.due_date, r.amount, r.amount_paid) for r in rows]
    overdue = overdue_of(facts, today)
    if not overdue.invoices:
        return None
    invoices = tuple(
        OverdueInvoice(f.due_date, ((f.amount or Decimal(0)) - f.amount_paid).quantize(Decimal("0.01")))
        for f in facts
        if is_overdue(f, today) and f.due_date is not None
    )
    profile = radius.profile_for(customer.delinquency_stage, customer.notice_snoozed_until)
    return Notice(
        customer.id,
        brazilian.first_name(customer.name),
        invoices,
        overdue.total,
        DelinquencyStage(customer.delinquency_stage),
        can_continue=profile is radius.Profile.NOTICE,
    )


@dataclass(frozen=True)
class Acknowledged:
    done: bool
    already: bool = False  # refused because it was acknowledged lately (else: not at the notice stage)
    refusal: str | None = None  # why not, in the machine's words (logged, not shown)


def acknowledge(db: Database, settings: Settings, address: Address | None, today: date) -> Acknowledged | None:
    """ "Continuar navegando" for the visitor at `address` (never an id from the form): None when
    the address has no notice; refused when the customer is not at the notice stage or already
    acknowledged (the machine decides, under the customer's lock)."""
    with db.read() as session:
        notice = notice_for(session, settings, address, today)
    if notice is None:
        return None
    if not notice.can_continue:
        already = notice.stage is DelinquencyStage.NOTICE
        return Acknowledged(False, already, "acknowledged lately" if already else f"at stage {notice.stage.value}")
    try:
        acknowledge_notice(
            db,
            notice.customer_id,
            today,
            f"Aviso confirmado pelo cliente na página /aviso (Continuar navegando), do endereço {address}.",
            settings,
        )
    except AtivaError as refused:  # the customer changed meanwhile (a second press, a payment)
        already = isinstance(refused, GuardFailed) and refused.rule == "notice_already_acknowledged"
        return Acknowledged(False, already, refused.detail)
    return Acknowledged(True)
