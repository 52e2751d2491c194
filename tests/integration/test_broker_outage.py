"""A Redis broker that dies and comes back: workers ride the outage out, nothing is lost."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import redis as redis_client

from tests.pipeline import Stack, WebhookReceiver
from tests.support import PrivateRedis, Process, wait_for


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


def test_a_worker_rides_out_a_broker_killed_while_it_holds_unacknowledged_messages(
    postgres_url, pg_db, private_redis, receiver, tmp_path
):
    # Billing and provisioning answer 503 until the outage is over: the worker holds the retries,
    # due in a few seconds, as messages taken and not acknowledged.
    outage_over = threading.Event()
    receiver.behaviour = lambda path, n: 200 if outage_over.is_set() else 503
    stack = Stack(
        tmp_path,
        postgres_url,
        private_redis.url,
        receiver,
        effect_retry_base_seconds="3",
        effect_retry_max_seconds="6",
        effect_max_attempts="20",
    )
    scheduler = None
    try:
        worker = stack.start_worker(beat=False)  # standalone, as in production
        scheduler = Process(["beat"], stack.env, stack.tmp, stack.tmp / "beat.log")
        customers = [stack.customer(i) for i in range(5)]
        for round_ in range(4):
            for cid in customers:
                stack.move(
                    cid, *(("inactivate", "customer_request") if round_ % 2 == 0 else ("activate", "customer_return"))
                )
        wait_for(lambda: len(receiver.received) >= 10, what="calls answered 503, their retries held")
        private_redis.kill()  # no persistence: every queued and unacknowledged message is gone
        wait_for(lambda: "Connection to broker lost" in worker.log.read_text(), what="the worker to notice")
        time.sleep(2)
        private_redis.start()  # same port, empty
        outage_over.set()

        def settled(cid):
            assert worker.alive(), worker.log.read_text()[-4000:]  # it rode the outage out
            return stack.settled(cid)

        # The relay publishes what is still pending again; the worker reconnected and runs it.
        for cid in customers:
            effects = wait_for(lambda: settled(cid), timeout=45, what=f"customer {cid}'s effects")
            assert {e["state"] for e in effects} <= {"done", "skipped"}, effects
            assert effects[-1]["state"] == "done"  # the last activation's notification went out
        assert "Restoring" in worker.log.read_text()  # it did hold unacknowledged messages
    finally:
        stack.close()
        if scheduler is not None:
            scheduler.stop()


def test_a_worker_or_scheduler_that_stops_on_an_error_exits_non_zero(tmp_path, sqlite_template):
    """So that its supervisor (docker compose's restart policy, `ativa serve`) starts it again."""
    shutil.copy(sqlite_template, tmp_path / "ativa.db")
    # A broker URL Celery accepts at startup and fails on when it connects ("Unrecoverable error").
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'ativa.db'}", "redis://127.0.0.1:1/not-a-number")
    for command in (["worker", "--pool", "solo"], ["beat"]):
        process = Process(command, env, tmp_path, tmp_path / f"{command[0]}.log")
        assert process.popen.wait(60) == 1, process.log.read_text()[-3000:]


def _env(tmp_path: Path, database_url: str, broker_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "ATIVA_DATA_DIR": str(tmp_path / "var"),
            "ATIVA_DATABASE_URL": database_url,
            "ATIVA_BROKER_URL": broker_url,
            "ATIVA_RELAY_INTERVAL_SECONDS": "0.5",
            "ATIVA_SCHEDULER_LEASE_SECONDS": "3",
        }
    )
    return env


def test_beat_logs_a_broker_outage_in_one_line_per_failure_and_a_summary(tmp_path, sqlite_template, private_redis):
    shutil.copy(sqlite_template, tmp_path / "ativa.db")
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'ativa.db'}", private_redis.url)
    beat = Process(["beat"], env, tmp_path, tmp_path / "beat.log")
    try:
        queued = lambda: redis_client.Redis(port=private_redis.port).llen("ativa")  # noqa: E731
        wait_for(queued, what="the relay's first publish")
        private_redis.kill()
        wait_for(
            lambda: beat.log.read_text().count("could not publish the relay job") >= 3,
            what="failed publishes, one line each",
        )
        private_redis.start()  # empty: the next publish is the first one after the outage
        wait_for(lambda: "broker back after" in beat.log.read_text(), what="the summary")
        wait_for(queued, what="a publish after the outage")
    finally:
        beat.stop()
    log = beat.log.read_text()
    assert "Traceback" not in log
    failed = [line for line in log.splitlines() if "could not publish" in line]
    assert all("Connection refused" in line for line in failed)
    summaries = [line for line in log.splitlines() if "broker back after" in line]
    assert len(summaries) == 1 and summaries[0].endswith(f", {len(failed)} publishes failed")
