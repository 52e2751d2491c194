"""Column types that behave the same on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores UTC; always returns aware datetimes (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator):
    """A Decimal amount stored as integer cents: exact on every database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect):
        if value is None:
            return None
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value: int | None, dialect):
        return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


# This host's clock minus the database's, measured by db.database_clock on PostgreSQL (workers and APIs on
# several hosts compare each other's claims and leases: they must read one clock).
_clock_offset = timedelta(0)


def _host_clock() -> datetime:
    return datetime.now(UTC)


def utcnow() -> datetime:
    """Now on the database's clock: this host's, corrected by the last measured offset."""
    return _host_clock() - _clock_offset


def set_clock_offset(offset: timedelta) -> None:
    global _clock_offset
    _clock_offset = offset
