"""A customer's transitions, newest first, each with the state of its effects."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..db.models import StatusChange
from .customers import get_customer


def customer_history(session: Session, customer_id: int, limit: int = 100, offset: int = 0) -> list[StatusChange]:
    get_customer(session, customer_id)
    return list(
        session.scalars(
            select(StatusChange)
            .where(StatusChange.customer_id == customer_id)
            .options(selectinload(StatusChange.effects))
            .order_by(StatusChange.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class HistoryPage:
    changes: list[StatusChange]
    page: int  # 1 = the newest changes
    pages: int
    total: int


def history_page(session: Session, customer_id: int, page: int, per_page: int) -> HistoryPage:
    """One page of the history; a page past the last one is the last one."""
    total = (
        session.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.customer_id == customer_id))
        or 0
    )
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    return HistoryPage(customer_history(session, customer_id, per_page, (page - 1) * per_page), page, pages, total)
