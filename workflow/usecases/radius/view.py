"""What the network knows about a customer's services, for the customer page and `ativa radius check`:
the group FreeRADIUS has for each login now (every row, so a duplicate shows) beside the group Ativa
wants, the open sessions, and the last CoA/Disconnect packet. Read only; never a password."""

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ...db.models import Customer, Plan, RadiusPacket, Router, Service
from ...db.radius_tables import radacct, radcheck, radgroupcheck, radgroupreply, radusergroup
from ...domain import radius
from ...domain.errors import NotFound
from ...settings import Settings
from .enforcement import RadiusMode, radius_database, radius_mode

# radcheck attributes that hold a secret: shown only as "a password is set".
PASSWORD_ATTRIBUTES = frozenset(
    {"cleartext-password", "user-password", "crypt-password", "md5-password", "nt-password", "password-with-header"}
)


@dataclass(frozen=True)
class PlanRates:
    id: int
    name: str
    download_kbps: int
    upload_kbps: int


@dataclass(frozen=True)
class OpenSession:
    login: str
    router_address: str
    router_name: str | None  # None: no router registered in Ativa with that address
    framed_ip: str | None
    since: datetime | None
    acct_session_id: str


@dataclass(frozen=True)
class LastPacket:
    kind: str  # disconnect | coa
    outcome: str  # ack | nak | session_not_found | timeout | no_router | error
    router_address: str
    sent_at: datetime


@dataclass(frozen=True)
class ServiceNetwork:
    """One service's line on the customer page. RADIUS off: only login and plan are filled."""

    service_id: int
    login: str | None
    plan: PlanRates | None
    radius_on: bool
    wanted_group: str | None = None
    groups: tuple[str, ...] = ()  # radusergroup rows for the login now, by priority
    sessions: tuple[OpenSession, ...] = ()
    last_packet: LastPacket | None = None
    unreachable: bool = False  # the RADIUS database of its own did not answer: groups and sessions unknown

    @property
    def diverges(self) -> bool:
        """FreeRADIUS's rows are not exactly the one wanted group (the reconciler repairs that)."""
        known = self.radius_on and not self.unreachable and self.wanted_group is not None
        return known and self.groups != (self.wanted_group,)


@contextmanager
def radius_connection(conn: Connection, settings: Settings) -> Iterator[Connection | None]:
    """Where FreeRADIUS's tables are read: the caller's connection (same database), a connection
    of the RADIUS database (separate), or None (RADIUS off)."""
    mode: RadiusMode = radius_mode(settings, conn.dialect.name)
    if mode == "off":
        yield None
    elif mode == "same":
        yield conn
    else:
        with radius_database(settings).engine.connect() as radius_conn:
            yield radius_conn


def customer_network(session: Session, settings: Settings, customer_id: int) -> dict[int, ServiceNetwork]:
    """By service id: every service of the customer that has a login or a plan."""
    rows = session.execute(
        select(Service.id, Service.login, Service.status, Service.plan_id)
        .add_columns(Plan.name, Plan.download_kbps, Plan.upload_kbps)
        .add_columns(Customer.delinquency_stage, Customer.notice_snoozed_until)
        .join(Customer, Customer.id == Service.customer_id)
        .outerjoin(Plan, Plan.id == Service.plan_id)
        .where(Service.customer_id == customer_id)
        .where((Service.login.is_not(None)) | (Service.plan_id.is_not(None)))
        .order_by(Service.id)
    ).all()
    if not rows:
        return {}
    plans = {r.id: PlanRates(r.plan_id, r.name, r.download_kbps, r.upload_kbps) for r in rows if r.plan_id}
    conn = session.connection()
    logins = [r.login for r in rows if r.login]
    groups: dict[str, list[str]] = {}
    sessions: list[OpenSession] = []
    unreachable = False
    try:
        with radius_connection(conn, settings) as radius_conn:
            if radius_conn is None:
                return {r.id: ServiceNetwork(r.id, r.login, plans.get(r.id), radius_on=False) for r in rows}
            groups = _groups_by_login(radius_conn, logins)
            sessions = open_sessions(radius_conn, logins, _router_names(conn))
    except OperationalError:
        # Only a RADIUS database of its own can fail apart from the main one: the page still shows.
        if radius_mode(settings, conn.dialect.name) != "separate":
            raise
        unreachable = True
    packets = _last_packets(conn, [r.id for r in rows])
    return {
        r.id: ServiceNetwork(
            r.id,
            r.login,
            plans.get(r.id),
            radius_on=True,
            wanted_group=radius.group_for(
                r.status, r.plan_id, radius.profile_for(r.delinquency_stage, r.notice_snoozed_until)
            )
            if r.login and r.plan_id
            else None,
            groups=tuple(groups.get(r.login, ())) if r.login else (),
            sessions=tuple(s for s in sessions if r.login and s.login.lower() == r.login.lower()),
            last_packet=packets.get(r.id),
            unreachable=unreachable,
        )
        for r in rows
    }


