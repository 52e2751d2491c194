"""Effects end to end with real processes: an API server, Celery workers, a broker (Redis, or the
embedded folder broker), a database, and a loopback HTTP server as billing and provisioning."""

import os
import signal
import subprocess
import time
from datetime import UTC

import pytest
import redis as redis_client
from sqlalchemy import select, text

from tests.support import PrivateRedis, Process, pid_with_connection_from, wait_for
from workflow.db.models import OutboxEffect


@pytest.mark.parametrize("stack_factory", ["embedded-sqlite", "redis-postgresql", "rabbitmq-postgresql"], indirect=True)
def test_transitions_lead_to_services_invoicing_and_signed_webhooks(stack_factory, receiver):
    stack = stack_factory()
    stack.start_worker()
    cid = stack.customer(0, external_ref="IXC-7")
    fiber = stack.service(cid, "Fibra 500M", "svc-fiber")
    manual = stack.service(cid, "IPTV", "svc-tv")
    stack.http.post(f"/api/v1/services/{manual}/suspend", json={"reason": "box returned"})

    inactivation = stack.move(cid, "inactivate", "customer_request")
    wait_for(lambda: stack.settled(cid), what="inactivation effects")
    services = {s["id"]: s for s in stack.http.get(f"/api/v1/customers/{cid}/services").json()["items"]}
    assert (services[fiber]["status"], services[fiber]["suspension_cause"]) == ("suspended", "customer_inactive")
    assert services[manual]["suspension_cause"] == "manual"
    assert stack.http.get(f"/api/v1/customers/{cid}").json()["invoicing_enabled"] is False

    activation = stack.move(cid, "activate", "customer_return")
    wait_for(lambda: stack.settled(cid) and len(receiver.at("/billing")) == 2, what="activation effects")
    services = {s["id"]: s for s in stack.http.get(f"/api/v1/customers/{cid}/services").json()["items"]}
    assert services[fiber]["status"] == "active"
    assert services[manual]["status"] == "suspended"  # its own cause: not restored by activation
    assert stack.http.get(f"/api/v1/customers/{cid}").json()["invoicing_enabled"] is True

    billing = receiver.at("/billing")
    assert [b.body["type"] for b in billing] == ["customer.inactivated", "customer.activated"]
    assert all(b.verified for b in billing)
    assert [b.body["data"]["transition_id"] for b in billing] == [inactivation["id"], activation["id"]]
    assert billing[0].body["data"] == {
        "customer_id": cid,
        "external_ref": "IXC-7",
        "status": "inactive",
        "reason": "customer_request",
        "transition_id": inactivation["id"],
    }
    provisioning = receiver.at("/provisioning")
    assert [(p.body["type"], p.body["data"]["external_ref"]) for p in provisioning] == [
        ("service.suspended", "svc-fiber"),
        ("service.restored", "svc-fiber"),
    ]
    assert all(p.verified for p in provisioning)
    # Each effect was delivered under exactly one webhook-id, its own.
    effects = stack.effects(cid)
    delivered = {e["id"] for e in effects if e["name"] in ("notify_billing", "provision_suspend", "provision_restore")}
    ids = [r.webhook_id for r in receiver.received]
    assert sorted(ids) == sorted(f"effect_{i}" for i in delivered)
    assert all(e["state"] == "done" and e["attempts"] == 1 and e["completed_at"] for e in effects)

    history = stack.history(cid)  # provisioning calls are listed with the transition that caused them
    assert [sorted(e["name"] for e in t["effects"]) for t in history] == [
        ["notify_billing", "provision_restore", "restore_services", "resume_invoicing"],
        ["notify_billing", "pause_invoicing", "provision_suspend", "suspend_services"],
    ]
    assert all(e["state"] == "done" for t in history for e in t["effects"])
    assert [p.body["sequence"] for p in provisioning] == sorted(p.body["sequence"] for p in provisioning)
    assert [b.body["sequence"] for b in billing] == [inactivation["customer_version"], activation["customer_version"]]


