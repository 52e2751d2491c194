"""Idempotency keys: the answer given to a keyed request, kept so that a retry gets it back.

An answer is recorded in the same unit as the change it answers (the caller's), so a crash cannot
leave one without the other; the key is unique per token, so of two concurrent requests with one
key, one insert fails and the loser reads the winner's answer. What an answer looks like on the
wire (status, body, headers) is the API's business (workflow/api/idempotency.py).
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db.models import IdempotencyRecord
from ..db.types import utcnow


@dataclass(frozen=True)
class KeyUse:
    """One request made with a key: whose token, the key, and a digest of what was asked."""

    token_id: int
    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str  # of the request that was answered: another one must not reuse the key
    status_code: int
    body: dict


def record_answer(session: Session, use: KeyUse, status_code: int, body: dict) -> None:
    """Flushed at once: a concurrent request's record for the same key fails here, in this unit."""
    session.add(
        IdempotencyRecord(
            token_id=use.token_id,
            key=use.key,
            fingerprint=use.fingerprint,
            status_code=status_code,
            response_body=body,
            created_at=utcnow(),
        )
    )
    session.flush()


def stored_answer(session: Session, use: KeyUse, ttl: timedelta) -> StoredAnswer | None:
    """The answer kept for this token's key, if it is younger than `ttl`. An expired one is
    forgotten here, lazily, by the write that would collide with it."""
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.token_id == use.token_id,
            IdempotencyRecord.key == use.key,
            IdempotencyRecord.created_at < utcnow() - ttl,
        )
    )
    record = session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.token_id == use.token_id, IdempotencyRecord.key == use.key)
    )
    if record is None:
        return None
    return StoredAnswer(record.fingerprint, record.status_code, record.response_body)
