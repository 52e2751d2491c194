"""The session effects (`radius_disconnect`, `radius_coa`): what to send, described from the world
as it is now, and what the routers' answers make of the effect.

Level-triggered: the service is read when the effect runs, so an old CoA for a service blocked
since becomes a Disconnect, and in a RADIUS database of its own the login's rows are written
first, for the group its service's status wants now. Many effects are described together (a
message, a relay batch): a few statements for all of them, not a few per effect."""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, insert, select

from ...db.models import Customer, OutboxEffect, Plan, RadiusPacket, Router, Service
from ...db.radius_tables import radacct
from ...db.types import utcnow
from ...domain import radius
from ...domain.vocabulary import Effect, EffectState, ServiceStatus
from ...settings import Settings
from ..effects.outcomes import Delivered, Delivery, DeliveryFailed, Outcome
from .enforcement import login_facts, radius_database, radius_mode
from .packets import PacketKind, PacketResult, SessionPacket, describe_result, packets_outcome
from .rows import lock_logins, write_logins

TARGET = "radius"
NO_SESSION = "no open session: nothing sent"
RADIUS_OFF = "not sent: RADIUS is off (ATIVA_RADIUS_DATABASE_URL)"
NO_LOGIN = "not sent: the service has no RADIUS login"

_fx = OutboxEffect.__table__
_services = Service.__table__
_customers = Customer.__table__
_plans = Plan.__table__
_routers = Router.__table__

_FACTS = (
    select(
        _fx.c.id.label("effect_id"),
        _fx.c.name,
        _fx.c.customer_id,
        _services.c.id.label("service_id"),
        _services.c.login,
        _services.c.radius_password,
        _services.c.status,
        _services.c.plan_id,
        _plans.c.download_kbps,
        _plans.c.upload_kbps,
        _customers.c.delinquency_stage,
        _customers.c.notice_snoozed_until,
    )
    .select_from(_fx)
    .outerjoin(_services, _services.c.id == _fx.c.service_id)
    .outerjoin(_customers, _customers.c.id == _services.c.customer_id)
    .outerjoin(_plans, _plans.c.id == _services.c.plan_id)
    .where(_fx.c.id.in_(bindparam("effect_ids", expanding=True)))
)
_OPEN_SESSIONS = (
    select(
        radacct.c.username,
        radacct.c.acctsessionid,
        # host(): the address as text without its mask, as routers.address is written.
        func.host(radacct.c.nasipaddress).label("nas_ip"),
        func.host(radacct.c.framedipaddress).label("framed_ip"),
    )
    .where(
        radacct.c.acctstoptime.is_(None),
        func.lower(radacct.c.username).in_(bindparam("logins", expanding=True)),
    )
    .order_by(radacct.c.radacctid)
)
_ROUTERS = select(_routers.c.address, _routers.c.coa_port, _routers.c.secret, _routers.c.vendor).where(
    _routers.c.address.in_(bindparam("addresses", expanding=True))
)


@dataclass(frozen=True)
class _Session:
    login: str
    acct_session_id: str
    nas_ip: str
    framed_ip: str | None


@dataclass(frozen=True)
class _Router:
    address: str
    coa_port: int
    secret: str
    vendor: str

    def __repr__(self) -> str:
        return f"_Router(address={self.address!r})"


def describe_sessions(conn: Connection, effect_ids: Sequence[int], settings: Settings) -> dict[int, Delivery | Outcome]:
    """The session effects `effect_ids`, described together on `conn` (the main database)."""
    if not effect_ids:
        return {}
    if radius_mode(settings, conn.dialect.name) == "off":
        return {effect_id: Outcome(EffectState.SKIPPED, RADIUS_OFF) for effect_id in effect_ids}
    facts = conn.execute(_FACTS, {"effect_ids": list(effect_ids)}).all()
    described: dict[int, Delivery | Outcome] = {}
    with_login = []
    for row in facts:
        if row.login is None or row.plan_id is None:
            described[row.effect_id] = Outcome(EffectState.SKIPPED, NO_LOGIN)
        else:
            with_login.append(row)
    sessions = _open_sessions(conn, settings, with_login)
    routers = _routers_at(conn, {s.nas_ip for found in sessions.values() for s in found})
    for row in with_login:
        found = sessions.get(row.login.lower(), [])
        if not found:
            described[row.effect_id] = Outcome(EffectState.DONE, NO_SESSION)
            continue
        described[row.effect_id] = _delivery(row, found, routers, settings)
    return described