def test_billing_failing_three_times_then_succeeding(stack_factory, receiver):
    receiver.behaviour = lambda path, n: 503 if path.startswith("/billing") and n <= 3 else 200
    stack = stack_factory()
    stack.start_worker()
    cid = stack.customer(1)
    stack.move(cid, "inactivate", "contract_termination")
    effects = wait_for(lambda: stack.settled(cid), what="the billing effect to settle")
    notify = next(e for e in effects if e["name"] == "notify_billing")
    assert (notify["state"], notify["attempts"]) == ("done", 4)
    assert notify["last_error"] and "503" in notify["last_error"]
    deliveries = receiver.at("/billing")
    assert len(deliveries) == 4
    assert {d.webhook_id for d in deliveries} == {f"effect_{notify['id']}"}


def test_an_effect_that_keeps_failing_is_failed_then_retried_by_an_admin(stack_factory, receiver):
    receiver.behaviour = lambda path, n: 500
    stack = stack_factory(effect_max_attempts="2")
    stack.start_worker()
    cid = stack.customer(2)
    stack.move(cid, "inactivate", "customer_request")
    effects = wait_for(lambda: stack.settled(cid), what="the failure to be recorded")
    notify = next(e for e in effects if e["name"] == "notify_billing")
    assert (notify["state"], notify["attempts"]) == ("failed", 2)
    assert "gave up after 2 attempt(s)" in notify["last_error"] and "HTTP 500" in notify["last_error"]
    failed = stack.http.get("/api/v1/effects", params={"state": "failed"}).json()["items"]
    assert [e["id"] for e in failed] == [notify["id"]]

    receiver.behaviour = lambda path, n: 200
    retried = stack.http.post(f"/api/v1/effects/{notify['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    wait_for(lambda: stack.settled(cid), what="the retried effect")
    notify = next(e for e in stack.effects(cid) if e["name"] == "notify_billing")
    assert (notify["state"], notify["attempts"]) == ("done", 1)
    again = stack.http.post(f"/api/v1/effects/{notify['id']}/retry")
    assert again.status_code == 409 and again.json()["code"] == "transition_not_allowed"


@pytest.mark.parametrize("victim", ["whole worker", "pool processes"])
def test_a_worker_killed_mid_effect_finishes_it_after_a_restart_once(stack_factory, receiver, victim):
    receiver.behaviour = lambda path, n: "hang" if path.startswith("/billing") and n == 1 else 200
    # A claim far longer than the wait below: the dead worker's claim is taken over as soon as
    # it is known dead (its pid gone, or its heartbeat silent), not when the claim ends.
    stack = stack_factory(effect_claim_seconds="300", webhook_timeout_seconds="0.5")
    worker = stack.start_worker()
    cid = stack.customer(3)
    stack.move(cid, "inactivate", "customer_request")
    assert receiver.hanging.wait(30), "the billing call never started"
    if victim == "whole worker":
        worker.stop(signal.SIGKILL)  # main process and pool, mid-call
        stack.start_worker()
    else:
        # Only the pool process making the call dies: the main process replaces it and, with
        # task_reject_on_worker_lost, the message comes back; the claim lapses, then it runs again.
        children = subprocess.run(["pgrep", "-P", str(worker.popen.pid)], capture_output=True, text=True)
        busy = pid_with_connection_from(receiver.hanging_client_port, [int(p) for p in children.stdout.split()])
        assert busy, "no pool process holds the billing call"
        os.kill(busy, signal.SIGKILL)
        assert worker.alive()
    receiver.release.set()

    effects = wait_for(lambda: stack.settled(cid), timeout=45, what="the effect after the restart")
    notify = next(e for e in effects if e["name"] == "notify_billing")
    assert (notify["state"], notify["attempts"]) == ("done", 2)
    deliveries = receiver.at("/billing")
    # The cut call and the completed one carry the same id: the receiver applies it once.
    assert [d.webhook_id for d in deliveries] == [f"effect_{notify['id']}"] * 2
    assert all(e["state"] == "done" for e in effects)


def test_a_call_cut_off_by_a_dead_worker_is_recorded_as_maybe_delivered(stack_factory, receiver):
    hung = []

    def hang_the_first_billing_call(path, n):
        if path.startswith("/billing") and not hung:
            hung.append(path)
            return "hang"
        return 200

    receiver.behaviour = hang_the_first_billing_call
    stack = stack_factory(effect_claim_seconds="300", webhook_timeout_seconds="0.5")
    worker = stack.start_worker()
    cid = stack.customer(4)
    first = stack.move(cid, "inactivate", "customer_request")
    assert receiver.hanging.wait(30), "the billing call never started"
    latest = stack.move(cid, "activate", "customer_return")  # the hanging call is superseded now
    wait_for(
        lambda: any(r.body["data"]["transition_id"] == latest["id"] for r in receiver.accepted("/billing")),
        what="the newer notification, on the other pool process",
    )
    # The pool process dies after its call reached billing, before recording it.
    children = subprocess.run(["pgrep", "-P", str(worker.popen.pid)], capture_output=True, text=True)
    busy = pid_with_connection_from(receiver.hanging_client_port, [int(p) for p in children.stdout.split()])
    assert busy, "no pool process holds the billing call"
    os.kill(busy, signal.SIGKILL)
    receiver.release.set()

    effects = wait_for(lambda: stack.settled(cid), timeout=60, what="the cut-off call's retry")
    cut = next(e for e in effects if e["name"] == "notify_billing" and e["transition_id"] == first["id"])
    assert (cut["state"], cut["attempts"]) == ("skipped", 2)
    assert cut["note"].startswith("may have been delivered by attempt 1"), cut["note"]
    history = {t["id"]: t for t in stack.history(cid)}
    noted = next(e for e in history[first["id"]]["effects"] if e["name"] == "notify_billing")
    assert "may have been delivered by attempt 1" in noted["note"]


def test_billing_down_past_the_old_retry_window_loses_nothing(stack_factory, receiver):
    # These tests' old backoff (8 attempts, 0.2 s doubling to 1 s, jittered) gave up within
    # 5.4 s. Billing is down for 8 s here; the schedule spreads 5 attempts over about 15 s, the
    # way the default spreads 8 over a day.
    up_at = [float("inf")]
    receiver.behaviour = lambda path, n: 503 if path.startswith("/billing") and time.monotonic() < up_at[0] else 200
    stack = stack_factory(effect_retry_schedule="0,1s,2s,4s,8s")
    stack.start_worker()
    moves = {
        stack.customer(0): ["inactivate", "activate", "inactivate"],
        stack.customer(1): ["inactivate"],
        stack.customer(2): ["inactivate", "activate"],
    }
    wait_for(lambda: stack.http.get("/readyz").status_code == 200, what="worker and scheduler ready")
    up_at[0] = time.monotonic() + 8
    for cid, events in moves.items():
        for event in events:  # every request answered 200 (Stack.move asserts it): no 5xx
            stack.move(cid, event, "customer_request" if event == "inactivate" else "customer_return")
    wait_for(lambda: any(r.answer == 503 for r in receiver.at("/billing")), what="billing refusing calls")
    ready = stack.http.get("/readyz")  # a receiver's outage is not the pipeline's
    assert ready.status_code == 200, ready.text

    wait_for(lambda: all(stack.settled(cid) for cid in moves), timeout=60, what="every effect settled")
    assert time.monotonic() >= up_at[0]
    for cid in moves:
        effects = stack.effects(cid)
        assert {e["state"] for e in effects} <= {"done", "skipped"}, effects  # none failed, none lost
        latest = stack.history(cid)[0]
        notify = next(e for e in latest["effects"] if e["name"] == "notify_billing")
        assert notify["state"] == "done" and notify["attempts"] >= 2 and "503" in notify["last_error"]
        customer = stack.http.get(f"/api/v1/customers/{cid}").json()
        applied = max(
            (r for r in receiver.accepted("/billing") if r.body["data"]["customer_id"] == cid),
            key=lambda r: r.body["sequence"],
        )
        assert (applied.body["data"]["status"], applied.body["sequence"]) == (customer["status"], customer["version"])
    ids = [r.webhook_id for r in receiver.accepted("/billing")]
    assert len(ids) == len(set(ids))


def test_billing_learns_the_latest_status_after_the_attempts_ran_out(stack_factory, receiver):
    down = [True]
    receiver.behaviour = lambda path, n: 503 if path.startswith("/billing") and down[0] else 200
    stack = stack_factory(effect_retry_schedule="0,0.2s", reconcile_interval_seconds="1")
    stack.start_worker()
    cid = stack.customer(3)
    stack.move(cid, "inactivate", "customer_request")
    latest = stack.move(cid, "activate", "customer_return")

    def latest_notification_failed():
        return any(
            e["name"] == "notify_billing" and e["transition_id"] == latest["id"] and e["state"] == "failed"
            for e in stack.effects(cid)
        )

    wait_for(latest_notification_failed, what="the latest notification to run out of attempts")
    down[0] = False
    wait_for(
        lambda: (
            stack.settled(cid)
            and any(r.body["data"]["transition_id"] == latest["id"] for r in receiver.accepted("/billing"))
        ),
        timeout=30,
        what="the reconciler's notification",
    )
    applied = max(receiver.accepted("/billing"), key=lambda r: r.body["sequence"])
    assert (applied.body["data"]["status"], applied.body["sequence"]) == ("active", latest["customer_version"])
    again = [e for e in stack.effects(cid) if e["origin"] == "reconciler"]
    assert again and {e["name"] for e in again} == {"notify_billing"}
    assert [e["state"] for e in again][-1] == "done"
    assert {e["transition_id"] for e in again} == {latest["id"]}  # never the older transition's


def test_a_stale_effect_never_undoes_a_newer_transition(stack_factory, receiver):
    stack = stack_factory()
    cid = stack.customer(4)
    fiber = stack.service(cid, "Fibra", "svc-stale")
    old = stack.move(cid, "inactivate", "customer_request")
    new = stack.move(cid, "activate", "customer_return")
    # No worker ran yet: deliver the newer transition's effects first, the older ones after.
    from workers.connectors import webhooks
    from workflow.settings import Settings
    from workflow.usecases import effects as effect_service

    settings = Settings(
        _env_file=None, **{k.removeprefix("ATIVA_").lower(): v for k, v in stack.env.items() if k.startswith("ATIVA_")}
    )
    run = lambda effect_id: effect_service.carry_out_effect(  # noqa: E731
        stack.db, effect_id, settings, lambda d: webhooks.deliver(d, settings)
    )
    for effect in new["effects"]:
        assert run(effect["id"]).state in ("done", "skipped")
    for effect in old["effects"]:
        assert run(effect["id"]).state == "skipped"
    effects = {e["id"]: e for e in stack.effects(cid)}
    assert all("superseded" in effects[e["id"]]["note"] for e in old["effects"])
    service = stack.http.get(f"/api/v1/customers/{cid}/services").json()["items"][0]
    assert (service["id"], service["status"]) == (fiber, "active")
    assert stack.http.get(f"/api/v1/customers/{cid}").json()["invoicing_enabled"] is True
    assert [r.body["type"] for r in receiver.at("/billing")] == ["customer.activated"]


def test_the_reconciler_repairs_drift(stack_factory, receiver):
    stack = stack_factory()
    stack.start_worker()
    cid = stack.customer(0)
    sid = stack.service(cid, "Fibra", "svc-drift")
    stack.move(cid, "inactivate", "customer_request")
    wait_for(lambda: stack.settled(cid), what="inactivation")
    # Someone flips the service and invoicing back by hand, behind Ativa's back.
    with stack.db.write() as session:
        session.execute(text("UPDATE services SET status='active', suspension_cause=NULL WHERE id=:id"), {"id": sid})
        session.execute(text("UPDATE customers SET invoicing_enabled=:t WHERE id=:id"), {"id": cid, "t": True})
    from workflow.usecases import effects as effect_service

    created = effect_service.reconcile(stack.db)  # what the scheduled job runs
    assert len(created) == 2
    effects = wait_for(lambda: stack.settled(cid), what="repair effects")
    repairs = [e for e in effects if e["origin"] == "reconciler"]
    assert sorted(e["name"] for e in repairs) == ["pause_invoicing", "suspend_services"]
    assert all(e["state"] == "done" for e in repairs)
    service = stack.http.get(f"/api/v1/customers/{cid}/services").json()["items"][0]
    assert (service["status"], service["suspension_cause"]) == ("suspended", "customer_inactive")
    assert effect_service.reconcile(stack.db) == []  # converged: nothing more to do


@pytest.mark.parametrize("stack_factory", ["redis-postgresql"], indirect=True)
def test_broker_down_while_200_transitions_are_saved(stack_factory, receiver, tmp_path):
    redis = PrivateRedis(tmp_path / "redis").start()
    try:
        stack = stack_factory(broker_url=redis.url)
        stack.start_worker()
        customers = [stack.customer(i) for i in range(5)]
        redis.stop()

        saved = 0
        for round_ in range(40):  # 200 transitions, all committed while the broker is down
            for cid in customers:
                stack.move(
                    cid,
                    "inactivate" if round_ % 2 == 0 else "activate",
                    "customer_request" if round_ % 2 == 0 else "customer_return",
                )
                saved += 1
        assert saved == 200
        with stack.db.read() as session:
            pending = session.scalars(select(OutboxEffect.state)).all()
        assert len(pending) == 600 and set(pending) == {"pending"}  # nothing ran without a broker

        redis.start()
        wait_for(lambda: all(stack.settled(cid) for cid in customers), timeout=90, what="all effects")
        with stack.db.read() as session:
            states = session.scalars(select(OutboxEffect.state)).all()
        assert len(states) == 600 and set(states) <= {"done", "skipped"}
        # The last transition of each customer was an activation: its notification went out, once.
        for cid in customers:
            assert stack.history(cid)[0]["effects"][-1]["state"] == "done"
        ids = [r.webhook_id for r in receiver.at("/billing")]
        assert len(ids) == len(set(ids)) >= 5
    finally:
        if redis.process.poll() is None:
            redis.stop()


def test_lost_messages_are_published_again_by_the_relay(stack_factory, receiver, tmp_path):
    stack = stack_factory()
    cid = stack.customer(1)
    stack.move(cid, "inactivate", "customer_request")  # published to the broker, no worker yet
    # The broker loses every message (a crash of the embedded broker, a flushed Redis).
    if stack_factory.kind == "embedded-sqlite":
        queue = tmp_path / "var" / "broker" / "queue"
        lost = list(queue.glob("*"))
        for path in lost:
            path.unlink()
    else:
        client = redis_client.Redis.from_url(stack.env["ATIVA_BROKER_URL"])
        lost = [None] * client.llen("ativa")  # the queued effects messages (task workers.tasks.run_effects)
        client.flushdb()
    assert lost, "the fast path published nothing"
    stack.start_worker(beat=True)  # the relay runs under the scheduler
    effects = wait_for(lambda: stack.settled(cid), timeout=30, what="the relay to republish")
    assert all(e["state"] == "done" for e in effects)
    assert len(receiver.at("/billing")) == 1


@pytest.mark.parametrize("stack_factory", ["embedded-sqlite"], indirect=True)
def test_two_schedulers_one_lease_and_a_takeover(stack_factory):
    from workflow.db.models import SchedulerLease

    stack = stack_factory()
    beats = [Process(["beat"], stack.env, stack.tmp, stack.tmp / f"beat{i}.log") for i in range(2)]
    try:

        def holder():
            with stack.db.read() as session:
                lease = session.get(SchedulerLease, "beat")
                return lease.holder if lease else None

        first = wait_for(holder, what="a scheduler to take the lease")
        holder_pid = int(first.split(":")[1])
        assert holder_pid in {b.popen.pid for b in beats}
        time.sleep(2)
        assert holder() == first  # the other one keeps waiting
        next(b for b in beats if b.popen.pid == holder_pid).stop(signal.SIGKILL)
        second = wait_for(lambda: (h := holder()) and h != first and h, timeout=20, what="a takeover")
        assert int(second.split(":")[1]) in {b.popen.pid for b in beats} - {holder_pid}
    finally:
        for b in beats:
            b.stop()


def test_a_payment_event_restores_services_through_the_workers(stack_factory, receiver):
    import json as _json
    from datetime import datetime

    from standardwebhooks import Webhook

    from tests.conftest import add_invoice
    from tests.pipeline import BILLING_SECRET
    from workflow.db.models import Invoice

    stack = stack_factory(billing_inbound_secret=BILLING_SECRET)
    stack.start_worker()
    cid = stack.customer(2)
    stack.service(cid, "Fibra", "svc-pay")
    invoice_id = add_invoice(stack.db, cid, days_overdue=30, amount="120.00")
    with stack.db.read() as session:
        external = session.get(Invoice, invoice_id).external_id
    stack.move(cid, "inactivate", "delinquency")
    wait_for(lambda: stack.settled(cid), what="the suspension")

    body = _json.dumps({"type": "invoice.paid", "data": {"invoice_id": external, "customer_id": cid}})
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "pay-42",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(BILLING_SECRET).sign("pay-42", now, body),
        "content-type": "application/json",
    }
    response = stack.http.post("/api/v1/billing/events", content=body, headers=headers)
    assert response.status_code == 202 and response.json()["reactivated"] is True
    wait_for(lambda: stack.settled(cid), what="the restoration")
    service = stack.http.get(f"/api/v1/customers/{cid}/services").json()["items"][0]
    assert (service["status"], service["suspension_cause"]) == ("active", None)
    latest = stack.history(cid)[0]
    assert (latest["reason"], latest["source"]) == ("payment_received", "billing")
    assert [r.body["type"] for r in receiver.at("/provisioning")][-1] == "service.restored"