def _groups_by_login(conn: Connection, logins: list[str]) -> dict[str, list[str]]:
    """Every radusergroup row of the logins (a stray duplicate shows), matched as FreeRADIUS's stock
    queries match them: exactly."""
    if not logins:
        return {}
    found: dict[str, list[str]] = {}
    query = (
        select(radusergroup.c.username, radusergroup.c.groupname)
        .where(radusergroup.c.username.in_(logins))
        .order_by(radusergroup.c.priority, radusergroup.c.id)
    )
    for username, group in conn.execute(query):
        found.setdefault(username, []).append(group)
    return found


def _router_names(conn: Connection) -> dict[str, str]:
    return {row.address: row.name for row in conn.execute(select(Router.address, Router.name))}


def _address(value: object) -> str | None:
    """An INET value (psycopg gives ipaddress objects) as the normalised text Ativa keeps."""
    if value is None:
        return None
    text = str(value)
    try:
        return str(ipaddress.ip_interface(text).ip)
    except ValueError:
        return text


def open_sessions(conn: Connection, logins: list[str], router_names: dict[str, str]) -> list[OpenSession]:
    """radacct rows without a stop time for the logins, oldest first."""
    if not logins:
        return []
    query = (
        select(
            radacct.c.username,
            radacct.c.nasipaddress,
            radacct.c.framedipaddress,
            radacct.c.acctstarttime,
            radacct.c.acctsessionid,
        )
        .where(radacct.c.acctstoptime.is_(None))
        .where(func.lower(radacct.c.username).in_([login.lower() for login in logins]))
        .order_by(radacct.c.acctstarttime, radacct.c.radacctid)
    )
    sessions = []
    for row in conn.execute(query):
        router = _address(row.nasipaddress) or ""
        sessions.append(
            OpenSession(
                row.username,
                router,
                router_names.get(router),
                _address(row.framedipaddress),
                row.acctstarttime,
                row.acctsessionid,
            )
        )
    return sessions


def _last_packets(conn: Connection, service_ids: list[int]) -> dict[int, LastPacket]:
    latest = (
        select(func.max(RadiusPacket.id))
        .where(RadiusPacket.service_id.in_(service_ids))
        .group_by(RadiusPacket.service_id)
        .scalar_subquery()
    )
    query = select(
        RadiusPacket.service_id,
        RadiusPacket.kind,
        RadiusPacket.outcome,
        RadiusPacket.router_address,
        RadiusPacket.sent_at,
    ).where(RadiusPacket.id.in_(latest))
    return {r.service_id: LastPacket(r.kind, r.outcome, r.router_address, r.sent_at) for r in conn.execute(query)}


# -- `ativa radius check LOGIN` ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupAnswer:
    name: str
    priority: int
    check: tuple[radius.Attribute, ...]
    reply: tuple[radius.Attribute, ...]


