"""relay backoff: an effect still waiting in a long queue is not re-queued every few seconds

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.add_column(sa.Column("relay_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("relay_after", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox_effects") as batch:
        batch.alter_column("relay_count", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox_effects") as batch:
        batch.drop_column("relay_after")
        batch.drop_column("relay_count")
