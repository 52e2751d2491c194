"""customers.forced_hold_until and status_changes.hold_until: a forced activation's hold

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("forced_hold_until", sa.Date(), nullable=True))
    with op.batch_alter_table("status_changes") as batch:
        batch.add_column(sa.Column("hold_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("status_changes") as batch:
        batch.drop_column("hold_until")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("forced_hold_until")
