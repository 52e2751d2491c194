"""customers: auto_block_exempt (the delinquency sweep skips them)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("auto_block_exempt", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("auto_block_exempt", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("auto_block_exempt")
