"""Speed plans: each is a FreeRADIUS group that gives its rates to every login on it. Every change
rewrites the groups in the same transaction (radius/enforcement.py), so FreeRADIUS answers with the
new rates from the commit on; live sessions on a plan whose rates changed get them by CoA."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.models import Plan, Service
from ..db.types import utcnow
from ..domain import limits, radius
from ..domain.errors import DuplicateName, InUse, InvalidInput, NotFound
from ..domain.vocabulary import Effect, ServiceStatus
from ..settings import get_settings
from .effect_bus import publish_after_commit
from .radius.enforcement import services_changed, sync_configuration

NAME_MAX = 100


@dataclass(frozen=True)
class PlanChanges:
    """What a PATCH gives; None leaves a field as it is."""

    name: str | None = None
    download_kbps: int | None = None
    upload_kbps: int | None = None
    retired: bool | None = None


def _checked_name(name: str) -> str:
    limits.check_text("name", name)
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"plan name must be 1 to {NAME_MAX} characters")
    return name


def _name_taken(session: Session, name: str, but: int | None = None) -> None:
    query = select(Plan.id).where(Plan.name_key == name.lower())
    if but is not None:
        query = query.where(Plan.id != but)
    if session.scalar(query) is not None:
        raise DuplicateName(f"a plan named {name!r} already exists (names ignore letter case)")


def _flush(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:  # the same name saved at once by another request
        raise DuplicateName(f"a plan named {name!r} already exists (names ignore letter case)") from None


def _sync(session: Session) -> None:
    sync_configuration(session.connection(), get_settings())


def create_plan(session: Session, name: str, download_kbps: int, upload_kbps: int) -> Plan:
    name = _checked_name(name)
    radius.check_rate("download_kbps", download_kbps)
    radius.check_rate("upload_kbps", upload_kbps)
    _name_taken(session, name)
    now = utcnow()
    plan = Plan(
        name=name,
        name_key=name.lower(),
        download_kbps=download_kbps,
        upload_kbps=upload_kbps,
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    _flush(session, name)
    _sync(session)
    return plan


def get_plan(session: Session, plan_id: int, *, lock: bool = False) -> Plan:
    plan = None
    if 1 <= plan_id <= limits.MAX_ROW_ID:
        plan = session.get(Plan, plan_id, with_for_update=lock or None)
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return plan


def services_on(session: Session, plan_ids: list[int]) -> dict[int, int]:
    """How many services (any status) reference each plan."""
    if not plan_ids:
        return {}
    used = func.count().label("used")
    rows = session.execute(select(Service.plan_id, used).where(Service.plan_id.in_(plan_ids)).group_by(Service.plan_id))
    return {row.plan_id: row.used for row in rows}


RATE_CHANGE_CHUNK = 5000  # services per statement when a plan's rates change


def list_plans(session: Session) -> list[tuple[Plan, int]]:
    """Every plan with how many services use it, retired ones too (their logins keep them)."""
    plans = list(session.scalars(select(Plan).order_by(Plan.id)))
    counts = services_on(session, [p.id for p in plans])
    return [(p, counts.get(p.id, 0)) for p in plans]


def usable_plans(session: Session) -> list[Plan]:
    """The plans a new service may choose: not retired, by name."""
    return list(session.scalars(select(Plan).where(Plan.retired_at.is_(None)).order_by(Plan.name, Plan.id)))


def update_plan(session: Session, plan_id: int, changes: PlanChanges) -> Plan:
    if all(value is None for value in vars(changes).values()):
        raise InvalidInput("nothing to change: give name, download_kbps, upload_kbps and/or retired")
    plan = get_plan(session, plan_id, lock=True)
    if changes.name is not None:
        name = _checked_name(changes.name)
        _name_taken(session, name, but=plan.id)
        plan.name, plan.name_key = name, name.lower()
    new_download, new_upload = plan.download_kbps, plan.upload_kbps
    if changes.download_kbps is not None:
        new_download = radius.check_rate("download_kbps", changes.download_kbps)
    if changes.upload_kbps is not None:
        new_upload = radius.check_rate("upload_kbps", changes.upload_kbps)
    rates_changed = (new_download, new_upload) != (plan.download_kbps, plan.upload_kbps)
    plan.download_kbps, plan.upload_kbps = new_download, new_upload
    if changes.retired is not None and changes.retired != (plan.retired_at is not None):
        plan.retired_at = utcnow() if changes.retired else None
    if session.is_modified(plan):
        plan.updated_at = utcnow()
    _flush(session, plan.name)
    _sync(session)
    if rates_changed:
        _new_rates_for_sessions(session, plan.id)
    return plan


def _new_rates_for_sessions(session: Session, plan_id: int) -> None:
    """One CoA per active service with a login on the plan: its live session gets the new rates."""
    service_ids = list(
        session.scalars(
            select(Service.id).where(
                Service.plan_id == plan_id,
                Service.status == ServiceStatus.ACTIVE.value,
                Service.login.is_not(None),
            )
        )
    )
    # In chunks: a popular plan's tens of thousands of logins would exceed a statement's parameters.
    for start in range(0, len(service_ids), RATE_CHANGE_CHUNK):
        chunk = service_ids[start : start + RATE_CHANGE_CHUNK]
        queued = services_changed(session.connection(), get_settings(), chunk, Effect.RADIUS_COA, origin="plan")
        publish_after_commit(session, [effect_id for effect_id, _ in queued])


def delete_plan(session: Session, plan_id: int) -> None:
    # The row lock makes a service being added with this plan wait (its foreign key check), or be seen.
    plan = get_plan(session, plan_id, lock=True)
    used = services_on(session, [plan.id]).get(plan.id, 0)
    if used:
        raise InUse(
            f"plan {plan_id} ({plan.name}) is used by {used} service(s), cancelled ones included: "
            "retire it instead (PATCH retired=true)"
        )
    session.delete(plan)
    session.flush()
    _sync(session)
