"""The sweep run that the API and the UI start hands its batches to the workers through the
use-case layer's port (usecases/sweep_dispatch.py), on SQLite and PostgreSQL."""

from datetime import date
from decimal import Decimal

import holidays
import pytest
from sqlalchemy import select

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.models import Customer, OutboxEffect
from workflow.domain.delinquency import Policy, parse_weekdays
from workflow.usecases import customers, delinquency, effect_bus, sweep_dispatch

TUESDAY = date(2026, 12, 1)
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), holidays.country_holidays("BR").get)


def due_customers(db, count: int) -> list[int]:
    ids = []
    for n in range(count):
        with db.write() as session:
            ids.append(customers.create_customer(session, customers.CustomerDraft(f"Devedor {n}", VALID_CPFS[n])).id)
        add_invoice(db, ids[-1], days_overdue=30, amount="99.90", today=TUESDAY)
    return ids


def test_a_dispatched_run_hands_every_batch_to_the_workers_and_cuts_nothing_here(db, monkeypatch):
    handed = []
    monkeypatch.setattr(sweep_dispatch, "_dispatcher", lambda ids, as_of: handed.append((ids, as_of)))
    ids = due_customers(db, 5)

    run = delinquency.dispatch_sweep(db, POLICY, TUESDAY, batch_size=2)

    assert (run.candidates, run.batches, run.inactivated) == (5, 3, [])
    assert handed == [(ids[0:2], TUESDAY), (ids[2:4], TUESDAY), (ids[4:], TUESDAY)]
    with db.read() as session:
        assert set(session.scalars(select(Customer.status))) == {"active"}
        assert session.scalar(select(OutboxEffect.id)) is None


def test_without_workers_connected_the_run_is_refused_before_anything_is_queued(db, monkeypatch):
    monkeypatch.setattr(sweep_dispatch, "_dispatcher", None)
    due_customers(db, 1)
    with pytest.raises(sweep_dispatch.NoDispatcher, match="connect the workers"):
        delinquency.dispatch_sweep(db, POLICY, TUESDAY, batch_size=2)


def test_connecting_the_workers_installs_celery_behind_both_ports(monkeypatch):
    from workers import app as celery_side
    from workflow.application import connect_workers

    monkeypatch.setattr(sweep_dispatch, "_dispatcher", None)
    monkeypatch.setattr(effect_bus, "_publisher", None)
    connect_workers()
    assert sweep_dispatch.installed_dispatcher() is celery_side.dispatch_sweep_batch
    assert effect_bus._publisher is celery_side.publish_effects
