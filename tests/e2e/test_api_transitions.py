"""Inactivate and activate through the HTTP API (POST and the PATCH Editar → Salvar path): the happy
paths with their history, and every refusal (not allowed, guards, unknown stored status) changing
nothing. On SQLite and on PostgreSQL (the `api` fixture)."""

import pytest
from sqlalchemy import text

from tests.conftest import add_invoice
from tests.e2e.api_support import (
    ACTIVATION_EFFECTS,
    INACTIVATION_EFFECTS,
    TRANSITION_FIELDS,
    activate,
    assert_ok,
    assert_problem,
    customer_path,
    history,
    inactivate,
    inactive_for_delinquency,
    is_utc_timestamp,
    set_raw_status,
    state,
)
from workflow.domain.vocabulary import InvoiceStatus, Role

# --------------------------------------------------------------------------------------------
# happy paths
# --------------------------------------------------------------------------------------------


def test_inactivate_then_activate(api):
    customer_id = api.new_customer()["id"]
    out = assert_ok(inactivate(api, customer_id, "customer_request", note="  mudou de cidade  "))
    assert set(out) == {"customer", "transition"}
    assert out["customer"]["status"] == "inactive"
    assert out["customer"]["inactivation_reason"] == "customer_request"
    assert out["customer"]["version"] == 2
    transition = out["transition"]
    assert set(transition) >= TRANSITION_FIELDS
    assert transition["event"] == "inactivate"
    assert (transition["from_status"], transition["to_status"]) == ("active", "inactive")
    assert transition["reason"] == "customer_request"
    assert transition["note"] == "mudou de cidade"
    assert transition["forced"] is False
    assert transition["actor"] == "token:test-operator"
    assert transition["source"] == "api"
    assert [(e["name"], e["state"]) for e in transition["effects"]] == [
        (name, "pending") for name in INACTIVATION_EFFECTS
    ]
    assert assert_ok(api.get(customer_path(customer_id))) == out["customer"]

    back = assert_ok(activate(api, customer_id, "customer_return"))
    assert back["customer"]["status"] == "active"
    assert back["customer"]["inactivation_reason"] is None
    assert back["customer"]["version"] == 3
    assert back["transition"]["event"] == "activate"
    assert (back["transition"]["from_status"], back["transition"]["to_status"]) == ("inactive", "active")
    assert back["transition"]["note"] is None
    assert [(e["name"], e["state"]) for e in back["transition"]["effects"]] == [
        (name, "pending") for name in ACTIVATION_EFFECTS
    ]


def test_history_is_newest_first_with_its_fields(api):
    customer_id = api.new_customer()["id"]
    first = assert_ok(inactivate(api, customer_id, "other", note="teste"))["transition"]
    second = assert_ok(activate(api, customer_id, "manual", role=Role.ADMIN))["transition"]

    items = history(api, customer_id)
    assert [h["id"] for h in items] == [second["id"], first["id"]]
    assert items == [second, first]  # history shows exactly what the transition answered
    newest = items[0]
    assert set(newest) >= TRANSITION_FIELDS
    assert newest["event"] == "activate"
    assert (newest["from_status"], newest["to_status"]) == ("inactive", "active")
    assert newest["reason"] == "manual" and newest["note"] is None
    assert newest["actor"] == "token:test-admin" and newest["source"] == "api"
    assert is_utc_timestamp(newest["created_at"])
    assert [{"name": e["name"], "state": e["state"]} for e in newest["effects"]] == [
        {"name": n, "state": "pending"} for n in ACTIVATION_EFFECTS
    ]
    assert items[1]["note"] == "teste" and items[1]["event"] == "inactivate"

    only_newest = assert_ok(api.get(customer_path(customer_id, "/history"), params={"limit": 1}))
    assert only_newest["items"] == [second]


def test_forced_activation_of_a_delinquent_customer(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    out = assert_ok(activate(api, customer_id, "manual", force=True, note="acordo de pagamento"))
    assert out["customer"]["status"] == "active"
    assert out["transition"]["forced"] is True
    assert out["transition"]["note"] == "acordo de pagamento"
    newest = history(api, customer_id)[0]
    assert newest["forced"] is True and newest["event"] == "activate"
    assert newest["actor"] == "token:test-operator"


def test_force_is_not_recorded_when_nothing_was_overridden(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id, "customer_request"))
    out = assert_ok(activate(api, customer_id, "manual", force=True, note="sem motivo"))
    assert out["transition"]["forced"] is False


def test_delinquent_customer_activates_without_force_once_paid(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    with api.db.write() as s:
        s.execute(text("UPDATE invoices SET status='paid' WHERE customer_id=:i"), {"i": customer_id})
    out = assert_ok(activate(api, customer_id, "payment_received"))
    assert out["transition"]["forced"] is False


def test_patch_edit_and_save_with_a_status_change(api):
    customer_id = api.new_customer()["id"]
    response = api.patch(
        customer_path(customer_id),
        role=Role.OPERATOR,
        json={
            "name": "Nome Novo",
            "email": "NOVO@Example.com",
            "status": "inactive",
            "reason": "contract_termination",
            "note": "fim do contrato",
            "version": 1,
        },
    )
    out = assert_ok(response)
    customer, transition = out["customer"], out["transition"]
    assert customer["name"] == "Nome Novo"
    assert customer["email"] == "NOVO@example.com"
    assert customer["status"] == "inactive"
    assert customer["inactivation_reason"] == "contract_termination"
    assert customer["version"] == 2  # one save, one version
    assert transition["event"] == "inactivate"
    assert transition["reason"] == "contract_termination"
    assert transition["note"] == "fim do contrato"
    assert transition["source"] == "api"
    assert [e["name"] for e in transition["effects"]] == INACTIVATION_EFFECTS
    items = history(api, customer_id)
    assert items == [transition]
    assert assert_ok(api.get(customer_path(customer_id))) == customer


def test_patch_back_to_active_through_edit(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id))
    out = assert_ok(
        api.patch(
            customer_path(customer_id),
            json={"status": "active", "reason": "customer_return", "version": 2},
        )
    )
    assert out["customer"]["status"] == "active" and out["customer"]["version"] == 3
    assert out["transition"]["event"] == "activate"
    assert len(history(api, customer_id)) == 2


