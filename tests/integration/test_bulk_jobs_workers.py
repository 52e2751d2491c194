"""Bulk jobs run by real Celery workers (the embedded folder broker with SQLite, Redis with
PostgreSQL): the API queues the batches, the workers run them and the effects go out once; a
worker killed in the middle of a job leaves batches that are queued again (the timers' sweep of
stalled jobs) and the job ends with every customer changed exactly once."""

import signal

from sqlalchemy import func, select

from tests.conftest import cpf
from tests.support import lock_waiters, rows_locked, wait_for
from workflow.db.models import OutboxEffect, StatusChange
from workflow.usecases import customers

JOBS = "/api/v1/bulk-jobs"


def seed(stack, count: int) -> list[int]:
    ids = []
    for n in range(count):
        with stack.db.write() as session:
            ids.append(customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", cpf(n))).id)
    return ids


def start_job(stack, ids: list[int], batch_size: int) -> int:
    body = {"action": "inactivate", "reason": "contract_termination", "customers": ids, "batch_size": batch_size}
    created = stack.http.post(JOBS, json=body)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    started = stack.http.post(f"{JOBS}/{job_id}/run")
    assert started.status_code == 202, started.text
    return job_id


def finished(stack, job_id: int) -> dict | None:
    job = stack.http.get(f"{JOBS}/{job_id}").json()
    return job if job["state"] == "done" else None


def written_once(stack, job_id: int, ids: list[int]) -> None:
    """Every customer changed by the job once: one history row, three effects."""
    with stack.db.read() as session:
        changes = session.execute(
            select(StatusChange.customer_id, func.count())
            .where(StatusChange.bulk_job_id == job_id)
            .group_by(StatusChange.customer_id)
        ).all()
        effects = session.execute(
            select(OutboxEffect.customer_id, func.count())
            .where(OutboxEffect.customer_id.in_(ids))
            .group_by(OutboxEffect.customer_id)
        ).all()
    assert sorted(changes) == [(cid, 1) for cid in ids]
    assert sorted(effects) == [(cid, 3) for cid in ids]


def test_a_worker_runs_a_job_and_its_effects_go_out_once(stack_factory, receiver):
    stack = stack_factory()
    stack.start_worker()
    ids = seed(stack, 5)
    job_id = start_job(stack, ids, batch_size=2)

    job = wait_for(lambda: finished(stack, job_id), timeout=60, what="the bulk job")
    assert job["counts"]["done"] == 5 and job["progress"] == {"done": 5, "total": 5}
    written_once(stack, job_id, ids)
    for cid in ids:
        wait_for(lambda cid=cid: stack.settled(cid), what=f"the effects of customer {cid}")
    notified = [d.body["data"]["customer_id"] for d in receiver.accepted("/billing")]
    assert sorted(notified) == ids  # one customer.inactivated each, with the job's change


def test_a_worker_killed_mid_job_the_job_ends_with_nothing_twice(stack_factory):
    # Stalled batches are queued again after 10 s without progress; the timers look every second.
    stack = stack_factory(bulk_stall_seconds="10", timers_interval_seconds="1")
    ids = seed(stack, 60)
    if stack.db.is_sqlite:
        # One writer at a time: nothing to hold a batch with that would not hold the worker's start
        # too. The worker dies once the first batches are done, most likely in the middle of one.
        worker = stack.start_worker()
        job_id = start_job(stack, ids, batch_size=1)
        wait_for(lambda: stack.http.get(f"{JOBS}/{job_id}").json()["progress"]["done"], what="the first batches")
        worker.stop(signal.SIGKILL)
    else:
        job_id = start_job(stack, ids, batch_size=1)  # no worker yet: the batches wait in the broker
        with rows_locked(stack.db, ids[30:]):
            worker = stack.start_worker()
            # Both pool processes in a batch, each waiting for a row: in the middle of the job.
            wait_for(lambda: lock_waiters(stack.db) == 2, what="the worker's batches waiting for rows")
            assert stack.http.get(f"{JOBS}/{job_id}").json()["progress"]["done"] == 30
            worker.stop(signal.SIGKILL)  # main process and pool, batches taken and not finished
    stack.start_worker()

    job = wait_for(lambda: finished(stack, job_id), timeout=90, what="the job after the restart")
    assert job["counts"]["done"] == 60
    written_once(stack, job_id, ids)