def test_the_sweep_runs_on_the_workers(stack_factory, receiver):
    from datetime import timedelta

    from tests.conftest import add_invoice
    from workflow.usecases.business_day import provider_today

    stack = stack_factory(no_cut_weekdays="", grace_days="10")
    stack.start_worker()
    due = [stack.customer(n) for n in range(3)]
    for cid in due:
        add_invoice(stack.db, cid, days_overdue=20, amount="99.90")
    import holidays

    today = provider_today("America/Sao_Paulo")
    while holidays.country_holidays("BR").get(today):
        today += timedelta(days=1)  # the run below must fall on a cut day
    run = stack.http.post("/api/v1/delinquency/run", json={"as_of": today.isoformat()})
    assert run.status_code == 202 and run.json()["candidates"] == 3
    wait_for(
        lambda: (
            all(stack.http.get(f"/api/v1/customers/{cid}").json()["status"] == "inactive" for cid in due)
            and all(stack.settled(cid) for cid in due)
        ),
        what="the sweep batches",
        timeout=60,
    )
    for cid in due:
        latest = stack.history(cid)[0]
        assert (latest["reason"], latest["source"]) == ("delinquency", "scheduler")
    assert sorted(r.body["data"]["customer_id"] for r in receiver.at("/billing")) == sorted(due)


