"""What review found: secrets kept out of database error messages, FreeRADIUS's `nas` table
repaired by the reconciler, and a plan change racing a plan's deletion answered cleanly."""

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import SQLAlchemyError

from tests.conftest import VALID_CPFS
from workflow.db.models import Plan, Router
from workflow.db.radius_tables import nas
from workflow.db.types import utcnow
from workflow.domain.errors import InvalidInput
from workflow.settings import Settings
from workflow.usecases import customer_services, customers
from workflow.usecases.radius import enforcement
from workflow.usecases.radius.reconcile import reconcile_radius
from workflow.usecases.radius.rows import LoginRows, login_lock_key, write_logins

SETTINGS = Settings()
PASSWORD = "s3nh4-que-nao-aparece"
SECRET = "segredo-do-roteador-42"


def test_a_failed_statement_does_not_carry_the_passwords_it_was_given(pg_db):
    with pytest.raises(SQLAlchemyError) as failure, pg_db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE radcheck RENAME TO radcheck_away"))  # undone by the rollback
        write_logins(conn, [LoginRows("joao", PASSWORD, "ativa_plano_1")])
    assert "radcheck" in str(failure.value)  # the message still says what failed
    assert PASSWORD not in str(failure.value)
    assert failure.value.hide_parameters  # every engine hides them (logs and last_error show messages)


def _router(pg_db) -> None:
    now = utcnow()
    with pg_db.write() as session:
        session.add(
            Router(
                name="Concentrador",
                address="10.0.0.1",
                secret=SECRET,
                coa_port=3799,
                vendor="mikrotik",
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        enforcement.sync_configuration(session.connection(), SETTINGS)


def _nas_rows(pg_db) -> list[tuple]:
    with pg_db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(nas.c.nasname, nas.c.secret, nas.c.description))]


def test_the_reconciler_puts_back_a_router_deleted_from_freeradius(pg_db):
    _router(pg_db)
    assert _nas_rows(pg_db) == [("10.0.0.1", SECRET, "ativa")]
    assert not reconcile_radius(pg_db, SETTINGS).routers_rewritten  # nothing to do
    with pg_db.engine.begin() as conn:
        conn.execute(nas.delete())
        conn.execute(nas.insert().values(nasname="10.9.9.9", shortname="manual", secret="x" * 8, description="hand"))
    assert reconcile_radius(pg_db, SETTINGS).routers_rewritten
    assert sorted(_nas_rows(pg_db)) == [("10.0.0.1", SECRET, "ativa"), ("10.9.9.9", "x" * 8, "hand")]


def test_the_reconciler_repairs_a_changed_router_secret(pg_db):
    _router(pg_db)
    with pg_db.engine.begin() as conn:
        conn.execute(nas.update().values(secret="trocado-a-mao"))
    assert reconcile_radius(pg_db, SETTINGS).routers_rewritten
    assert _nas_rows(pg_db) == [("10.0.0.1", SECRET, "ativa")]


def test_a_plan_deleted_while_a_service_moves_to_it_is_a_clear_error(pg_db):
    now = utcnow()
    with pg_db.write() as session:
        first = Plan(name="A", name_key="a", download_kbps=100, upload_kbps=50, created_at=now, updated_at=now)
        second = Plan(name="B", name_key="b", download_kbps=200, upload_kbps=50, created_at=now, updated_at=now)
        session.add_all([first, second])
        session.flush()
        first_id, second_id = first.id, second.id
        customer = customers.create_customer(session, customers.CustomerDraft("Ana", VALID_CPFS[0]))
        service = customer_services.add_service(
            session, customer.id, "Internet", access=customer_services.Access("ana", PASSWORD, first_id)
        )
        service_id = service.id
    with pg_db.write() as session:

        @event.listens_for(session, "before_flush", once=True)
        def delete_the_plan(*_):  # checked as usable, then deleted by an admin before the write
            with pg_db.engine.begin() as other:
                other.execute(text("DELETE FROM plans WHERE id = :id"), {"id": second_id})

        with pytest.raises(InvalidInput, match="does not exist"):
            customer_services.update_service(session, service_id, plan_id=second_id)


def test_write_logins_locks_the_logins_its_caller_has_not_locked_already(pg_db):
    """services_changed_many locks the logins to read their facts, then writes them: write_logins
    skips those locks (`locked`), but still takes the lock of any other login it writes."""

    def free(key: str) -> bool:  # asked from another connection: nobody holds the login's lock
        with pg_db.engine.begin() as other:
            return other.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})

    with pg_db.engine.begin() as conn:
        write_logins(
            conn,
            [LoginRows("Ana", PASSWORD, "ativa_plano_1"), LoginRows("bia", PASSWORD, "ativa_plano_1")],
            locked=["ana"],
        )
        assert free(login_lock_key("Ana"))  # the caller said it held it: not taken again here
        assert not free(login_lock_key("bia"))
        conn.rollback()
