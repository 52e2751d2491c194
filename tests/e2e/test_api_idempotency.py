"""Idempotency-Key through the HTTP API: a replay answers the first response and changes nothing;
a key reused for another request is refused; keys are scoped per token. On SQLite and on
PostgreSQL (the `api` fixture)."""

import pytest

from tests.conftest import VALID_CPFS, add_invoice
from tests.e2e.api_support import (
    CUSTOMERS,
    all_customers,
    assert_ok,
    assert_problem,
    customer_path,
    history,
    inactivate,
    services_of,
    state,
)
from workflow.domain.vocabulary import Role

# --------------------------------------------------------------------------------------------
# Idempotency-Key
# --------------------------------------------------------------------------------------------


def idem(key: str) -> dict:
    return {"Idempotency-Key": key}


@pytest.mark.parametrize("key", ["   ", "k" * 256], ids=["blank", "too-long"])
def test_bad_idempotency_key_is_a_validation_error(api, key):
    response = api.post(
        CUSTOMERS,
        json={"name": "Ana", "document": VALID_CPFS[0]},
        headers={"Idempotency-Key": key},
    )
    assert_problem(response, 422, "validation_error")
    assert all_customers(api) == []


def test_replayed_create_returns_the_first_response(api):
    body = {"name": "Ana", "document": VALID_CPFS[0]}
    first = api.post(CUSTOMERS, json=body, headers=idem("create-1"))
    assert_ok(first, 201)
    assert "idempotent-replayed" not in first.headers

    again = api.post(CUSTOMERS, json=body, headers=idem("create-1"))
    assert_ok(again, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.content == first.content
    assert all_customers(api) == [first.json()]


def test_replayed_transition_makes_no_second_history_row(api):
    customer_id = api.new_customer()["id"]
    first = inactivate(api, customer_id, "other", note="x", headers=idem("inact-1"))
    assert_ok(first)
    after_first = state(api, customer_id)

    again = inactivate(api, customer_id, "other", note="x", headers=idem("inact-1"))
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert state(api, customer_id) == after_first
    assert len(after_first["history"]) == 1 and after_first["customer"]["version"] == 2


def test_replayed_service_actions(api):
    customer_id = api.new_customer()["id"]
    added = api.post(customer_path(customer_id, "/services"), json={"name": "Fibra"}, headers=idem("svc"))
    again = api.post(customer_path(customer_id, "/services"), json={"name": "Fibra"}, headers=idem("svc"))
    assert (added.status_code, again.status_code) == (201, 201)
    assert again.json() == added.json() and again.headers["idempotent-replayed"] == "true"
    assert len(services_of(api, customer_id)) == 1


def test_same_key_with_a_different_body_is_refused(api):
    body = {"name": "Ana", "document": VALID_CPFS[0]}
    created = assert_ok(api.post(CUSTOMERS, json=body, headers=idem("k")), 201)
    response = api.post(CUSTOMERS, json={**body, "document": VALID_CPFS[1]}, headers=idem("k"))
    problem = assert_problem(response, 422, "idempotency_key_reused")
    assert "k" in problem["detail"]
    assert all_customers(api) == [created]


def test_same_key_on_another_path_is_refused(api):
    a = api.new_customer(0)["id"]
    b = api.new_customer(1)["id"]
    assert_ok(inactivate(api, a, headers=idem("k")))
    before = state(api, b)
    assert_problem(inactivate(api, b, headers=idem("k")), 422, "idempotency_key_reused")
    assert state(api, b) == before


def test_a_refusal_is_replayed_even_after_the_condition_changed(api):
    customer_id = api.new_customer()["id"]
    refused = inactivate(api, customer_id, "delinquency", headers=idem("late-1"))
    assert_problem(refused, 409, "guard_failed", rule="no_overdue_invoice")

    add_invoice(api.db, customer_id, days_overdue=3)
    replay = inactivate(api, customer_id, "delinquency", headers=idem("late-1"))
    assert_problem(replay, 409, "guard_failed", rule="no_overdue_invoice")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == refused.json()
    assert history(api, customer_id) == []

    fresh = inactivate(api, customer_id, "delinquency", headers=idem("late-2"))
    assert_ok(fresh)
    assert "idempotent-replayed" not in fresh.headers
    assert len(history(api, customer_id)) == 1


def test_a_first_refusal_is_not_marked_as_replayed(api):
    customer_id = api.new_customer()["id"]
    refused = inactivate(api, customer_id, "delinquency", headers=idem("first-refusal"))
    assert_problem(refused, 409, "guard_failed", rule="no_overdue_invoice")
    assert "idempotent-replayed" not in refused.headers


def test_keys_are_scoped_per_token(api):
    admin = api.post(CUSTOMERS, role=Role.ADMIN, json={"name": "A", "document": VALID_CPFS[0]}, headers=idem("shared"))
    operator = api.post(
        CUSTOMERS, role=Role.OPERATOR, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared")
    )
    assert_ok(admin, 201)
    assert_ok(operator, 201)  # not idempotency_key_reused: another token's key
    assert "idempotent-replayed" not in operator.headers
    assert admin.json()["id"] != operator.json()["id"]

    # Each token replays its own first response.
    replay = api.post(
        CUSTOMERS, role=Role.OPERATOR, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared")
    )
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == operator.json()
    # The admin's own "shared" still belongs to its first body.
    other = api.post(CUSTOMERS, role=Role.ADMIN, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared"))
    assert_problem(other, 422, "idempotency_key_reused")
    assert len(all_customers(api)) == 2


def test_same_key_same_body_from_another_token_runs_again(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id, role=Role.ADMIN, headers=idem("k")))
    response = inactivate(api, customer_id, role=Role.OPERATOR, headers=idem("k"))
    assert_problem(response, 409, "transition_not_allowed")  # executed, not replayed
    assert len(history(api, customer_id)) == 1


def test_idempotency_ignores_key_order_and_spacing(api):
    body = f'{{"name": "Ana", "document": "{VALID_CPFS[0]}"}}'
    same_value = f'{{ "document":"{VALID_CPFS[0]}","name":"Ana" }}'
    headers = {**idem("reordered"), "Content-Type": "application/json"}
    first = assert_ok(api.post(CUSTOMERS, content=body, headers=headers), 201)
    replay = api.post(CUSTOMERS, content=same_value, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert assert_ok(replay, 201) == first
    assert len(all_customers(api)) == 1
