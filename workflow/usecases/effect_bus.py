"""Publish new outbox effects to the workers after the transaction that wrote them commits.

The use-case layer only records ids on the session, the ids of one unit (a transition's effects)
together, so that they travel in one message; whoever runs workers (workers.app) installs the
publisher. Publishing is the fast path: if it fails (broker down, process killed right after
commit), the relay publishes the rows again, so a failure here is logged and never raised.
"""

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "ativa_effect_ids"
# Publishes groups of effect ids: each group's ids in one message (a batch of payments: one group
# per payment, so a payment's effects are carried out together however big the batch).
Publisher = Callable[[list[list[int]]], None]
_publisher: Publisher | None = None


def install_publisher(publisher: Publisher | None) -> None:
    global _publisher
    _publisher = publisher


def publish_after_commit(session: Session, effect_ids: Iterable[int]) -> None:
    """`effect_ids`, one unit's, published after the session commits, in one message."""
    group = list(effect_ids)
    if group:
        session.info.setdefault(_KEY, []).append(group)


def publish_groups_after_commit(session: Session, groups: Iterable[Iterable[int]]) -> None:
    """Several units' effect ids (a batch's transitions), each group in one message."""
    for group in groups:
        publish_after_commit(session, group)


def publish_now(groups: list[list[int]]) -> None:
    if not groups or _publisher is None:
        return
    try:
        _publisher(groups)
    except Exception as error:  # noqa: BLE001 - the relay is the safety net
        count = sum(len(group) for group in groups)
        log.warning("publishing %d effect(s) failed, the relay will retry: %s", count, error)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    publish_now(session.info.pop(_KEY, []))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
