"""A customer's transitions, newest first, each with the state of its effects."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..db.models import StatusChange
from .customers import get_customer


def customer_history(session: Session, customer_id: int, limit: int = 100) -> list[StatusChange]:
    get_customer(session, customer_id)
    return list(
        session.scalars(
            select(StatusChange)
            .where(StatusChange.customer_id == customer_id)
            .options(selectinload(StatusChange.effects))
            .order_by(StatusChange.id.desc())
            .limit(limit)
        )
    )
