"""FreeRADIUS's own tables, as FreeRADIUS 3.2's PostgreSQL schema.sql declares them (column names,
types and indexes), so a stock FreeRADIUS with rlm_sql_postgresql and its stock queries reads what
Ativa writes. A metadata of its own: they may live in another database than Ativa's, and alembic
does not manage them (FreeRADIUS's schema is not ours to migrate)."""

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, TIMESTAMP

radius_metadata = MetaData()
_tz = TIMESTAMP(timezone=True)


def _attribute_table(name: str, key: str, default_op: str) -> Table:
    """radcheck, radreply, radgroupcheck, radgroupreply: one attribute per row."""
    return Table(
        name,
        radius_metadata,
        Column("id", Integer, primary_key=True),
        Column(key, Text, nullable=False, server_default=""),
        Column("attribute", Text, nullable=False, server_default=""),
        Column("op", String(2), nullable=False, server_default=default_op),
        Column("value", Text, nullable=False, server_default=""),
        Index(f"{name}_{'UserName' if key == 'username' else 'GroupName'}", key, "attribute"),
    )


radacct = Table(
    "radacct",
    radius_metadata,
    Column("radacctid", BigInteger, primary_key=True),
    Column("acctsessionid", Text, nullable=False),
    Column("acctuniqueid", Text, nullable=False, unique=True),
    Column("username", Text),
    Column("realm", Text),
    Column("nasipaddress", INET, nullable=False),
    Column("nasportid", Text),
    Column("nasporttype", Text),
    Column("acctstarttime", _tz),
    Column("acctupdatetime", _tz),
    Column("acctstoptime", _tz),
    Column("acctinterval", BigInteger),
    Column("acctsessiontime", BigInteger),
    Column("acctauthentic", Text),
    Column("connectinfo_start", Text),
    Column("connectinfo_stop", Text),
    Column("acctinputoctets", BigInteger),
    Column("acctoutputoctets", BigInteger),
    Column("calledstationid", Text),
    Column("callingstationid", Text),
    Column("acctterminatecause", Text),
    Column("servicetype", Text),
    Column("framedprotocol", Text),
    Column("framedipaddress", INET),
    Column("framedipv6address", INET),
    Column("framedipv6prefix", INET),
    Column("framedinterfaceid", Text),
    Column("delegatedipv6prefix", INET),
    Column("class", Text),
    Index("radacct_active_session_idx", "acctuniqueid", postgresql_where=text("acctstoptime IS NULL")),
    Index("radacct_bulk_close", "nasipaddress", "acctstarttime", postgresql_where=text("acctstoptime IS NULL")),
    Index("radacct_start_user_idx", "acctstarttime", "username"),
    Index("radacct_calss_idx", "class"),
)
radcheck = _attribute_table("radcheck", "username", "==")
radgroupcheck = _attribute_table("radgroupcheck", "groupname", "==")
radgroupreply = _attribute_table("radgroupreply", "groupname", "=")
radreply = _attribute_table("radreply", "username", "=")
radusergroup = Table(
    "radusergroup",
    radius_metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, server_default=""),
    Column("groupname", Text, nullable=False, server_default=""),
    Column("priority", Integer, nullable=False, server_default="0"),
    Index("radusergroup_UserName", "username"),
)
radpostauth = Table(
    "radpostauth",
    radius_metadata,
    Column("id", BigInteger, primary_key=True),
    Column("username", Text, nullable=False),
    Column("pass", Text),
    Column("reply", Text),
    Column("calledstationid", Text),
    Column("callingstationid", Text),
    Column("authdate", _tz, nullable=False, server_default=text("now()")),
    Column("class", Text),
    Index("radpostauth_username_idx", "username"),
    Index("radpostauth_class_idx", "class"),
)
nas = Table(
    "nas",
    radius_metadata,
    Column("id", Integer, primary_key=True),
    Column("nasname", Text, nullable=False),
    Column("shortname", Text, nullable=False),
    Column("type", Text, nullable=False, server_default="other"),
    Column("ports", Integer),
    Column("secret", Text, nullable=False),
    Column("server", Text),
    Column("community", Text),
    Column("description", Text),
    Index("nas_nasname", "nasname"),
)
nasreload = Table(
    "nasreload",
    radius_metadata,
    Column("nasipaddress", INET, primary_key=True),
    Column("reloadtime", _tz, nullable=False),
)

# Ativa's own index, not in FreeRADIUS's schema: every session effect looks up a login's open
# sessions, and radacct keeps every session ever closed (millions of rows after a few years).
OPEN_SESSIONS_BY_LOGIN = Index(
    "ativa_radacct_open_login", func.lower(radacct.c.username), postgresql_where=text("acctstoptime IS NULL")
)
# The notice page (/aviso) finds its visitor by the open session holding their IPv4 address.
OPEN_SESSIONS_BY_ADDRESS = Index(
    "ativa_radacct_open_address", radacct.c.framedipaddress, postgresql_where=text("acctstoptime IS NULL")
)
OWN_INDEXES = (OPEN_SESSIONS_BY_LOGIN, OPEN_SESSIONS_BY_ADDRESS)

RADIUS_TABLES = frozenset(radius_metadata.tables)


def create_radius_schema(engine: Engine) -> None:
    """Create what is missing (tables with their indexes, and Ativa's own index on an existing
    FreeRADIUS database); the rows there are kept."""
    radius_metadata.create_all(engine, checkfirst=True)
    for index in OWN_INDEXES:
        index.create(engine, checkfirst=True)
