"""Writing FreeRADIUS's rows: each login's password and its one group, the groups Ativa keeps, and
the routers FreeRADIUS accepts requests from. Every function takes the connection to write with:
the main database's, in the transaction of the change (same database), or the RADIUS database's."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select

from ...db.radius_tables import nas, radcheck, radgroupcheck, radgroupreply, radusergroup
from ...domain.radius import GROUP_PREFIX, LOGIN_PRIORITY, GroupAttributes, password_check

KEPT_GROUPS_PATTERN = GROUP_PREFIX.replace("_", "\\_") + "%"  # LIKE pattern: `_` is a wildcard there
ROUTER_MARK = "ativa"  # nas.description of the rows Ativa keeps; rows added by hand are left alone


@dataclass(frozen=True)
class LoginRows:
    """What FreeRADIUS must hold for one login. The password is never logged: no repr."""

    login: str
    password: str
    group: str

    def __repr__(self) -> str:
        return f"LoginRows(login={self.login!r}, group={self.group!r})"


def _lock(conn: Connection, key: str) -> None:
    # Transaction-scoped: concurrent writers of one login (a block racing a payment) take turns, so
    # each leaves exactly one row of each kind, whichever commits last.
    conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0))), {"key": key})


def login_lock_key(login: str) -> str:
    return f"ativa-login:{login.lower()}"


def lock_logins(conn: Connection, logins: Iterable[str]) -> None:
    """Each login's lock, until the transaction ends; in one order, so two batches never wait on
    each other."""
    for login in sorted(set(logins), key=str.lower):
        _lock(conn, login_lock_key(login))


_DROP_CHECKS = delete(radcheck).where(radcheck.c.username.in_(bindparam("logins", expanding=True)))
_DROP_GROUPS = delete(radusergroup).where(radusergroup.c.username.in_(bindparam("logins", expanding=True)))


def write_logins(conn: Connection, logins: Iterable[LoginRows]) -> None:
    """Each login gets exactly one Cleartext-Password row and one group row, whatever it had."""
    wanted = sorted({row.login: row for row in logins}.values(), key=lambda row: row.login.lower())
    if not wanted:
        return
    lock_logins(conn, [row.login for row in wanted])
    names = [row.login for row in wanted]
    conn.execute(_DROP_CHECKS, {"logins": names})
    conn.execute(_DROP_GROUPS, {"logins": names})
    check = password_check("")
    conn.execute(
        insert(radcheck),
        [{"username": r.login, "attribute": check.name, "op": check.op, "value": r.password} for r in wanted],
    )
    conn.execute(
        insert(radusergroup),
        [{"username": r.login, "groupname": r.group, "priority": LOGIN_PRIORITY} for r in wanted],
    )


def write_groups(conn: Connection, groups: Mapping[str, GroupAttributes]) -> None:
    """Every group Ativa keeps (all `ativa_…` groups) becomes exactly `groups`: a retired or deleted
    plan's group disappears, a changed one is rewritten, groups of others are left alone."""
    _lock(conn, "ativa-groups")
    for table in (radgroupcheck, radgroupreply):
        conn.execute(
            delete(table).where(
                or_(table.c.groupname.like(KEPT_GROUPS_PATTERN, escape="\\"), table.c.groupname.in_(list(groups)))
            )
        )
    checks = [
        {"groupname": name, "attribute": a.name, "op": a.op, "value": a.value}
        for name, attrs in groups.items()
        for a in attrs.check
    ]
    replies = [
        {"groupname": name, "attribute": a.name, "op": a.op, "value": a.value}
        for name, attrs in groups.items()
        for a in attrs.reply
    ]
    if checks:
        conn.execute(insert(radgroupcheck), checks)
    if replies:
        conn.execute(insert(radgroupreply), replies)


@dataclass(frozen=True)
class RouterRow:
    name: str
    address: str
    secret: str
    coa_port: int
    vendor: str

    def __repr__(self) -> str:
        return f"RouterRow(name={self.name!r}, address={self.address!r})"


def write_routers(conn: Connection, routers: Iterable[RouterRow]) -> None:
    """FreeRADIUS's `nas` table lists exactly Ativa's routers (plus any added there by hand)."""
    _lock(conn, "ativa-routers")
    conn.execute(delete(nas).where(nas.c.description == ROUTER_MARK))
    rows = [
        {
            "nasname": r.address,
            "shortname": r.name,
            "type": r.vendor if r.vendor == "mikrotik" else "other",
            "ports": r.coa_port,
            "secret": r.secret,
            "description": ROUTER_MARK,
        }
        for r in routers
    ]
    if rows:
        conn.execute(insert(nas), rows)


def groups_of(conn: Connection, logins: list[str]) -> dict[str, list[str]]:
    """The group rows each login has now, in FreeRADIUS's order (priority)."""
    found: dict[str, list[str]] = {login: [] for login in logins}
    if not logins:
        return found
    rows = conn.execute(
        select(radusergroup.c.username, radusergroup.c.groupname)
        .where(radusergroup.c.username.in_(logins))
        .order_by(radusergroup.c.username, radusergroup.c.priority, radusergroup.c.id)
    )
    for username, groupname in rows:
        found.setdefault(username, []).append(groupname)
    return found
