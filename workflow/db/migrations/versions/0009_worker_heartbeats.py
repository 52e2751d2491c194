"""worker heartbeats and claim owners: a dead worker's claims are taken over at once

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("outbox_effects") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("unsettled_attempt", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.drop_column("unsettled_attempt")
        batch.drop_column("claimed_by")
    op.drop_table("worker_heartbeats")
