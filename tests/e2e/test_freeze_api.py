"""/api/v1/freeze on SQLite and PostgreSQL: who may read and change it, hostile input refused with
nothing recorded, and what the sweep's run and preview say while it holds; payments still
reactivate through the billing endpoint."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import add_invoice
from tests.e2e.api_support import assert_ok, assert_problem, is_utc_timestamp
from tests.e2e.billing_support import NEW_SECRET, client_for, delinquent_customer, event, send, status
from workflow.db.models import FreezeChange
from workflow.domain.vocabulary import Role
from workflow.usecases.business_day import provider_today

FREEZE = "/api/v1/freeze"
STATE_FIELDS = {"frozen", "holds", "automatic", "reason", "until", "since", "actor", "source", "history"}
CHANGE_FIELDS = {"action", "reason", "until", "detail", "actor", "source", "at", "alert_state"}


def put(api, body, role=Role.ADMIN, **kw):
    return api.client.put(FREEZE, headers=api.headers(role), json=body, **kw)


def changes(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(FreezeChange))


def test_anyone_reads_the_freeze_and_only_admins_change_it(api):
    for role in Role:
        state = assert_ok(api.get(FREEZE, role=role))
        assert set(state) == STATE_FIELDS
        assert (state["frozen"], state["holds"], state["reason"], state["history"]) == (False, False, None, [])
    assert_problem(api.client.get(FREEZE), 401, "unauthorized")
    for role in (Role.VIEWER, Role.BILLING, Role.OPERATOR):
        assert_problem(put(api, {"reason": "banco fora do ar"}, role), 403, "forbidden")
        assert_problem(api.delete(FREEZE, role=role), 403, "forbidden")
    assert changes(api.db) == 0


def test_an_admin_freezes_changes_and_lifts_and_each_change_is_recorded_once(api):
    last_day = provider_today() + timedelta(days=2)
    frozen = assert_ok(put(api, {"reason": "Banco X sem retorno", "until": last_day.isoformat()}))
    assert (frozen["frozen"], frozen["holds"], frozen["automatic"]) == (True, True, False)
    assert (frozen["reason"], frozen["until"], frozen["actor"], frozen["source"]) == (
        "Banco X sem retorno",
        last_day.isoformat(),
        "token:test-admin",
        "api",
    )
    assert is_utc_timestamp(frozen["since"])
    [change] = frozen["history"]
    assert set(change) == CHANGE_FIELDS
    assert (change["action"], change["reason"], change["alert_state"]) == ("on", "Banco X sem retorno", "pending")

    # The same freeze again (a retried request) records nothing; a new reason is a change.
    assert len(assert_ok(put(api, {"reason": "Banco X sem retorno", "until": last_day.isoformat()}))["history"]) == 1
    changed = assert_ok(put(api, {"reason": "Banco X e Y sem retorno"}))
    assert (changed["until"], [c["action"] for c in changed["history"]]) == (None, ["on", "on"])
    assert assert_ok(api.get(FREEZE, role=Role.VIEWER))["reason"] == "Banco X e Y sem retorno"

    lifted = assert_ok(api.delete(FREEZE))
    assert (lifted["lifted"], lifted["frozen"], lifted["holds"], lifted["reason"]) == (True, False, False, None)
    assert [c["action"] for c in lifted["history"]] == ["off", "on", "on"]
    again = assert_ok(api.delete(FREEZE))
    assert again["lifted"] is False and len(again["history"]) == 3  # lifting nothing records nothing


def _lone_surrogate(api):
    raw = b'{"reason": "\\ud800"}'
    return api.client.put(FREEZE, headers=api.headers(Role.ADMIN, **{"Content-Type": "application/json"}), content=raw)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "banco\x00fora"}, "reason"),
        ({"reason": "banco\x1bfora"}, "reason"),
        ({"reason": 42}, "reason"),
        ({"reason": "ok", "until": "0001-01-01"}, "until"),
        ({"reason": "ok", "until": "9999-12-31"}, "until"),
        ({"reason": "ok", "until": "2000-01-01"}, "until"),  # a last day already past
        ({"reason": "ok", "until": "01/12/2026"}, "until"),
        ({"reason": "ok", "until": "2026-02-30"}, "until"),
        ({"reason": "ok", "until": 1764547200}, "until"),
        ({"reason": "ok", "frozen": True}, "frozen"),
    ],
)
def test_hostile_input_is_refused_and_nothing_is_recorded(api, body, field):
    refused = assert_problem(put(api, body), 422, "validation_error")
    assert field in refused["detail"], refused
    assert changes(api.db) == 0 and assert_ok(api.get(FREEZE))["frozen"] is False


def test_a_lone_surrogate_and_a_body_that_is_not_json_are_refused(api):
    assert_problem(_lone_surrogate(api), 422, "validation_error")
    not_json = api.client.put(
        FREEZE, headers=api.headers(Role.ADMIN, **{"Content-Type": "application/json"}), content=b"{reason"
    )
    assert_problem(not_json, 422, "validation_error")
    assert changes(api.db) == 0


def test_the_reason_keeps_line_breaks_and_500_characters(api):
    start = "Banco X fora do ar.\nRetorno previsto amanhã; ação: Çã "
    reason = start + "x" * (500 - len(start))
    assert assert_ok(put(api, {"reason": reason}))["reason"] == reason


def test_the_documented_schema_names_the_limits(api):
    doc = api.get("/openapi.json").json()
    operations = doc["paths"][FREEZE]
    assert set(operations) == {"get", "put", "delete"}
    for method in ("put", "delete"):
        assert {"401", "403", "422"} <= set(operations[method]["responses"])
    reason = doc["components"]["schemas"]["FreezeIn"]["properties"]["reason"]
    assert (reason["minLength"], reason["maxLength"]) == (1, 500)
    action = doc["components"]["schemas"]["FreezeChangeOut"]["properties"]["action"]
    assert sorted(action["enum"]) == ["expired", "off", "on", "tripped"]


def test_while_frozen_the_run_cuts_nobody_and_the_preview_says_so(api):
    today = provider_today()
    due = api.new_customer(0)["id"]
    add_invoice(api.db, due, days_overdue=40, amount="120.00", today=today)
    assert_ok(put(api, {"reason": "conciliação bancária atrasada"}))

    preview = assert_ok(api.get("/api/v1/delinquency/preview", role=Role.VIEWER))
    assert preview["frozen"]["reason"] == "conciliação bancária atrasada"
    assert preview["frozen"]["automatic"] is False and preview["frozen"]["until"] is None
    run = assert_ok(api.post("/api/v1/delinquency/run", json={}), 202)
    assert (run["candidates"], run["batches"], run["tripped"]) == (0, 0, False)
    assert run["frozen"]["actor"] == "token:test-admin"
    assert api.get(f"/api/v1/customers/{due}").json()["status"] == "active"

    # The real date decides, never as_of: a preview of a day after the freeze's last day still
    # shows it (a run for a later day must not slip past a freeze that holds now).
    assert_ok(put(api, {"reason": "só hoje", "until": today.isoformat()}))
    later = (today + timedelta(days=1)).isoformat()
    assert assert_ok(api.get("/api/v1/delinquency/preview", params={"as_of": later}))["frozen"]["until"] == (
        today.isoformat()
    )
    assert_ok(api.delete(FREEZE))
    assert assert_ok(api.get("/api/v1/delinquency/preview"))["frozen"] is None


def test_a_payment_reactivates_a_cut_customer_while_frozen(db):
    cid, invoice = delinquent_customer(db)
    assert status(db, cid) == ("inactive", "delinquency")
    with client_for(db, NEW_SECRET) as billing:
        from workflow.usecases import freeze

        freeze.freeze_cuts(db, "banco fora do ar", None, "user:maria", "ui")
        response = send(billing, event("paid", invoice, cid, amount="100.00"), "pay-frozen-1")
    assert response.status_code == 202 and response.json()["reactivated"] is True
    assert status(db, cid) == ("active", None)


def test_a_freeze_through_today_is_accepted_and_yesterday_is_not(api):
    today = provider_today()
    assert assert_ok(put(api, {"reason": "hoje", "until": today.isoformat()}))["holds"] is True
    yesterday = date.fromordinal(today.toordinal() - 1).isoformat()
    assert (
        "before today"
        in assert_problem(put(api, {"reason": "ontem", "until": yesterday}), 422, "validation_error")["detail"]
    )
