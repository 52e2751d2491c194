"""API tokens: random, shown once, stored as SHA-256 (they carry 256 bits; no slow hash needed)."""

import hashlib
import secrets
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from ..db.models import ApiToken, IdempotencyRecord
from ..db.types import utcnow
from ..domain.errors import InvalidInput, NotFound
from ..domain.vocabulary import Role

TOKEN_PREFIX = "ativa_"  # noqa: S105 - the public prefix of every token, not a secret


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, role: str) -> tuple[ApiToken, str]:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("token name must not be empty")
    try:
        role = Role(role).value
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of: {', '.join(r.value for r in Role)}") from None
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, token_hash=_hash(plaintext), prefix=plaintext[:12], created_at=utcnow())
    session.add(token)
    session.flush()
    return token, plaintext


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def authenticate(session: Session, plaintext: str) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(plaintext)))
    if token is None or token.revoked_at is not None:
        return None
    return token


def purge_idempotency_records(session: Session, ttl_hours: float) -> int:
    """Forget Idempotency-Keys older than their replay window."""
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    # A DELETE's result is a CursorResult (Session.execute is typed for any statement).
    stale = delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    return cast(CursorResult[Any], session.execute(stale)).rowcount or 0


def has_tokens(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ApiToken)))