def test_trust_unlock_expiry_and_warnings_run_on_the_scheduler(stack_factory, receiver):
    from datetime import datetime, timedelta

    from sqlalchemy import update as sql_update

    from tests.conftest import add_invoice
    from workflow.db.models import Customer, Invoice

    stack = stack_factory(timers_interval_seconds="1", no_cut_weekdays="", warning_days="30")
    stack.start_worker(beat=True)
    unpaid, paid = stack.customer(0), stack.customer(1)
    for cid in (unpaid, paid):
        add_invoice(stack.db, cid, days_overdue=20)
        stack.move(cid, "inactivate", "delinquency")
        response = stack.http.post(f"/api/v1/customers/{cid}/activate", json={"reason": "trust_unlock", "days": 1})
        assert response.status_code == 200, response.text
    with stack.db.write() as session:
        session.execute(sql_update(Invoice).where(Invoice.customer_id == paid).values(status="paid"))
        session.execute(sql_update(Customer).values(trust_unlock_until=datetime.now(UTC) - timedelta(seconds=1)))

    def status(cid):
        return stack.http.get(f"/api/v1/customers/{cid}").json()

    wait_for(
        lambda: status(unpaid)["status"] == "inactive" and status(paid)["trust_unlock_until"] is None,
        timeout=30,
        what="the timers job",
    )
    assert (status(paid)["status"], status(paid)["trust_unlocks_used"]) == ("active", 0)
    latest = stack.history(unpaid)[0]
    assert (latest["reason"], latest["source"]) == ("delinquency", "scheduler")

    # A customer heading for a cut gets the warning through the billing webhook, once.
    heading = stack.customer(2)
    add_invoice(stack.db, heading, days_overdue=3)
    from workflow.settings import Settings
    from workflow.usecases import delinquency, timers
    from workflow.usecases.business_day import provider_today

    settings = Settings(no_cut_weekdays="", warning_days=30)
    assert timers.queue_warnings(stack.db, delinquency.policy_from(settings), provider_today(), 30) == [heading]
    wait_for(
        lambda: any(r.body["type"] == "customer.delinquency_warning" for r in receiver.at("/billing")),
        what="the warning webhook",
    )
    warning = next(r for r in receiver.at("/billing") if r.body["type"] == "customer.delinquency_warning")
    assert warning.verified and warning.body["data"]["customer_id"] == heading
    assert warning.body["data"]["overdue_invoices"] == 1
