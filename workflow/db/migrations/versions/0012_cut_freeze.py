"""The freeze of automatic cuts: cut_freeze (one row) and freeze_changes (history and alerts);
billing_events indexed by type and time for the payment-silence rule

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    freeze = op.create_table(
        "cut_freeze",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("source", sa.String(20), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
    )
    op.bulk_insert(freeze, [{"id": 1, "frozen": False}])
    op.create_table(
        "freeze_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_state", sa.String(20), nullable=False),
        sa.Column("alert_attempts", sa.Integer(), nullable=False),
        sa.Column("alert_error", sa.Text(), nullable=True),
        sa.Column("next_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_freeze_changes_alert", "freeze_changes", ["alert_state", "next_alert_at"])
    # Built without blocking the billing events that keep arriving during the upgrade (PostgreSQL).
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_billing_events_type_received_at",
            "billing_events",
            ["type", "received_at"],
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("ix_billing_events_type_received_at", table_name="billing_events")
    op.drop_index("ix_freeze_changes_alert", table_name="freeze_changes")
    op.drop_table("freeze_changes")
    op.drop_table("cut_freeze")
