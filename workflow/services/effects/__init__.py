"""Carrying out outbox effects: claim the row, act, record the outcome.

Effects are level-triggered: each one makes the world match the customer's *current* status, so
running one twice, late or out of order changes nothing it should not. An effect whose transition
has been overtaken by a newer one is recorded as `skipped` with the reason, never applied.

The package, by concern: `claims` (claim and settle), `local` (services and invoicing),
`descriptions` and `calls` (outbound calls and their retry schedule), `pipeline` (carrying out a
message's effects), `relay` (relay and reconcilers), `admin` (operator actions). What the rest of
the code uses is exported here.
"""

from .admin import list_effects, retry_effect
from .calls import COUNTDOWN_LIMIT_SECONDS, make_call, outlasts_a_call, retry_delay
from .claims import claim_effects, is_local, record_error, settle_one, settle_together
from .descriptions import CUSTOMER_EVENT_TYPES
from .local import run_locals_together
from .outcomes import (
    BUSY,
    GONE,
    MAYBE_DELIVERED,
    Claim,
    Deliver,
    Delivery,
    DeliveryFailed,
    RunResult,
    Settlement,
    maybe_delivered,
)
from .pipeline import carry_out, run_effect
from .relay import RELAY_BACKOFF_CAP_SECONDS, RENOTIFY_MAX, reconcile, reconcile_notifications, relay_pending

__all__ = [
    "BUSY", "COUNTDOWN_LIMIT_SECONDS", "CUSTOMER_EVENT_TYPES", "GONE", "MAYBE_DELIVERED",
    "RELAY_BACKOFF_CAP_SECONDS", "RENOTIFY_MAX", "Claim", "Deliver", "Delivery", "DeliveryFailed",
    "RunResult", "Settlement", "carry_out", "claim_effects", "is_local", "list_effects", "make_call",
    "maybe_delivered", "outlasts_a_call", "reconcile", "reconcile_notifications", "record_error",
    "relay_pending", "retry_delay", "retry_effect", "run_effect", "run_locals_together", "settle_one",
    "settle_together",
]
