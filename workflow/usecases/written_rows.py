"""What a transition wrote, column by column as in the tables, returned without a second read.

Built from the values the statements were given (and the customer row read under its lock), so a
column added to a table without its field here fails the first transition, loudly.
"""

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(slots=True)
class CustomerRow:
    """A `customers` row after a transition."""

    id: int
    name: str
    document: str
    document_type: str
    email: str | None
    phone: str | None
    external_ref: str | None
    status: str
    inactivation_reason: str | None
    status_changed_at: datetime
    invoicing_enabled: bool
    auto_block_exempt: bool
    trust_unlock_until: datetime | None
    trust_unlocks_used: int
    return_on: date | None
    forced_hold_until: date | None
    warned_for_due: date | None
    delinquency_stage: str
    notice_snoozed_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    def _asdict(self) -> dict:
        """As a locked row gives it: a transition that follows another in one unit reads this."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class StatusChangeRow:
    """The `status_changes` row that records a transition in the customer's history."""

    id: int
    customer_id: int
    customer_version: int
    event: str
    from_status: str
    to_status: str
    reason: str
    note: str | None
    forced: bool
    hold_until: date | None
    delinquency_stage: str | None
    actor: str
    source: str
    created_at: datetime
    bulk_job_id: int | None


@dataclass(slots=True)
class OutboxEffectRow:
    """A fresh `outbox_effects` row (pending, due now), as transitions.new_effect writes it."""

    id: int
    transition_id: int | None
    customer_id: int
    service_id: int | None
    origin: str
    name: str
    state: str
    attempts: int
    last_error: str | None
    note: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    claimed_until: datetime | None
    published_at: datetime | None
    completed_at: datetime | None
    relay_count: int
    relay_after: datetime | None