# --------------------------------------------------------------------------------------------
# transition_not_allowed 409
# --------------------------------------------------------------------------------------------


def test_inactivate_twice_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id))
    before = state(api, customer_id)
    assert_problem(inactivate(api, customer_id, "other", note="again"), 409, "transition_not_allowed")
    after = state(api, customer_id)
    assert after == before
    assert len(after["history"]) == 1


def test_activate_an_active_customer_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    assert_problem(activate(api, customer_id, "manual"), 409, "transition_not_allowed")
    assert state(api, customer_id) == before
    assert before["history"] == []


def test_patch_to_the_current_status_with_a_reason_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(customer_path(customer_id), json={"name": "Novo", "status": "active", "reason": "manual"})
    assert_problem(response, 409, "transition_not_allowed")
    assert state(api, customer_id) == before


# --------------------------------------------------------------------------------------------
# guard_failed 409 (the rule is in `rule` and in `detail`)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, invoice, rule",
    [
        ({"reason": "other"}, None, "note_required"),
        ({"reason": "other", "note": "   "}, None, "note_required"),
        ({"reason": "delinquency"}, None, "no_overdue_invoice"),
        ({"reason": "delinquency"}, {"days_overdue": 0}, "no_overdue_invoice"),  # due today
        ({"reason": "delinquency"}, {"days_overdue": -5}, "no_overdue_invoice"),
        ({"reason": "delinquency"}, {"days_overdue": 9, "status": InvoiceStatus.PAID}, "no_overdue_invoice"),
        ({"reason": "customer_request", "force": True}, None, "force_not_applicable"),
    ],
    ids=["other-no-note", "other-blank-note", "no-invoice", "due-today", "due-later", "paid", "force"],
)
def test_inactivation_guards(api, body, invoice, rule):
    customer_id = api.new_customer()["id"]
    if invoice:
        add_invoice(api.db, customer_id, **invoice)
    before = state(api, customer_id)
    response = api.post(customer_path(customer_id, "/inactivate"), role=Role.OPERATOR, json=body)
    assert_problem(response, 409, "guard_failed", rule=rule)
    assert state(api, customer_id) == before
    assert before["customer"]["version"] == 1 and before["history"] == []


@pytest.mark.parametrize(
    "body, rule",
    [
        ({"reason": "payment_received"}, "overdue_invoices"),
        ({"reason": "manual", "force": False, "note": "pagou"}, "overdue_invoices"),
        ({"reason": "manual", "force": True}, "note_required"),
        ({"reason": "manual", "force": True, "note": "  "}, "note_required"),
    ],
    ids=["no-force", "note-without-force", "force-no-note", "force-blank-note"],
)
def test_activation_guards_for_a_delinquent_customer(api, body, rule):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    before = state(api, customer_id)
    response = api.post(customer_path(customer_id, "/activate"), role=Role.OPERATOR, json=body)
    assert_problem(response, 409, "guard_failed", rule=rule)
    assert state(api, customer_id) == before
    assert before["customer"]["status"] == "inactive"
    assert len(before["history"]) == 1


def test_patch_status_change_without_reason_changes_nothing(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(customer_path(customer_id), json={"name": "Nome Novo", "status": "inactive", "version": 1})
    assert_problem(response, 409, "guard_failed", rule="reason_required")
    assert state(api, customer_id) == before  # the name edit was rolled back with the refusal


def test_patch_guard_also_applies_to_activation(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    before = state(api, customer_id)
    response = api.patch(
        customer_path(customer_id),
        json={"status": "active", "reason": "manual", "phone": "(11) 91234-5678"},
    )
    assert_problem(response, 409, "guard_failed", rule="overdue_invoices")
    assert state(api, customer_id) == before


# --------------------------------------------------------------------------------------------
# unknown_status 409
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, tail, body",
    [
        ("post", "/inactivate", {"reason": "customer_request"}),
        ("post", "/activate", {"reason": "manual"}),
        ("patch", "", {"status": "inactive", "reason": "customer_request"}),
        ("patch", "", {"status": "active", "reason": "manual"}),
    ],
)
def test_an_unknown_stored_status_is_refused(api, method, tail, body):
    customer_id = api.new_customer()["id"]
    set_raw_status(api, customer_id, "frozen")
    before = state(api, customer_id)
    assert before["customer"]["status"] == "frozen"
    response = getattr(api, method)(customer_path(customer_id, tail), json=body)
    problem = assert_problem(response, 409, "unknown_status")
    assert "frozen" in problem["detail"]
    assert state(api, customer_id) == before
    assert before["history"] == []
