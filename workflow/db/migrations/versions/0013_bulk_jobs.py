"""Bulk jobs: bulk_jobs (what was asked, by whom, its state), bulk_job_items (one per customer:
the preview's answer and the run's outcome), status_changes.bulk_job_id (the job a change came from)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(200), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(200), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_bulk_jobs_state", "bulk_jobs", ["state"])
    op.create_table(
        "bulk_job_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("bulk_jobs.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("given", sa.String(200), nullable=True),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("preview", sa.String(20), nullable=False),
        sa.Column("preview_rule", sa.String(60), nullable=True),
        sa.Column("preview_detail", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(60), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("transition_id", sa.Integer(), sa.ForeignKey("status_changes.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("job_id", "customer_id", name="uq_bulk_job_items_customer"),
    )
    op.create_index("ix_bulk_job_items_outcome", "bulk_job_items", ["job_id", "outcome", "batch"])
    op.create_index("ix_bulk_job_items_position", "bulk_job_items", ["job_id", "position"])
    with op.batch_alter_table("status_changes") as batch:
        batch.add_column(sa.Column("bulk_job_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_status_changes_bulk_job", "bulk_jobs", ["bulk_job_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("status_changes") as batch:
        batch.drop_constraint("fk_status_changes_bulk_job", type_="foreignkey")
        batch.drop_column("bulk_job_id")
    op.drop_index("ix_bulk_job_items_position", table_name="bulk_job_items")
    op.drop_index("ix_bulk_job_items_outcome", table_name="bulk_job_items")
    op.drop_table("bulk_job_items")
    op.drop_index("ix_bulk_jobs_state", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
