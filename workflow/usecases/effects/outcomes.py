"""What the effects pipeline passes around: claims, calls to make, and outcomes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ...domain.vocabulary import EffectState

BUSY = "busy"  # another worker holds the claim, or the retry is not due yet
GONE = "gone"


@dataclass(frozen=True)
class Delivery:
    """One signed outbound call: `message_id` is the webhook-id the receiver deduplicates on."""

    target: str  # "billing" | "provisioning" | "radius"
    message_id: str
    payload: dict


@dataclass(frozen=True)
class Delivered:
    """What a call that went through says: a note instead of "delivered to <target>", and rows
    of `radius_packets` (one per CoA/Disconnect sent) recorded with the effect's outcome."""

    note: str | None = None
    packets: tuple[dict, ...] = ()


class DeliveryFailed(Exception):
    """The call failed (the effect retries on the schedule); `packets` are recorded all the same."""

    def __init__(self, reason: str, packets: tuple[dict, ...] = ()):
        super().__init__(reason)
        self.packets = packets


# Makes one call: returns None (or what went through), raises DeliveryFailed. A Deliver may also
# have `deliver_many(deliveries) -> list[Delivered | DeliveryFailed]`, to make many calls at once
# (RADIUS packets go out concurrently): see effects.pipeline.
Deliver = Callable[[Delivery], "Delivered | None"]


@dataclass
class RunResult:
    effect_id: int
    state: str
    retry_in: float | None = None  # a short retry: publish it again with this countdown
    # Outbound calls this effect made, claimed and described in its own transaction: the caller
    # carries them out next (carry_out) instead of queueing them behind the broker's backlog.
    follow_ups: list["Claim"] = field(default_factory=list)


@dataclass
class Outcome:
    """An effect's outcome decided without acting (superseded, not configured), or after acting."""

    state: EffectState
    note: str


@dataclass
class Claim:
    """An effect this worker holds until `until`; an outbound call carries its description
    (a Delivery, or the outcome that makes the call unnecessary) when it was made in the claim's
    transaction."""

    effect_id: int
    name: str
    attempt: int
    customer_id: int
    transition_id: int | None
    until: datetime
    delivery: "Delivery | Outcome | None" = None
    unsettled_attempt: int | None = None  # an earlier attempt that may have made the call


@dataclass(frozen=True)
class Settlement:
    """The outcome of an outbound call (made, or found unnecessary), not recorded yet."""

    effect_id: int
    attempt: int
    state: EffectState
    note: str
    until: datetime  # the claim's end: recorded before it could lapse (outlasts_a_call)
    packets: tuple[dict, ...] = ()  # radius_packets rows, inserted in the transaction that records it


MAYBE_DELIVERED = "may have been delivered by attempt {attempt} (cut off before recording its outcome)"


def maybe_delivered(attempt: int) -> str:
    """What is known of an attempt that was cut off between its call and its record. In English
    like every note (API, CLI, logs); the operator UI words it in Portuguese."""
    return MAYBE_DELIVERED.format(attempt=attempt)


def with_doubt(claim: Claim, outcome: Outcome) -> str:
    """A call found unnecessary now (superseded, not configured) may still have been made by an
    attempt cut off earlier: the note says so instead of a plain "not sent"."""
    if not claim.unsettled_attempt:
        return outcome.note
    return f"{maybe_delivered(claim.unsettled_attempt)}; not sent again: {outcome.note}"
