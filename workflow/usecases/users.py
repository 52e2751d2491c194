"""People who sign in to the web UI: argon2id passwords, server-side sessions, login throttling.

API clients use tokens (usecases/tokens.py); these users only ever reach the UI.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db.models import LoginThrottle, OperatorUser, WebSession
from ..db.types import utcnow
from ..domain.errors import InvalidInput, NotFound
from ..domain.vocabulary import Role

UI_ROLES = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)
MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: a user, or why not (`locked_for` seconds if throttled)."""

    user: OperatorUser | None
    locked_for: int = 0


@dataclass(frozen=True)
class SignedIn:
    user: OperatorUser
    session: WebSession


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_username(username: str) -> str:
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username must be 2 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def _ui_role(role: str) -> str:
    allowed = ", ".join(r.value for r in UI_ROLES)
    try:
        value = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of: {allowed}") from None
    if value not in UI_ROLES:
        raise InvalidInput(f"role {role!r} is for API tokens; web users are one of: {allowed}")
    return value.value


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


def has_users(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(OperatorUser)))


def create_user(session: Session, username: str, role: str, password: str) -> OperatorUser:
    username, role = clean_username(username), _ui_role(role)
    _check_password(password)
    if session.scalar(select(OperatorUser.id).where(OperatorUser.username == username)):
        raise InvalidInput(f"user {username!r} already exists")
    user = OperatorUser(username=username, role=role, password_hash=_hasher.hash(password), created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def create_first_admin(session: Session) -> tuple[OperatorUser, str] | None:
    """On a register with no user at all: an admin with a generated password (shown once)."""
    if has_users(session):
        return None
    password = secrets.token_urlsafe(12)
    return create_user(session, "admin", Role.ADMIN.value, password), password


def list_users(session: Session) -> list[OperatorUser]:
    return list(session.scalars(select(OperatorUser).order_by(OperatorUser.id)))


def _get_user(session: Session, username: str) -> OperatorUser:
    user = session.scalar(select(OperatorUser).where(OperatorUser.username == clean_username(username)))
    if user is None:
        raise NotFound(f"user {username!r} does not exist")
    return user


def set_password(session: Session, username: str, password: str) -> OperatorUser:
    """New password; every open session of the user ends."""
    _check_password(password)
    user = _get_user(session, username)
    user.password_hash = _hasher.hash(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return user


def disable_user(session: Session, username: str) -> OperatorUser:
    """The user can no longer sign in, and is signed out everywhere at once."""
    user = _get_user(session, username)
    user.disabled_at = user.disabled_at or utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return user


# -- throttling -------------------------------------------------------------------------------


def _throttle_keys(username: str, address: str | None) -> list[str]:
    keys = [f"user:{(username or '').strip().lower()[:64]}"]
    if address:
        keys.append(f"addr:{address[:100]}")
    return keys


def _locked_for(session: Session, keys: list[str], now: datetime) -> int:
    until = session.scalar(
        select(func.max(LoginThrottle.locked_until)).where(
            LoginThrottle.key.in_(keys), LoginThrottle.locked_until > now
        )
    )
    return max(1, int((until - now).total_seconds() + 0.999)) if until else 0


def _throttle_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, created if missing and locked: two processes counting the same key never
    lose a failure."""
    dialect = session.get_bind().dialect.name
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        make_insert(LoginThrottle)
        .values(key=key, failures=0, first_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# Operators of one office often share one public address (NAT): an address gets more tries than
# a username before it is locked, so one clumsy colleague does not lock everybody out.
ADDRESS_ALLOWANCE = 4


def _record_failure(session: Session, keys: list[str], now: datetime, max_failures: int, lockout: timedelta) -> None:
    for key in keys:
        limit = max_failures * ADDRESS_ALLOWANCE if key.startswith("addr:") else max_failures
        row = _throttle_row(session, key, now)
        if now - row.first_failure_at > lockout:  # old failures no longer count
            row.failures, row.first_failure_at = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.locked_until, row.failures, row.first_failure_at = now + lockout, 0, now


def sign_in(
    session: Session, username: str, password: str, address: str | None, *, max_failures: int, lockout_seconds: int
) -> SignIn:
    """Check the password unless the user or the address is locked out. Run it in a write unit
    and commit even when it fails: the failure count must persist."""
    now = utcnow()
    keys = _throttle_keys(username, address)
    locked_for = _locked_for(session, keys, now)
    if locked_for:
        return SignIn(None, locked_for)
    name = (username or "").strip().lower()
    user = session.scalar(select(OperatorUser).where(OperatorUser.username == name)) if name else None
    if not _password_matches(user, password or "") or user is None:  # no user: a dummy hash is checked, same time
        _record_failure(session, keys, now, max_failures, timedelta(seconds=lockout_seconds))
        return SignIn(None, _locked_for(session, keys, now))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    return SignIn(user)


def _password_matches(user: OperatorUser | None, password: str) -> bool:
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and user.disabled_at is None


# -- sessions ---------------------------------------------------------------------------------


def open_session(session: Session, user: OperatorUser, hours: float) -> str:
    """A new web session; returns the cookie value (only its hash is stored)."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, token: str | None) -> SignedIn | None:
    if not token:
        return None
    row = session.execute(
        select(WebSession, OperatorUser)
        .join(OperatorUser, OperatorUser.id == WebSession.user_id)
        .where(
            WebSession.token_hash == _token_hash(token),
            WebSession.expires_at > utcnow(),
            OperatorUser.disabled_at.is_(None),
        )
    ).one_or_none()
    return SignedIn(user=row[1], session=row[0]) if row else None


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))
