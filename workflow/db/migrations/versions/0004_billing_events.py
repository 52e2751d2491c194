"""billing events: inbound event log, invoices that may be paid before they are known

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invoice_external_id", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    op.create_index("ix_billing_events_customer_id", "billing_events", ["customer_id"])
    with op.batch_alter_table("invoices") as batch:
        batch.alter_column("amount", existing_type=sa.BigInteger(), nullable=True)
        batch.alter_column("due_date", existing_type=sa.Date(), nullable=True)
        batch.add_column(sa.Column("amount_paid", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("invoices") as batch:
        batch.alter_column("amount_paid", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("amount_paid")
        batch.alter_column("due_date", existing_type=sa.Date(), nullable=False)
        batch.alter_column("amount", existing_type=sa.BigInteger(), nullable=False)
    op.drop_index("ix_billing_events_customer_id", table_name="billing_events")
    op.drop_table("billing_events")
