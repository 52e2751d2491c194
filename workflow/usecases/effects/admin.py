"""What an operator does with effects: list them, and give a failed one a fresh set of attempts."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db.models import OutboxEffect
from ...db.types import utcnow
from ...domain.errors import InvalidInput, NotFound, TransitionNotAllowed
from ...domain.vocabulary import EffectState
from ..effect_bus import publish_after_commit


def list_effects(
    session: Session, state: str | None = None, customer_id: int | None = None, limit: int = 100
) -> list[OutboxEffect]:
    query = select(OutboxEffect).order_by(OutboxEffect.id.desc()).limit(limit)
    if state:
        try:
            query = query.where(OutboxEffect.state == EffectState(state).value)
        except ValueError:
            allowed = ", ".join(s.value for s in EffectState)
            raise InvalidInput(f"state {state!r} is not one of: {allowed}") from None
    if customer_id is not None:
        query = query.where(OutboxEffect.customer_id == customer_id)
    return list(session.scalars(query))


def retry_effect(session: Session, effect_id: int, actor: str, customer_id: int | None = None) -> OutboxEffect:
    """Give a failed effect a fresh set of attempts (of `customer_id`'s effects only, when given)."""
    effect = session.get(OutboxEffect, effect_id, with_for_update=True)
    if effect is None or (customer_id is not None and effect.customer_id != customer_id):
        raise NotFound(f"effect {effect_id} does not exist")
    if effect.state != EffectState.FAILED:
        raise TransitionNotAllowed(f"effect {effect_id} is {effect.state}; only a failed effect can be retried")
    now = utcnow()
    effect.state = EffectState.PENDING.value
    effect.attempts = 0
    effect.completed_at = None
    effect.claimed_until = effect.claimed_by = None
    effect.next_attempt_at = now
    effect.relay_count, effect.relay_after = 0, None
    effect.note = f"retried by {actor} at {now.isoformat()}"
    session.flush()
    publish_after_commit(session, [effect.id])
    return effect
