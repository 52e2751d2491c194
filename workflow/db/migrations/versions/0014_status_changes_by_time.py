"""status_changes indexed by time: the dashboard's charts read the last days of it

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
# 0013 (bulk jobs) is written on another branch at the same time: whoever merges second points
# this at the other's revision.
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_status_changes_created_at", "status_changes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_status_changes_created_at", table_name="status_changes")
