"""Keeping FreeRADIUS in line with the services: where its tables live, and what a change of a
service writes there and queues.

Same database (the default on PostgreSQL): a login's group changes in the transaction that changes
its service. A database of its own: the session effect queued here writes it first (it converges
like any effect). Either way one session effect per service with a login is queued, so a session
already open is dropped, or given its new rate, and the router applies the new group."""

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from ...db.engine import Database
from ...db.models import Customer, Plan, Router, Service
from ...db.radius_tables import create_radius_schema
from ...db.types import utcnow
from ...domain import radius
from ...domain.vocabulary import Effect
from ...settings import Settings
from ..transitions import QUEUE_EFFECTS, new_effect
from .rows import (
    GROUPS_LOCK,
    ROUTERS_LOCK,
    LoginRows,
    RouterRow,
    lock,
    lock_logins,
    write_groups,
    write_logins,
    write_routers,
)

log = logging.getLogger(__name__)
RadiusMode = Literal["off", "same", "separate"]
SESSION_EFFECTS = frozenset({Effect.RADIUS_DISCONNECT, Effect.RADIUS_COA})

_services = Service.__table__
_customers = Customer.__table__
_plans = Plan.__table__
_routers = Router.__table__


def radius_mode(settings: Settings, dialect: str) -> RadiusMode:
    """Off on SQLite unless a RADIUS database is given; `off` turns it off everywhere."""
    url = settings.radius_database_url
    if url is not None and url.strip().lower() == "off":
        return "off"
    if not url or url == settings.resolved_database_url:
        return "same" if dialect == "postgresql" else "off"
    return "separate"


@lru_cache(maxsize=4)
def _radius_database(url: str) -> Database:
    return Database(url)


def radius_database(settings: Settings) -> Database:
    """The RADIUS database of its own (separate mode), one engine per process."""
    if not settings.radius_database_url:
        raise RuntimeError("no separate RADIUS database is configured")
    return _radius_database(settings.radius_database_url)


@dataclass(frozen=True)
class LoginFacts:
    service_id: int
    customer_id: int
    login: str
    password: str
    status: str
    plan_id: int
    delinquency_stage: str
    notice_snoozed_until: datetime | None

    def rows(self) -> LoginRows:
        profile = radius.profile_for(self.delinquency_stage, self.notice_snoozed_until)
        return LoginRows(self.login, self.password, radius.group_for(self.status, self.plan_id, profile))

    def __repr__(self) -> str:
        return f"LoginFacts(service_id={self.service_id}, login={self.login!r}, status={self.status!r})"


# What decides a login's rows: its service, and its customer's step of the ladder (LoginFacts).
LOGINS = (
    select(
        _services.c.id,
        _services.c.customer_id,
        _services.c.login,
        _services.c.radius_password,
        _services.c.status,
        _services.c.plan_id,
        _customers.c.delinquency_stage,
        _customers.c.notice_snoozed_until,
    )
    .join_from(_services, _customers, _customers.c.id == _services.c.customer_id)
    .where(_services.c.login.is_not(None))
)
_LOGIN_FACTS = LOGINS.where(_services.c.id.in_(bindparam("service_ids", expanding=True)))


def login_facts(conn: Connection, service_ids: list[int]) -> list[LoginFacts]:
    if not service_ids:
        return []
    return [LoginFacts(*row) for row in conn.execute(_LOGIN_FACTS, {"service_ids": service_ids})]


@dataclass(frozen=True)
class Claimed:
    """Session effects written already claimed, for the worker that wrote them to carry out next."""

    until: datetime
    owner: str


def services_changed(
    conn: Connection,
    settings: Settings,
    service_ids: list[int],
    effect: Effect,
    *,
    transition_id: int | None = None,
    origin: str = "effect",
    claimed: Claimed | None = None,
) -> list[tuple[int, LoginFacts]]:
    """After services changed on `conn` (their status, plan or password): their logins' rows (same
    database) and one session effect each, queued in this transaction. Returns (effect id, facts)."""
    [queued] = services_changed_many(
        conn, settings, [(service_ids, transition_id)], effect, origin=origin, claimed=claimed
    )
    return queued


