"""Publish new outbox effects to the workers after the transaction that wrote them commits.

The use-case layer only records ids on the session; whoever runs workers (workers.app) installs the
publisher. Publishing is the fast path: if it fails (broker down, process killed right after
commit), the relay publishes the rows again, so a failure here is logged and never raised.
"""

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "ativa_effect_ids"
_publisher: Callable[[list[int]], None] | None = None


def install_publisher(publisher: Callable[[list[int]], None] | None) -> None:
    global _publisher
    _publisher = publisher


def publish_after_commit(session: Session, effect_ids: Iterable[int]) -> None:
    session.info.setdefault(_KEY, []).extend(effect_ids)


def publish_now(effect_ids: list[int]) -> None:
    if not effect_ids or _publisher is None:
        return
    try:
        _publisher(effect_ids)
    except Exception as error:  # noqa: BLE001 - the relay is the safety net
        log.warning("publishing %d effect(s) failed, the relay will retry: %s", len(effect_ids), error)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    publish_now(session.info.pop(_KEY, []))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
