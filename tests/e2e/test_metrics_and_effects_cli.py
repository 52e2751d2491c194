"""/metrics, the effects endpoints' roles, and `ativa effects` / `ativa history` on both databases."""

import json
from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from tests.conftest import VALID_CPFS
from tests.e2e.api_support import metric_sample
from workflow.cli import app
from workflow.db.models import OutboxEffect
from workflow.db.types import utcnow
from workflow.domain.vocabulary import Role
from workflow.settings import get_settings


def test_metrics_report_transitions_effects_latency_and_relay_lag(api):
    cid = api.new_customer(0)["id"]
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request"})
    api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "customer_return"})
    # One effect done 2 s after its creation; one due 30 s ago and still pending.
    with api.db.write() as session:
        ids = session.query(OutboxEffect.id).order_by(OutboxEffect.id).all()
        now = utcnow()
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == ids[0][0])
            .values(state="done", created_at=now - timedelta(seconds=2), completed_at=now)
        )
        session.execute(
            update(OutboxEffect).where(OutboxEffect.id == ids[1][0]).values(next_attempt_at=now - timedelta(seconds=30))
        )

    assert api.client.get("/metrics").status_code == 401
    response = api.get("/metrics", role=Role.VIEWER)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric_sample(text, "ativa_transitions_total", event="inactivate", source="api") == 1
    assert metric_sample(text, "ativa_transitions_total", event="activate", source="api") == 1
    assert metric_sample(text, "ativa_effects", name="suspend_services", state="done") == 1
    assert metric_sample(text, "ativa_effects", name="notify_billing", state="pending") == 2
    assert 1.9 < metric_sample(text, "ativa_effect_latency_seconds", quantile="0.5") < 2.5
    assert 29 < metric_sample(text, "ativa_relay_lag_seconds") < 60
    assert metric_sample(text, "ativa_scheduler_lease_seconds_left") == 0  # no scheduler running


def test_metrics_show_the_scheduler_lease_while_one_holds_it(api):
    from workflow.usecases import leases

    assert leases.acquire_or_renew(api.db, leases.SCHEDULER_LEASE, "host:1:abc", 15)
    assert 13 < metric_sample(api.get("/metrics").text, "ativa_scheduler_lease_seconds_left") <= 15
    leases.release(api.db, leases.SCHEDULER_LEASE, "host:1:abc")
    assert metric_sample(api.get("/metrics").text, "ativa_scheduler_lease_seconds_left") == 0


def test_effects_endpoints_are_for_admins(api):
    cid = api.new_customer(1)["id"]
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request"})
    for role in (Role.VIEWER, Role.OPERATOR, Role.BILLING):
        assert api.get("/api/v1/effects", role=role).json()["code"] == "forbidden"
        assert api.post("/api/v1/effects/1/retry", role=role).status_code == 403
    items = api.get("/api/v1/effects", params={"customer_id": cid}).json()["items"]
    assert sorted(e["name"] for e in items) == ["notify_billing", "pause_invoicing", "suspend_services"]
    assert api.get("/api/v1/effects", params={"state": "bogus"}).json()["code"] == "validation_error"
    assert api.post("/api/v1/effects/999999/retry").json()["code"] == "not_found"
    pending = items[0]["id"]
    assert api.post(f"/api/v1/effects/{pending}/retry").json()["code"] == "transition_not_allowed"


def test_effects_cli_lists_failed_and_retries_and_history_shows_attempts(db, monkeypatch):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        cid = json.loads(
            runner.invoke(app, ["customers", "add", "--name", "X", "--document", VALID_CPFS[2], "--json"]).stdout
        )["id"]
        runner.invoke(app, ["inactivate", str(cid), "--reason", "customer_request"])
        with db.write() as session:
            effect = session.query(OutboxEffect).filter_by(name="notify_billing").one()
            effect.state, effect.attempts, effect.last_error = "failed", 8, "HTTP 502 from billing"
            effect_id = effect.id

        listed = json.loads(runner.invoke(app, ["effects", "list", "--state", "failed", "--json"]).stdout)["items"]
        assert [(e["id"], e["attempts"], e["last_error"]) for e in listed] == [(effect_id, 8, "HTTP 502 from billing")]
        history = runner.invoke(app, ["history", str(cid)], env={"COLUMNS": "250"}).stdout
        assert "notify_billing: failed (8 attempts) HTTP 502 from billing" in history

        result = runner.invoke(app, ["effects", "retry", str(effect_id)])
        assert result.exit_code == 0, result.output
        assert "pending again" in result.stdout
        with db.read() as session:
            retried = session.get(OutboxEffect, effect_id)
            assert (retried.state, retried.attempts) == ("pending", 0)
        again = runner.invoke(app, ["effects", "retry", str(effect_id)])
        assert again.exit_code == 1 and "[transition_not_allowed]" in again.stderr
        bad = runner.invoke(app, ["effects", "list", "--state", "nope"])
        assert bad.exit_code == 2 and "'nope' is not one of" in bad.stderr  # a usage error
    finally:
        get_settings.cache_clear()