def _open_sessions(conn: Connection, settings: Settings, facts) -> dict[str, list[_Session]]:
    """Open sessions by lowercased login. A RADIUS database of its own gets the logins' rows
    first (the group each service's status wants now), in its own transaction."""
    if not facts:
        return {}
    logins = sorted({row.login.lower() for row in facts})
    if radius_mode(settings, conn.dialect.name) == "separate":
        with radius_database(settings).write_core() as radius_conn:
            # The services read again once their logins are locked: a block and an unblock described
            # at once by two workers write in turn, each what the service says after the other.
            lock_logins(radius_conn, [row.login for row in facts])
            fresh = login_facts(conn, sorted({row.service_id for row in facts}))
            write_logins(radius_conn, [f.rows() for f in fresh])
            rows = radius_conn.execute(_OPEN_SESSIONS, {"logins": logins}).all()
    else:
        rows = conn.execute(_OPEN_SESSIONS, {"logins": logins}).all()
    sessions: dict[str, list[_Session]] = {}
    for row in rows:
        sessions.setdefault(row.username.lower(), []).append(
            _Session(row.username, row.acctsessionid, _normalised(row.nas_ip), row.framed_ip)
        )
    return sessions


def _normalised(address: str) -> str:
    """PostgreSQL writes an IPv6 address in its compressed form already, as ipaddress does; an
    IPv4 one is the same in both: only an unusual spelling needs parsing."""
    if ":" in address and address != address.lower():
        return str(ipaddress.ip_address(address))
    return address


def _routers_at(conn: Connection, addresses: set[str]) -> dict[str, _Router]:
    if not addresses:
        return {}
    return {
        row.address: _Router(row.address, row.coa_port, row.secret, row.vendor)
        for row in conn.execute(_ROUTERS, {"addresses": sorted(addresses)})
    }


def _delivery(row, sessions: list[_Session], routers: dict[str, _Router], settings: Settings) -> Delivery:
    """One packet per open session: a CoA with what the login's group answers now (the plan's
    rate, or its ladder step's: the notice list, the reduced rate) only for a CoA effect whose
    service is active now, else a Disconnect. A session on a router Ativa does not know is a failure."""
    profile = radius.profile_for(row.delinquency_stage, row.notice_snoozed_until)
    coa = row.name == Effect.RADIUS_COA.value and row.status == ServiceStatus.ACTIVE.value
    packets: list[SessionPacket] = []
    unrouted: list[PacketResult] = []
    for session in sessions:
        router = routers.get(session.nas_ip)
        kind: PacketKind = "coa" if coa else "disconnect"
        if router is None:
            unrouted.append(
                PacketResult(
                    session.nas_ip,
                    kind,
                    session.login,
                    session.acct_session_id,
                    "no_router",
                    detail=f"no router registered for {session.nas_ip}",
                )
            )
            continue
        rates = (
            tuple(
                (a.name, int(a.value) if a.name.startswith("WISPr-") else a.value)
                for a in radius.profile_attributes(
                    router.vendor,
                    profile,
                    row.download_kbps,
                    row.upload_kbps,
                    settings.ladder,
                    settings.radius_notice_address_list,
                )
            )
            if coa
            else ()
        )
        packets.append(
            SessionPacket(
                router.address,
                router.coa_port,
                router.secret,
                router.vendor,
                kind,
                session.login,
                session.acct_session_id,
                session.framed_ip,
                session.nas_ip,
                rates,
            )
        )
    return Delivery(
        TARGET,
        f"effect_{row.effect_id}",
        {
            "effect_id": row.effect_id,
            "customer_id": row.customer_id,
            "service_id": row.service_id,
            "packets": packets,
            "unrouted": unrouted,
        },
    )


def packets_of(delivery: Delivery) -> list[SessionPacket]:
    return list(delivery.payload["packets"])


def delivered(delivery: Delivery, results: Sequence[PacketResult]) -> Delivered | DeliveryFailed:
    """What the answers to a delivery's packets (in its packets' order) make of its effect: done
    with a note naming them, or a failure to retry; a radius_packets row per packet either way."""
    payload = delivery.payload
    everything = [*results, *payload["unrouted"]]
    outcome = packets_outcome(everything)
    now = utcnow()
    rows = tuple(
        {
            "effect_id": payload["effect_id"],
            "customer_id": payload["customer_id"],
            "service_id": payload["service_id"],
            "login": result.login,
            "router_address": result.router_address,
            "kind": result.kind,
            "outcome": result.outcome,
            "acct_session_id": result.acct_session_id,
            "detail": describe_result(result),
            "sent_at": now,
        }
        for result in everything
    )
    if outcome.done:
        return Delivered(outcome.note, rows)
    return DeliveryFailed(outcome.note, rows)


_INSERT_PACKETS = insert(RadiusPacket.__table__)


def record_packets(conn: Connection, rows: Sequence[dict]) -> None:
    """The packets' rows, in the transaction that records their effect's outcome."""
    if rows:
        conn.execute(_INSERT_PACKETS, list(rows))
