"""Many decided transitions written at once, exactly as transition_locked writes one.

The set-based paths (the sweep's cut, the ladder's batch, a bulk job's batch) lock their customers
in id order, let the machine decide once per group of customers alike, then write here: the
customers' new state with one UPDATE per distinct new state (APPLY_TO_MANY, the statement columns
of the single transition), a new warning episode where a new hold starts, the history rows and the
outbox rows through the same row builders (history_row, new_effect), many rows per statement.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update

from ..db.bulk import id_list, insert_rows
from ..db.models import Customer, OutboxEffect, StatusChange
from ..domain.customer_machine import LifecycleState
from .transitions import APPLY_TO_MANY, Decision, new_effect, new_state_values

_customers = Customer.__table__
_changes = StatusChange.__table__
_effects = OutboxEffect.__table__

# A hold moves the cut to after its date: the customer is warned again before that cut (as
# transitions._NEW_WARNING_EPISODE does for one).
_NEW_WARNING_EPISODES = (
    update(_customers).where(_customers.c.id.in_(id_list("customer_ids"))).values(warned_for_due=None)
)


@dataclass(frozen=True)
class Decided:
    """One customer's decided transition: its row read under the lock, the machine's decision and
    the history row's values (history_row)."""

    row: Any
    decision: Decision
    change: dict


@dataclass(frozen=True)
class Written:
    change_ids: dict[int, int]  # customer id -> its new history row's id
    effect_ids: list[int]  # the outbox rows queued, in id order
    effect_groups: list[list[int]]  # the same, one list per transition (a unit to carry out together)


def write_decided(conn: Connection, decided: list[Decided], now: datetime) -> Written:
    """Write the decided transitions of distinct customers; returns the ids written."""
    if not decided:
        return Written({}, [], [])
    by_state: dict[tuple, list[Decided]] = {}
    for one in decided:
        by_state.setdefault(state_key(one.decision.state), []).append(one)
    for members in by_state.values():
        ids = [one.row.id for one in members]
        conn.execute(APPLY_TO_MANY, {"customer_ids": ids, **new_state_values(members[0].decision.state, now)})
    new_holds = [
        one.row.id
        for one in decided
        if one.decision.state.forced_hold_until is not None
        and one.decision.state.forced_hold_until != one.row.forced_hold_until
    ]
    if new_holds:
        conn.execute(_NEW_WARNING_EPISODES, {"customer_ids": new_holds})
    changes = [one.change for one in decided]
    change_ids = dict(insert_rows(conn, _changes, changes, returning=("customer_id", "id")))
    effects = [
        new_effect(effect, one.row.id, now, transition_id=change_ids[one.row.id])
        for one in decided
        for effect in one.decision.effects
    ]
    by_change: dict[int, list[int]] = {}
    for row in insert_rows(conn, _effects, effects, returning=("transition_id", "id")):
        by_change.setdefault(row.transition_id, []).append(row.id)
    groups = [sorted(by_change[change_ids[one.row.id]]) for one in decided if change_ids[one.row.id] in by_change]
    return Written(change_ids, sorted(i for group in groups for i in group), groups)


def state_key(state: LifecycleState) -> tuple:
    """A lifecycle state as a dictionary key (its fields are scalars: no astuple's deep copy)."""
    return tuple(vars(state).values())
