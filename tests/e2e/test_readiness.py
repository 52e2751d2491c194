"""GET /readyz: 200 while the pipeline works, 503 problem+json naming what is missing."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.e2e.api_support import metric_sample
from workflow.db.models import OutboxEffect, WorkerHeartbeat
from workflow.db.types import utcnow
from workflow.usecases import heartbeats, leases


def _ready(api):
    response = api.client.get("/readyz")  # no token: a probe has none
    if response.status_code == 503:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_ready"
    return response


def test_readyz_names_each_missing_part_and_is_200_when_all_run(api):
    response = _ready(api)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "no worker has sent a heartbeat" in detail and "no scheduler holds the lease" in detail
    assert response.json()["checks"]["database"] == "ok"
    assert api.client.get("/healthz").status_code == 200  # liveness: this process is fine

    heartbeats.beat(api.db, "host-a:1", heartbeats.MAIN)
    heartbeats.beat(api.db, "host-a:2", heartbeats.POOL)
    assert leases.acquire_or_renew(api.db, leases.SCHEDULER_LEASE, "host-a:3:x", 15)
    response = _ready(api)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["workers_alive"] == 1
    assert metric_sample(api.get("/metrics").text, "ativa_workers_alive") == 1

    # An effect due for longer than ATIVA_READY_MAX_RELAY_LAG_SECONDS (120 s): nobody runs effects.
    cid = api.new_customer(0)["id"]
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request"})
    assert _ready(api).status_code == 200  # due just now: the workers have it
    with api.db.write() as session:
        session.execute(update(OutboxEffect).values(next_attempt_at=utcnow() - timedelta(seconds=200)))
    response = _ready(api)
    assert response.status_code == 503
    assert "an effect has waited 200 s" in response.json()["detail"]
    assert "ATIVA_READY_MAX_RELAY_LAG_SECONDS" in response.json()["detail"]
    # Running (claimed) or parked for a later retry is not lag.
    with api.db.write() as session:
        session.execute(update(OutboxEffect).values(claimed_until=utcnow() + timedelta(seconds=60)))
    assert _ready(api).status_code == 200
    with api.db.write() as session:
        session.execute(update(OutboxEffect).values(claimed_until=None, next_attempt_at=utcnow() + timedelta(hours=2)))
    assert _ready(api).status_code == 200

    # The worker goes silent for three heartbeats (15 s by default).
    with api.db.write() as session:
        session.execute(update(WorkerHeartbeat).values(last_seen=utcnow() - timedelta(seconds=16)))
    response = _ready(api)
    assert (
        response.status_code == 503 and "no worker has sent a heartbeat in the last 15 s" in response.json()["detail"]
    )
    assert metric_sample(api.get("/metrics").text, "ativa_workers_alive") == 0


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    from workflow.application import create_app
    from workflow.db.engine import Database
    from workflow.settings import Settings

    url = f"sqlite:///{tmp_path}"  # a folder: no database can be opened there
    with TestClient(create_app(Settings(database_url=url), Database(url)), raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "the database is unreachable"
    assert response.json()["checks"]["database"] == "unreachable"
