"""billing_events.transition_id: the transition an event caused, so the dashboard joins a payment
to its reactivation by key instead of by the text of the outcome

Revision ID: 0015
Revises: 0014
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0015"
# Another branch may add a 0015 at the same time: whoever merges second renumbers this one.
down_revision = "0014"
branch_labels = None
depends_on = None

# How billing.py described a reactivation before this column existed (backfilled once from it).
_REACTIVATED = re.compile(r"; customer reactivated \(transition (\d+)\)$")


def upgrade() -> None:
    with op.batch_alter_table("billing_events") as batch:
        batch.add_column(sa.Column("transition_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_billing_events_transition_id", "status_changes", ["transition_id"], ["id"])
    op.create_index("ix_billing_events_transition_id", "billing_events", ["transition_id"])
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, outcome FROM billing_events WHERE outcome LIKE '%; customer reactivated (transition %'")
    )
    backfill = [
        {"id": row.id, "transition_id": int(found.group(1))}
        for row in rows
        if (found := _REACTIVATED.search(row.outcome))
    ]
    if backfill:
        conn.execute(
            sa.text(
                "UPDATE billing_events SET transition_id = :transition_id WHERE id = :id"
                " AND EXISTS (SELECT 1 FROM status_changes WHERE status_changes.id = :transition_id)"
            ),
            backfill,
        )


def downgrade() -> None:
    op.drop_index("ix_billing_events_transition_id", table_name="billing_events")
    with op.batch_alter_table("billing_events") as batch:
        batch.drop_constraint("fk_billing_events_transition_id", type_="foreignkey")
        batch.drop_column("transition_id")
