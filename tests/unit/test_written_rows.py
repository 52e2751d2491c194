"""A transition's result carries every column it wrote: the dataclasses follow the tables."""

from dataclasses import fields
from datetime import UTC, datetime

from workflow.db.models import Customer, OutboxEffect, StatusChange
from workflow.domain.vocabulary import Effect
from workflow.usecases.transitions import new_effect
from workflow.usecases.written_rows import CustomerRow, OutboxEffectRow, StatusChangeRow


def names(row_type) -> set[str]:
    return {field.name for field in fields(row_type)}


def test_the_customer_and_history_rows_have_every_column():
    assert names(CustomerRow) == set(Customer.__table__.columns.keys())
    assert names(StatusChangeRow) == set(StatusChange.__table__.columns.keys())


def test_the_effect_row_is_what_a_new_outbox_row_holds():
    written = new_effect(Effect.SUSPEND_SERVICES, 1, datetime.now(UTC), transition_id=2)
    assert names(OutboxEffectRow) == {"id", *written}
    assert names(OutboxEffectRow) <= set(OutboxEffect.__table__.columns.keys())
