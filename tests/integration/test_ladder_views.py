"""The collection ladder seen everywhere (issue 13, item 5), on SQLite and PostgreSQL: standing's
stage and next step, the sweep's preview (API, CLI), the register's filter, /metrics and the
customer.delinquency_stage webhook through a real HTTP receiver."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import VALID_CNPJ, ApiClient, add_invoice
from tests.e2e.api_support import metric_sample
from workflow.db.models import Customer, OutboxEffect
from workflow.domain.vocabulary import Role
from workflow.settings import Settings
from workflow.usecases import delinquency, ladder
from workflow.usecases.business_day import provider_today

# Notice after 5 days, reduced speed after 10, the cut after 15; every day a cut day.
LADDER = {"notice_after_days": 5, "reduce_after_days": 10, "grace_days": 15, "no_cut_weekdays": ""}


def ladder_settings(db, **extra) -> Settings:
    return Settings(database_url=db.url, max_body_bytes=65536, **LADDER, **extra)


@pytest.fixture
def lapi(db) -> Iterator[ApiClient]:
    """The API over an app whose settings configure the ladder."""
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.usecases.tokens import create_token

    with db.write() as session:
        tokens = {role: create_token(session, f"test-{role.value}", role.value)[1] for role in Role}
    with TestClient(create_app(ladder_settings(db), db), raise_server_exceptions=False) as client:
        yield ApiClient(client, tokens, db)


def owing(api: ApiClient, n: int, days_overdue: int) -> int:
    cid = api.new_customer(n)["id"]
    add_invoice(api.db, cid, days_overdue=days_overdue)
    return cid


def run_ladder(api: ApiClient, today: date | None = None) -> ladder.LadderRun:
    settings = ladder_settings(api.db)
    return ladder.advance_ladder(api.db, delinquency.policy_from(settings), today or provider_today(), settings)


def standing(api: ApiClient, cid: int) -> dict:
    response = api.get(f"/api/v1/customers/{cid}/standing", role=Role.VIEWER)
    assert response.status_code == 200, response.text
    return response.json()


def test_standing_gives_the_stage_and_the_next_step_with_its_date(lapi):
    today = provider_today()
    cid = owing(lapi, 0, days_overdue=3)
    oldest = today - timedelta(days=3)
    body = standing(lapi, cid)
    assert body["delinquency_stage"] == "none" and body["notice_snoozed_until"] is None
    assert body["next_stage"]["stage"] == "notice"
    assert body["next_stage"]["on"] == (oldest + timedelta(days=6)).isoformat()  # after 5 days
    assert body["next_action"]["action"] == "inactivate"  # the fields standing had keep their shape
    assert body["overdue"]["days_overdue"] == 3 and body["trust_unlock"]["allowed"] is False

    # Six days overdue: the ladder job puts it at the notice stage; next comes the reduction.
    add_invoice(lapi.db, cid, days_overdue=6)
    assert run_ladder(lapi).advanced == {cid: "notice"}
    oldest = today - timedelta(days=6)
    body = standing(lapi, cid)
    assert body["delinquency_stage"] == "notice"
    assert body["next_stage"] == {
        "stage": "reduced",
        "on": (oldest + timedelta(days=11)).isoformat(),
        "why": body["next_stage"]["why"],
    }
    assert "reduced after 10 days" in body["next_stage"]["why"]


def test_standing_at_the_last_step_points_at_the_cut_as_next_action_does(lapi):
    cid = owing(lapi, 0, days_overdue=12)
    assert run_ladder(lapi).advanced == {cid: "reduced"}
    body = standing(lapi, cid)
    assert body["delinquency_stage"] == "reduced"
    assert body["next_stage"]["stage"] == "cut"
    assert body["next_stage"]["on"] == body["next_action"]["on"]  # one date for the cut, both ways
    assert body["next_stage"]["on"] == (provider_today() + timedelta(days=4)).isoformat()

    # Cut by the sweep: the stage is "cut", nothing ahead on the ladder.
    later = provider_today() + timedelta(days=4)
    assert delinquency.run_sweep(lapi.db, delinquency.policy_from(ladder_settings(lapi.db)), later, 10).inactivated == [
        cid
    ]
    body = standing(lapi, cid)
    assert body["status"] == "inactive" and body["delinquency_stage"] == "cut" and body["next_stage"] is None
    customer = lapi.get(f"/api/v1/customers/{cid}").json()
    assert customer["delinquency_stage"] == "none"  # the stored step: the cut reset it


def test_standing_shows_the_snooze_and_nothing_ahead_for_an_exempt_customer(lapi):
    today = provider_today()
    cid = owing(lapi, 0, days_overdue=7)
    run_ladder(lapi)
    ladder.acknowledge_notice(lapi.db, cid, today, "Continuar navegando")
    body = standing(lapi, cid)
    with lapi.db.read() as session:
        snoozed = session.get(Customer, cid).notice_snoozed_until
    assert snoozed is not None
    assert body["delinquency_stage"] == "notice"
    assert datetime.fromisoformat(body["notice_snoozed_until"]) == snoozed.astimezone(UTC)

    exempt = owing(lapi, 1, days_overdue=7)
    assert lapi.patch(f"/api/v1/customers/{exempt}", json={"auto_block_exempt": True}).status_code == 200
    body = standing(lapi, exempt)
    assert body["delinquency_stage"] == "none" and body["next_stage"] is None and body["next_action"] is None


def test_the_customer_carries_its_stage_and_the_history_its_step(lapi):
    cid = owing(lapi, 0, days_overdue=7)
    run_ladder(lapi)
    assert lapi.get(f"/api/v1/customers/{cid}").json()["delinquency_stage"] == "notice"
    history = lapi.get(f"/api/v1/customers/{cid}/history").json()["items"]
    step = next(t for t in history if t["event"] == "advance_stage")
    assert step["delinquency_stage"] == "notice" and step["source"] == "scheduler"
    assert lapi.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"}).status_code == 200
    history = lapi.get(f"/api/v1/customers/{cid}/history").json()["items"]
    assert next(t for t in history if t["event"] == "inactivate")["delinquency_stage"] is None  # not a step


def test_the_register_filters_by_stage(lapi):
    notice = owing(lapi, 0, days_overdue=7)
    reduced = owing(lapi, 1, days_overdue=12)
    clean = lapi.new_customer(2)["id"]
    cut = owing(lapi, 3, days_overdue=20)
    run_ladder(lapi)
    assert lapi.post(f"/api/v1/customers/{cut}/inactivate", json={"reason": "delinquency"}).status_code == 200
    paused = lapi.new_customer(4)["id"]
    assert (
        lapi.post(
            f"/api/v1/customers/{paused}/inactivate", json={"reason": "customer_request", "note": "viagem"}
        ).status_code
        == 200
    )

    def ids(stage: str) -> list[int]:
        response = lapi.get("/api/v1/customers", params={"delinquency_stage": stage})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids("notice") == [notice]
    assert ids("reduced") == [reduced]
    assert ids("cut") == [cut]
    assert ids("none") == [clean, paused]
    # The filter's SQL is standing's stage, customer by customer.
    everyone = [notice, reduced, clean, cut, paused]
    for stage in ("none", "notice", "reduced", "cut"):
        assert ids(stage) == [cid for cid in everyone if standing(lapi, cid)["delinquency_stage"] == stage], stage
    refused = lapi.get("/api/v1/customers", params={"delinquency_stage": "aviso"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")


def test_the_preview_lists_each_stage_as_the_ladder_job_would_without_writing(lapi):
    to_notice = owing(lapi, 0, days_overdue=7)
    to_reduced = owing(lapi, 1, days_overdue=12)
    due_for_cut = owing(lapi, 2, days_overdue=20)
    within = owing(lapi, 3, days_overdue=3)
    at_notice = owing(lapi, 4, days_overdue=6)
    run_ladder(lapi)  # everyone owing for long enough moves once
    # Now: to_notice and at_notice at notice, to_reduced and due_for_cut at reduced, `within` at
    # none (3 days). Then a fresh debt old enough for the notice:
    fresh = lapi.new_customer(4, document=VALID_CNPJ, name="Empresa")["id"]
    add_invoice(lapi.db, fresh, days_overdue=7)
    body = lapi.get("/api/v1/delinquency/preview", role=Role.VIEWER).json()
    steps = body["ladder"]
    assert [e["customer_id"] for e in steps["to_notice"]] == [fresh]
    assert steps["to_reduced"] == [] and steps["back_to_plan"] == []
    assert sorted(e["customer_id"] for e in steps["at_notice"]) == sorted([to_notice, at_notice])
    assert sorted(e["customer_id"] for e in steps["at_reduced"]) == sorted([to_reduced, due_for_cut])
    assert [c["customer_id"] for c in body["candidates"]] == [due_for_cut]  # the cuts as before
    assert steps["counts"] == {
        "to_notice": 1,
        "to_reduced": 0,
        "back_to_plan": 0,
        "at_notice": 2,
        "at_reduced": 2,
        "cuts": 1,
    }
    entry = steps["to_notice"][0]
    assert entry["stage"] == "none" and entry["days_overdue"] == 7 and entry["overdue_total"] == "99.90"

    # Read-only: the customer is still at no stage, and the job then does what the preview said.
    with lapi.db.read() as session:
        assert session.get(Customer, fresh).delinquency_stage == "none"
    assert run_ladder(lapi).advanced == {fresh: "notice"}

    # The provider moves the notice to 8 days: those at the notice with 6 or 7 days are due no step
    # now; the preview says the job returns them to the plan, and the job does.
    settings = Settings(database_url=lapi.db.url, **{**LADDER, "notice_after_days": 8})
    later = delinquency.policy_from(settings)
    with lapi.db.read() as session:
        steps_later = ladder.ladder_preview(session.connection(), later, provider_today())
    assert [e.customer_id for e in steps_later.back_to_plan] == [to_notice, at_notice, fresh]  # by name
    assert steps_later.to_notice == [] and steps_later.to_reduced == []
    assert within not in [e.customer_id for e in steps_later.at_notice]
    assert ladder.advance_ladder(lapi.db, later, provider_today(), settings).cleared == [to_notice, at_notice, fresh]


def test_metrics_count_active_customers_per_stage(lapi):
    owing(lapi, 0, days_overdue=7)
    owing(lapi, 1, days_overdue=8)
    owing(lapi, 2, days_overdue=12)
    lapi.new_customer(3)
    cut = owing(lapi, 4, days_overdue=20)
    run_ladder(lapi)
    lapi.post(f"/api/v1/customers/{cut}/inactivate", json={"reason": "delinquency"})
    text = lapi.get("/metrics", role=Role.VIEWER).text
    assert metric_sample(text, "ativa_customers_delinquency_stage", stage="notice") == 2
    assert metric_sample(text, "ativa_customers_delinquency_stage", stage="reduced") == 1
    assert metric_sample(text, "ativa_customers_delinquency_stage", stage="none") == 1  # the cut one is inactive
    assert "# TYPE ativa_customers_delinquency_stage gauge" in text


def test_a_step_sends_the_stage_webhook_and_an_older_step_is_skipped_as_superseded(lapi):
    from tests.pipeline import BILLING_SECRET, WebhookReceiver
    from workers.connectors import webhooks
    from workflow.usecases import effects

    today = provider_today()
    cid = owing(lapi, 0, days_overdue=7)
    assert run_ladder(lapi).advanced == {cid: "notice"}
    assert run_ladder(lapi, today + timedelta(days=4)).advanced == {cid: "reduced"}  # before the first is sent
    with lapi.db.read() as session:
        notices = list(
            session.scalars(
                select(OutboxEffect.id)
                .where(OutboxEffect.customer_id == cid, OutboxEffect.name == "notify_stage")
                .order_by(OutboxEffect.id)
            )
        )
    assert len(notices) == 2
    receiver = WebhookReceiver().start()
    try:
        settings = ladder_settings(
            lapi.db, billing_webhook_url=f"{receiver.url}/billing", billing_webhook_secret=BILLING_SECRET
        )
        newer = effects.carry_out_effect(lapi.db, notices[1], settings, lambda d: webhooks.deliver(d, settings))
        older = effects.carry_out_effect(lapi.db, notices[0], settings, lambda d: webhooks.deliver(d, settings))
        sent = receiver.at("/billing")
    finally:
        receiver.stop()
    assert newer.state == "done" and older.state == "skipped"
    with lapi.db.read() as session:
        assert "superseded" in (session.get(OutboxEffect, notices[0]).note or "")
    (only,) = sent  # the old step never reached billing
    assert only.verified and only.body["type"] == "customer.delinquency_stage"
    assert only.body["data"]["customer_id"] == cid
    assert only.body["data"]["stage"] == "reduced" and only.body["data"]["reason"] == "delinquency"


def test_the_workers_daily_sweep_runs_the_ladder_before_the_cuts(db, monkeypatch):
    """workers.tasks.sweep, in this process: the steps first, then the due customers' batches."""
    from tests.conftest import VALID_CPFS
    from workers import runtime, tasks
    from workflow.settings import get_settings
    from workflow.usecases import customers

    for name, value in {"NOTICE_AFTER_DAYS": "5", "REDUCE_AFTER_DAYS": "10", "NO_CUT_WEEKDAYS": ""}.items():
        monkeypatch.setenv(f"ATIVA_{name}", value)
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    ids = []
    for n, days in enumerate((7, 12)):
        with db.write() as session:
            ids.append(
                customers.create_customer(session, customers.CustomerDraft(name=f"C{n}", document=VALID_CPFS[n])).id
            )
        add_invoice(db, ids[-1], days_overdue=days)
    get_settings.cache_clear()
    runtime.reset()
    try:
        assert tasks.sweep.run(provider_today().isoformat()) == 0  # nobody due for a cut yet
        with db.read() as session:
            assert [session.get(Customer, cid).delinquency_stage for cid in ids] == ["notice", "reduced"]
    finally:
        runtime.reset()
        get_settings.cache_clear()