def services_changed_many(
    conn: Connection,
    settings: Settings,
    changes: list[tuple[list[int], int | None]],
    effect: Effect,
    *,
    origin: str = "effect",
    claimed: Claimed | None = None,
) -> list[list[tuple[int, LoginFacts]]]:
    """services_changed for several changes at once (service ids, transition id): the same rows
    and effects, written with a few statements for all. One list per change, in order."""
    if radius_mode(settings, conn.dialect.name) == "off":
        return [[] for _ in changes]
    transition_of = {sid: transition_id for service_ids, transition_id in changes for sid in service_ids}
    facts = login_facts(conn, list(transition_of))
    if not facts:
        return [[] for _ in changes]
    if radius_mode(settings, conn.dialect.name) == "same":
        # Read again once the logins are locked: a writer without the customer's lock (a plan's new
        # rates) must not write a group from a status another transaction has changed since.
        held = [f.login for f in facts]
        lock_logins(conn, held)
        facts = login_facts(conn, list(transition_of))
        # A login renamed in between (not among `held`) is still locked before it is written.
        write_logins(conn, [f.rows() for f in facts], locked=held)
    now = utcnow()
    rows = []
    for f in facts:
        row = new_effect(
            effect,
            f.customer_id,
            now,
            transition_id=transition_of[f.service_id],
            service_id=f.service_id,
            origin=origin,
        )
        if claimed is not None:
            row |= {"attempts": 1, "claimed_until": claimed.until, "claimed_by": claimed.owner}
        rows.append(row)
    ids = conn.execute(QUEUE_EFFECTS, rows).scalars().all()
    queued = {f.service_id: (effect_id, f) for effect_id, f in zip(ids, facts, strict=True)}
    return [[queued[sid] for sid in service_ids if sid in queued] for service_ids, _ in changes]


def kept_groups(conn: Connection, settings: Settings) -> dict[str, radius.GroupAttributes]:
    """Every group Ativa keeps, from the plans in use or on offer (a retired plan's logins keep it)."""
    plans = [
        radius.PlanRates(row.id, row.download_kbps, row.upload_kbps)
        for row in conn.execute(select(_plans.c.id, _plans.c.download_kbps, _plans.c.upload_kbps))
    ]
    return radius.kept_groups(
        plans,
        settings.radius_block_mode,
        settings.radius_blocked_address_list,
        settings.ladder,
        settings.radius_notice_address_list,
    )


def router_rows(conn: Connection) -> list[RouterRow]:
    return [
        RouterRow(r.name, r.address, r.secret, r.coa_port, r.vendor)
        for r in conn.execute(
            select(_routers.c.name, _routers.c.address, _routers.c.secret, _routers.c.coa_port, _routers.c.vendor)
        )
    ]


def sync_configuration(conn: Connection, settings: Settings) -> None:
    """Groups and routers as Ativa's tables say: in the same transaction (same database), read
    after their locks so two admins' changes at once both land; or written at once to a RADIUS
    database of its own, where a failure (that database down) is logged and left to the
    reconciler, which compares groups and routers too."""
    mode = radius_mode(settings, conn.dialect.name)
    if mode == "off":
        return
    if mode == "same":
        lock(conn, GROUPS_LOCK)
        lock(conn, ROUTERS_LOCK)
        write_groups(conn, kept_groups(conn, settings))
        write_routers(conn, router_rows(conn))
        return
    groups, routers = kept_groups(conn, settings), router_rows(conn)
    try:
        with radius_database(settings).write_core() as radius_conn:
            write_groups(radius_conn, groups)
            write_routers(radius_conn, routers)
    except SQLAlchemyError as error:
        log.warning(
            "the RADIUS database could not be written (%s); the reconciler writes groups and routers later",
            type(error).__name__,
        )


def prepare(db: Database, settings: Settings) -> str:
    """`ativa db upgrade`'s part: FreeRADIUS's tables where they live, and the groups and routers
    Ativa keeps there. Returns what was done, for the operator."""
    mode = radius_mode(settings, db.engine.dialect.name)
    if mode == "off":
        return "RADIUS is off (SQLite without ATIVA_RADIUS_DATABASE_URL, or set to off)"
    target = db if mode == "same" else radius_database(settings)
    create_radius_schema(target.engine)
    with db.write_core() as conn:
        sync_configuration(conn, settings)
    where = "the main database" if mode == "same" else "ATIVA_RADIUS_DATABASE_URL"
    return f"FreeRADIUS tables ready in {where}; groups and routers written"