@dataclass(frozen=True)
class LoginCheck:
    """What FreeRADIUS answers for a login, from its tables (its stock queries match the user name
    exactly). The password itself is never part of it."""

    login: str
    service_id: int | None  # Ativa's service with that login, if any
    wanted_group: str | None
    password_set: bool
    user_check: tuple[radius.Attribute, ...]  # radcheck rows other than the password
    groups: tuple[GroupAnswer, ...]  # by priority: FreeRADIUS applies the first
    sessions: tuple[OpenSession, ...]

    @property
    def answer(self) -> str:
        """'accept' or 'reject': no password, or Auth-Type := Reject on the login or its group."""
        if not self.password_set:
            return "reject"
        applied = self.groups[0].check if self.groups else ()
        for attribute in (*self.user_check, *applied):
            if attribute.name.lower() == "auth-type" and attribute.value.lower() == "reject":
                return "reject"
        return "accept"

    @property
    def diverges(self) -> bool:
        return self.wanted_group is not None and tuple(g.name for g in self.groups) != (self.wanted_group,)


class RadiusOff(Exception):
    """RADIUS enforcement is off (SQLite without a RADIUS database, or ATIVA_RADIUS_DATABASE_URL=off)."""


def check_login(conn: Connection, settings: Settings, login: str) -> LoginCheck:
    """NotFound when neither Ativa nor FreeRADIUS knows the login; RadiusOff when RADIUS is off."""
    service = conn.execute(
        select(Service.id, Service.status, Service.plan_id, Customer.delinquency_stage, Customer.notice_snoozed_until)
        .join(Customer, Customer.id == Service.customer_id)
        .where(Service.login_key == login.lower())
    ).first()
    with radius_connection(conn, settings) as radius_conn:
        if radius_conn is None:
            raise RadiusOff("RADIUS is off: no FreeRADIUS database to read")
        checks = [
            radius.Attribute(r.attribute, r.op, r.value)
            for r in radius_conn.execute(
                select(radcheck.c.attribute, radcheck.c.op, radcheck.c.value)
                .where(radcheck.c.username == login)
                .order_by(radcheck.c.id)
            )
        ]
        memberships = radius_conn.execute(
            select(radusergroup.c.groupname, radusergroup.c.priority)
            .where(radusergroup.c.username == login)
            .order_by(radusergroup.c.priority, radusergroup.c.id)
        ).all()
        groups = tuple(_group_answer(radius_conn, name, priority) for name, priority in memberships)
        sessions = open_sessions(radius_conn, [login], _router_names(conn))
    if service is None and not checks and not groups:
        raise NotFound(f"login {login!r} is unknown to Ativa and to FreeRADIUS")
    wanted = (
        radius.group_for(
            service.status, service.plan_id, radius.profile_for(service.delinquency_stage, service.notice_snoozed_until)
        )
        if service and service.plan_id
        else None
    )
    return LoginCheck(
        login=login,
        service_id=service.id if service else None,
        wanted_group=wanted,
        password_set=any(a.name.lower() in PASSWORD_ATTRIBUTES for a in checks),
        user_check=tuple(a for a in checks if a.name.lower() not in PASSWORD_ATTRIBUTES),
        groups=groups,
        sessions=tuple(sessions),
    )


def _group_answer(conn: Connection, group: str, priority: int) -> GroupAnswer:
    check, reply = _group_rows(conn, radgroupcheck, group), _group_rows(conn, radgroupreply, group)
    return GroupAnswer(group, priority, check, reply)


def _group_rows(conn: Connection, table, group: str) -> tuple[radius.Attribute, ...]:
    query = select(table.c.attribute, table.c.op, table.c.value).where(table.c.groupname == group).order_by(table.c.id)
    return tuple(radius.Attribute(r.attribute, r.op, r.value) for r in conn.execute(query))
