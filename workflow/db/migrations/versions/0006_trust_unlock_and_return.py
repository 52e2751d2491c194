"""customers: trust unlock deadline and uses, scheduled return date, warned episode

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("trust_unlock_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("trust_unlocks_used", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("return_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("warned_for_due", sa.Date(), nullable=True))
        batch.create_index("ix_customers_trust_unlock_until", ["trust_unlock_until"])
        batch.create_index("ix_customers_return_on", ["return_on"])
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("trust_unlocks_used", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_return_on")
        batch.drop_index("ix_customers_trust_unlock_until")
        for column in ("warned_for_due", "return_on", "trust_unlocks_used", "trust_unlock_until"):
            batch.drop_column(column)
