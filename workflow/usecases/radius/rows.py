"""Writing FreeRADIUS's rows: each login's password and its one group, the groups Ativa keeps, and
the routers FreeRADIUS accepts requests from. Every function takes the connection to write with:
the main database's, in the transaction of the change (same database), or the RADIUS database's."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, text

from ...db.radius_tables import nas, radgroupcheck, radgroupreply, radusergroup
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


GROUPS_LOCK = "ativa-groups"
ROUTERS_LOCK = "ativa-routers"


def lock(conn: Connection, key: str) -> None:
    # Transaction-scoped: concurrent writers of one login (a block racing a payment) take turns, so
    # each leaves exactly one row of each kind, whichever commits last.
    conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0))), {"key": key})


def login_lock_key(login: str) -> str:
    return f"ativa-login:{login.lower()}"


_LOCK_MANY = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
    'FROM (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k COLLATE "C") AS ordered'
)


def lock_logins(conn: Connection, logins: Iterable[str]) -> None:
    """Each login's lock, until the transaction ends: one statement for any number, taken in one
    order (the subquery's), so two batches never wait on each other."""
    keys = sorted({login_lock_key(login) for login in logins})
    if len(keys) == 1:
        lock(conn, keys[0])
    elif keys:
        conn.execute(_LOCK_MANY, {"keys": keys})


# After the locks (a statement of its own: a statement that waited for a lock would keep its older
# snapshot), one statement replaces every row of the logins. Its parts share one snapshot, so the
# deletes never see the inserts; they match `= ANY(array)`, which the username indexes serve (a
# semi-join on `wanted` was planned as a scan of the whole table).
_REPLACE_LOGIN_ROWS = text(
    "WITH wanted AS (SELECT * FROM unnest(CAST(:logins AS text[]), CAST(:passwords AS text[]), "
    "CAST(:groups AS text[])) AS w(login, password, groupname)), "
    "dropped_checks AS (DELETE FROM radcheck WHERE username = ANY(CAST(:logins AS text[]))), "
    "dropped_groups AS (DELETE FROM radusergroup WHERE username = ANY(CAST(:logins AS text[]))), "
    "checks AS (INSERT INTO radcheck (username, attribute, op, value) "
    "SELECT login, :attribute, :op, password FROM wanted) "
    "INSERT INTO radusergroup (username, groupname, priority) SELECT login, groupname, :priority FROM wanted"
)


def write_logins(conn: Connection, logins: Iterable[LoginRows], *, locked: Iterable[str] = ()) -> None:
    """Each login gets exactly one Cleartext-Password row and one group row, whatever it had:
    two statements for any number of logins. `locked`: logins whose locks (lock_logins) the caller
    already holds in this transaction; only the others are locked here, so a caller that locked
    them to read their facts does not pay the lock statement twice."""
    wanted = sorted({row.login: row for row in logins}.values(), key=lambda row: row.login.lower())
    if not wanted:
        return
    held = {login_lock_key(login) for login in locked}
    lock_logins(conn, [row.login for row in wanted if login_lock_key(row.login) not in held])
    check = password_check("")
    conn.execute(
        _REPLACE_LOGIN_ROWS,
        {
            "logins": [r.login for r in wanted],
            "passwords": [r.password for r in wanted],
            "groups": [r.group for r in wanted],
            "attribute": check.name,
            "op": check.op,
            "priority": LOGIN_PRIORITY,
        },
    )


def write_groups(conn: Connection, groups: Mapping[str, GroupAttributes]) -> None:
    """Every group Ativa keeps (all `ativa_…` groups) becomes exactly `groups`: a retired or deleted
    plan's group disappears, a changed one is rewritten, groups of others are left alone."""
    lock(conn, GROUPS_LOCK)  # taken again if the caller holds it: advisory locks stack
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


def nas_rows(routers: Iterable[RouterRow]) -> list[dict]:
    """FreeRADIUS's `nas` rows for Ativa's routers (what write_routers writes, the reconciler compares)."""
    return [
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


def write_routers(conn: Connection, routers: Iterable[RouterRow]) -> None:
    """FreeRADIUS's `nas` table lists exactly Ativa's routers (plus any added there by hand)."""
    lock(conn, ROUTERS_LOCK)
    conn.execute(delete(nas).where(nas.c.description == ROUTER_MARK))
    rows = nas_rows(routers)
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
