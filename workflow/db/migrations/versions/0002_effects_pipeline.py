"""effects pipeline: claims, retries, relay bookkeeping, scheduler lease

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.alter_column("transition_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("origin", sa.String(length=20), nullable=False, server_default="transition"))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_outbox_effects_service_id", "services", ["service_id"], ["id"])
        batch.create_index("ix_outbox_effects_state_next_attempt", ["state", "next_attempt_at"])
    with op.batch_alter_table("outbox_effects") as batch:
        batch.alter_column("origin", server_default=None)
    # Effects written before this revision are due now: without this the relay would never see them.
    op.execute("UPDATE outbox_effects SET next_attempt_at = created_at WHERE next_attempt_at IS NULL")
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    with op.batch_alter_table("outbox_effects") as batch:
        batch.drop_index("ix_outbox_effects_state_next_attempt")
        batch.drop_constraint("fk_outbox_effects_service_id", type_="foreignkey")
        for column in ("published_at", "claimed_until", "next_attempt_at", "note", "origin", "service_id"):
            batch.drop_column(column)
        batch.alter_column("transition_id", existing_type=sa.Integer(), nullable=False)
