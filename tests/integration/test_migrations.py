"""The shipped migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from tests.conftest import VALID_CPFS
from workflow.db import migrate
from workflow.db.engine import Database
from workflow.db.models import Base, BillingEvent, StatusChange
from workflow.db.radius_tables import RADIUS_TABLES
from workflow.usecases import customers


def test_migrations_match_the_models(db):
    assert migrate.is_up_to_date(db.engine)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: not (kind == "table" and name in RADIUS_TABLES),
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_twice_is_harmless(db):
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()


def test_0015_links_past_reactivations_to_their_transition_from_the_outcome_text(tmp_path):
    """Events recorded before billing_events.transition_id existed named the transition in their
    outcome: the migration fills the column from it, so the dashboard keeps their latencies."""
    database = Database(f"sqlite:///{tmp_path / 'ativa.db'}")
    migrate.upgrade(database.engine, "0014")
    with database.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Cliente 0", VALID_CPFS[0])).id
        change = StatusChange(
            customer_id=cid,
            customer_version=2,
            event="activate",
            from_status="inactive",
            to_status="active",
            reason="payment_received",
            actor="billing",
            source="billing",
        )
        session.add(change)
        session.flush()
        rows = [
            ("msg-1", f"invoice paid; customer reactivated (transition {change.id})"),
            ("msg-2", "invoice paid"),
            ("msg-3", "invoice paid; customer reactivated (transition 999999)"),  # no such transition
        ]
        for webhook_id, outcome in rows:
            session.execute(
                text(
                    "INSERT INTO billing_events (webhook_id, type, customer_id, invoice_external_id, outcome,"
                    " received_at) VALUES (:w, 'invoice.paid', :c, 'inv', :o, '2026-11-30 12:00:00')"
                ),
                {"w": webhook_id, "c": cid, "o": outcome},
            )
    migrate.upgrade(database.engine)
    with database.read() as session:
        linked = dict(session.execute(select(BillingEvent.webhook_id, BillingEvent.transition_id)).tuples().all())
    assert linked == {"msg-1": change.id, "msg-2": None, "msg-3": None}
    database.dispose()
