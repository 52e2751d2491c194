"""Carrying out outbox effects: claim the row, act, record the outcome.

Effects are level-triggered: each one makes the world match the customer's *current* status, so
running one twice, late or out of order changes nothing it should not. An effect whose transition
has been overtaken by a newer one is recorded as `skipped` with the reason, never applied.

The package, by concern: `claims` (claim and settle), `local` (services and invoicing),
`descriptions` and `calls` (outbound calls and their retry schedule), `pipeline` (carrying out a
message's effects: `process_effects`, the one call a worker makes), `relay` (relay and
reconcilers), `admin` (operator actions). What the rest of the code uses is exported here.
"""

from .admin import list_effects, retry_effect
from .calls import COUNTDOWN_LIMIT_SECONDS
from .claims import claim_effects
from .outcomes import (
    BUSY,
    GONE,
    MAYBE_DELIVERED,
    Claim,
    Deliver,
    Delivered,
    Delivery,
    DeliveryFailed,
    RunResult,
    maybe_delivered,
)
from .pipeline import ERROR, RetryLater, carry_out_effect, process_effects
from .relay import RELAY_BACKOFF_CAP_SECONDS, RENOTIFY_MAX, reconcile, reconcile_notifications, relay_pending

__all__ = [
    "BUSY",
    "COUNTDOWN_LIMIT_SECONDS",
    "ERROR",
    "GONE",
    "MAYBE_DELIVERED",
    "RELAY_BACKOFF_CAP_SECONDS",
    "RENOTIFY_MAX",
    "Claim",
    "Deliver",
    "Delivered",
    "Delivery",
    "DeliveryFailed",
    "RetryLater",
    "RunResult",
    "carry_out_effect",
    "claim_effects",
    "list_effects",
    "maybe_delivered",
    "process_effects",
    "reconcile",
    "reconcile_notifications",
    "relay_pending",
    "retry_effect",
]
