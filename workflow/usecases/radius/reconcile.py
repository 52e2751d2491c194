"""The RADIUS reconciler: FreeRADIUS's rows drift (a hand edit, a second group row, a row deleted,
a missed write in a database of its own); this puts them back as Ativa's services say.

Set-based: a few statements read what every login should have and what FreeRADIUS holds, compared
in memory (100,000 logins in a second or two); only the logins found out of line are written again,
each under its login's lock with its service read again after the lock, so a change racing the
repair wins. A repaired login gets a `radius_disconnect` (unless one is pending already): a
session opened with the wrong group picks up the right one when the customer's router redials."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from ...db.engine import Database
from ...db.models import OutboxEffect, Service
from ...db.radius_tables import nas, radcheck, radgroupcheck, radgroupreply, radusergroup
from ...db.types import utcnow
from ...domain import radius
from ...domain.vocabulary import Effect, EffectState
from ...settings import Settings
from ..effect_bus import publish_after_commit
from ..transitions import QUEUE_EFFECTS, new_effect
from .enforcement import LOGINS, SESSION_EFFECTS, kept_groups, login_facts, radius_database, radius_mode, router_rows
from .rows import (
    KEPT_GROUPS_PATTERN,
    ROUTER_MARK,
    RouterRow,
    lock_logins,
    nas_rows,
    write_groups,
    write_logins,
    write_routers,
)

log = logging.getLogger(__name__)

# Logins repaired per transaction: their locks are held briefly, and statements stay small.
REPAIR_CHUNK = 1000

_services = Service.__table__
_fx = OutboxEffect.__table__

_WANTED = LOGINS.where(_services.c.plan_id.is_not(None))
_GROUP_ROWS = select(radusergroup.c.username, radusergroup.c.groupname, radusergroup.c.priority)
_CHECK_ROWS = select(radcheck.c.username, radcheck.c.attribute, radcheck.c.op, radcheck.c.value)
_PENDING_SESSION_CALLS = select(_fx.c.service_id).where(
    _fx.c.state == EffectState.PENDING.value,
    _fx.c.name.in_(sorted(e.value for e in SESSION_EFFECTS)),
    _fx.c.service_id.is_not(None),
)


@dataclass
class RadiusRepair:
    logins: list[str] = field(default_factory=list)  # logins whose rows were written again
    groups_rewritten: bool = False
    routers_rewritten: bool = False  # FreeRADIUS reads `nas` at start: restart it to take them
    effect_ids: list[int] = field(default_factory=list)  # radius_disconnect queued


def reconcile_radius(db: Database, settings: Settings) -> RadiusRepair:
    repair = RadiusRepair()
    mode = radius_mode(settings, db.engine.dialect.name)
    if mode == "off":
        return repair
    with db.read() as session:
        conn = session.connection()
        wanted = {
            row.login: (
                row.id,
                radius.group_for(
                    row.status, row.plan_id, radius.profile_for(row.delinquency_stage, row.notice_snoozed_until)
                ),
                row.radius_password or "",
            )
            for row in conn.execute(_WANTED).all()  # fetched at once: row by row is slow at 100,000
        }
        groups = kept_groups(conn, settings)
        routers = router_rows(conn)
    radius_db = db if mode == "same" else radius_database(settings)
    with radius_db.read() as session:
        drifted = _drifted_logins(session.connection(), wanted)
        groups_drifted = _groups_differ(session.connection(), groups)
        routers_drifted = _routers_differ(session.connection(), routers)
    if groups_drifted:
        with radius_db.write_core() as radius_conn:
            write_groups(radius_conn, groups)
        repair.groups_rewritten = True
        log.warning("RADIUS reconciler: the groups Ativa keeps had drifted; written again")
    if routers_drifted:
        with radius_db.write_core() as radius_conn:
            write_routers(radius_conn, routers)
        repair.routers_rewritten = True
        log.warning("RADIUS reconciler: FreeRADIUS's nas table disagreed with Ativa's routers; written again")
    if not drifted:
        return repair
    service_ids = [wanted[login][0] for login in drifted]
    for start in range(0, len(service_ids), REPAIR_CHUNK):
        chunk = service_ids[start : start + REPAIR_CHUNK]
        if mode == "same":
            with db.write() as session:
                repair.logins += _rewrite(session.connection(), session.connection(), chunk)
                repair.effect_ids += _queue_disconnects(session, chunk)
        else:
            with radius_db.write_core() as radius_conn, db.read() as session:
                repair.logins += _rewrite(radius_conn, session.connection(), chunk)
            with db.write() as session:
                repair.effect_ids += _queue_disconnects(session, chunk)
    log.warning("RADIUS reconciler: %d login(s) out of line written again", len(repair.logins))
    return repair


def _drifted_logins(radius_conn: Connection, wanted: dict[str, tuple[int, str, str]]) -> list[str]:
    """Logins whose group rows are not exactly their one wanted row, or whose check rows are not
    exactly their password."""
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for username, groupname, priority in radius_conn.execute(_GROUP_ROWS).all():
        if username in wanted:
            groups[username].append((groupname, priority))
    checks: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for username, attribute, op, value in radius_conn.execute(_CHECK_ROWS).all():
        if username in wanted:
            checks[username].append((attribute, op, value))
    check = radius.password_check("")
    drifted = [
        login
        for login, (_, group, password) in wanted.items()
        if groups.get(login) != [(group, radius.LOGIN_PRIORITY)]
        or checks.get(login) != [(check.name, check.op, password)]
    ]
    return sorted(drifted)


def _groups_differ(radius_conn: Connection, groups: dict[str, radius.GroupAttributes]) -> bool:
    def held(table) -> list[tuple[str, str, str, str]]:
        rows = radius_conn.execute(
            select(table.c.groupname, table.c.attribute, table.c.op, table.c.value).where(
                table.c.groupname.like(KEPT_GROUPS_PATTERN, escape="\\")
            )
        )
        return sorted(tuple(row) for row in rows)

    wanted_checks = sorted((name, a.name, a.op, a.value) for name, g in groups.items() for a in g.check)
    wanted_replies = sorted((name, a.name, a.op, a.value) for name, g in groups.items() for a in g.reply)
    return held(radgroupcheck) != wanted_checks or held(radgroupreply) != wanted_replies


def _routers_differ(radius_conn: Connection, routers: list[RouterRow]) -> bool:
    held = radius_conn.execute(
        select(nas.c.nasname, nas.c.shortname, nas.c.type, nas.c.ports, nas.c.secret).where(
            nas.c.description == ROUTER_MARK
        )
    )
    wanted = [(row["nasname"], row["shortname"], row["type"], row["ports"], row["secret"]) for row in nas_rows(routers)]
    return sorted(tuple(row) for row in held) != sorted(wanted)


def _rewrite(radius_conn: Connection, main_conn: Connection, service_ids: list[int]) -> list[str]:
    """The services read again once their logins are locked (a change that held the lock has
    committed by then), and their rows written as they say now."""
    lock_logins(radius_conn, [f.login for f in login_facts(main_conn, service_ids)])
    fresh = login_facts(main_conn, service_ids)
    write_logins(radius_conn, [f.rows() for f in fresh])
    return sorted(f.login for f in fresh)


def _queue_disconnects(session, service_ids: list[int]) -> list[int]:
    conn = session.connection()
    pending = {row.service_id for row in conn.execute(_PENDING_SESSION_CALLS.where(_fx.c.service_id.in_(service_ids)))}
    facts = [f for f in login_facts(conn, service_ids) if f.service_id not in pending]
    if not facts:
        return []
    now = utcnow()
    rows = [
        new_effect(Effect.RADIUS_DISCONNECT, f.customer_id, now, service_id=f.service_id, origin="reconciler")
        for f in facts
    ]
    ids = list(conn.execute(QUEUE_EFFECTS, rows).scalars())
    publish_after_commit(session, ids)
    return ids
