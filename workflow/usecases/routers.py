"""Routers (NAS): the concentrators that authenticate logins and take CoA/Disconnect requests.
FreeRADIUS's `nas` table mirrors them in the same transaction (radius/enforcement.py). The secret
is write-only: nothing outside this layer and the packet sender ever reads it."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.models import Router
from ..db.types import utcnow
from ..domain import limits, radius
from ..domain.errors import DuplicateName, InvalidInput, NotFound
from ..domain.vocabulary import RouterVendor
from ..settings import get_settings
from .radius.enforcement import sync_configuration

NAME_MAX = 100
DEFAULT_COA_PORT = 3799


@dataclass(frozen=True)
class RouterDraft:
    name: str
    address: str
    secret: str
    coa_port: int = DEFAULT_COA_PORT
    vendor: str = RouterVendor.MIKROTIK.value

    def __repr__(self) -> str:  # never the secret
        return f"RouterDraft(name={self.name!r}, address={self.address!r}, coa_port={self.coa_port})"


@dataclass(frozen=True)
class RouterChanges:
    """What a PATCH gives; None leaves a field as it is."""

    name: str | None = None
    address: str | None = None
    secret: str | None = None
    coa_port: int | None = None
    vendor: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"RouterChanges(name={self.name!r}, address={self.address!r}, secret_given={self.secret is not None})"


def _checked_name(name: str) -> str:
    limits.check_text("name", name)
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"router name must be 1 to {NAME_MAX} characters")
    return name


def _checked_vendor(vendor: str) -> str:
    try:
        return RouterVendor(vendor).value
    except ValueError:
        choices = ", ".join(v.value for v in RouterVendor)
        raise InvalidInput(f"vendor must be one of {choices}") from None


def _not_taken(session: Session, name: str | None, address: str | None, but: int | None = None) -> None:
    def taken(condition) -> bool:
        query = select(Router.id).where(condition)
        if but is not None:
            query = query.where(Router.id != but)
        return session.scalar(query) is not None

    if name is not None and taken(func.lower(Router.name) == name.lower()):
        raise DuplicateName(f"a router named {name!r} already exists")
    if address is not None and taken(Router.address == address):
        raise DuplicateName(f"a router with address {address} already exists")


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:  # the same name or address saved at once by another request
        raise DuplicateName("a router with this name or address already exists") from None


def _sync(session: Session) -> None:
    sync_configuration(session.connection(), get_settings())


def create_router(session: Session, draft: RouterDraft) -> Router:
    name = _checked_name(draft.name)
    address = radius.check_router_address(draft.address)
    radius.check_secret(draft.secret)
    radius.check_port(draft.coa_port)
    vendor = _checked_vendor(draft.vendor)
    _not_taken(session, name, address)
    now = utcnow()
    router = Router(
        name=name,
        address=address,
        secret=draft.secret,
        coa_port=draft.coa_port,
        vendor=vendor,
        created_at=now,
        updated_at=now,
    )
    session.add(router)
    _flush(session)
    _sync(session)
    return router


def get_router(session: Session, router_id: int, *, lock: bool = False) -> Router:
    router = None
    if 1 <= router_id <= limits.MAX_ROW_ID:
        router = session.get(Router, router_id, with_for_update=lock or None)
    if router is None:
        raise NotFound(f"router {router_id} does not exist")
    return router


def list_routers(session: Session) -> list[Router]:
    return list(session.scalars(select(Router).order_by(Router.id)))


def update_router(session: Session, router_id: int, changes: RouterChanges) -> Router:
    if all(value is None for value in vars(changes).values()):
        raise InvalidInput("nothing to change: give name, address, secret, coa_port and/or vendor")
    router = get_router(session, router_id, lock=True)
    name = _checked_name(changes.name) if changes.name is not None else None
    address = radius.check_router_address(changes.address) if changes.address is not None else None
    if changes.secret is not None:
        radius.check_secret(changes.secret)
    if changes.coa_port is not None:
        radius.check_port(changes.coa_port)
    vendor = _checked_vendor(changes.vendor) if changes.vendor is not None else None
    _not_taken(session, name, address, but=router.id)
    for field, value in (
        ("name", name),
        ("address", address),
        ("secret", changes.secret),
        ("coa_port", changes.coa_port),
        ("vendor", vendor),
    ):
        if value is not None:
            setattr(router, field, value)
    if session.is_modified(router):
        router.updated_at = utcnow()
        _flush(session)
        _sync(session)
    return router


def delete_router(session: Session, router_id: int) -> None:
    router = get_router(session, router_id, lock=True)
    session.delete(router)
    session.flush()
    _sync(session)
