"""RADIUS enforcement: plans, routers, a service's login/password/plan, the CoA/Disconnect log

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False, unique=True),
        sa.Column("download_kbps", sa.Integer(), nullable=False),
        sa.Column("upload_kbps", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "routers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("address", sa.String(45), nullable=False, unique=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("coa_port", sa.Integer(), nullable=False),
        sa.Column("vendor", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("login", sa.String(64), nullable=True))
        batch.add_column(sa.Column("login_key", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_services_login_key", ["login_key"])
        batch.add_column(sa.Column("radius_password", sa.String(128), nullable=True))
        batch.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_services_plan_id_plans", "plans", ["plan_id"], ["id"])
    op.create_index("ix_services_plan_id", "services", ["plan_id"])
    op.create_table(
        "radius_packets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("effect_id", sa.Integer(), sa.ForeignKey("outbox_effects.id"), nullable=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("service_id", sa.Integer(), sa.ForeignKey("services.id"), nullable=True),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("router_address", sa.String(45), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("acct_session_id", sa.String(255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_radius_packets_effect_id", "radius_packets", ["effect_id"])
    op.create_index("ix_radius_packets_customer_id", "radius_packets", ["customer_id"])
    op.create_index("ix_radius_packets_service_id", "radius_packets", ["service_id", "id"])


def downgrade() -> None:
    op.drop_table("radius_packets")
    op.drop_index("ix_services_plan_id", "services")
    with op.batch_alter_table("services") as batch:
        batch.drop_constraint("fk_services_plan_id_plans", type_="foreignkey")
        batch.drop_column("plan_id")
        batch.drop_column("radius_password")
        batch.drop_constraint("uq_services_login_key", type_="unique")
        batch.drop_column("login_key")
        batch.drop_column("login")
    op.drop_table("routers")
    op.drop_table("plans")
