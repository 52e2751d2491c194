"""The collection ladder: customers.delinquency_stage and notice_snoozed_until,
status_changes.delinquency_stage

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("delinquency_stage", sa.String(20), nullable=False, server_default="none"))
        batch.add_column(sa.Column("notice_snoozed_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("status_changes") as batch:
        batch.add_column(sa.Column("delinquency_stage", sa.String(20), nullable=True))
    # The ladder's jobs look for the few customers on a step, or with a snooze to end.
    op.create_index(
        "ix_customers_ladder",
        "customers",
        ["delinquency_stage"],
        postgresql_where=sa.text("delinquency_stage <> 'none'"),
        sqlite_where=sa.text("delinquency_stage <> 'none'"),
    )


def downgrade() -> None:
    op.drop_index("ix_customers_ladder", table_name="customers")
    with op.batch_alter_table("status_changes") as batch:
        batch.drop_column("delinquency_stage")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("notice_snoozed_until")
        batch.drop_column("delinquency_stage")
