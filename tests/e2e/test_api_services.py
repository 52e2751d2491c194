"""A customer's services (plans) through the HTTP API: their lifecycle and its refusals. On SQLite
and on PostgreSQL (the `api` fixture)."""

import pytest
from sqlalchemy import text

from tests.e2e.api_support import (
    SERVICE_FIELDS,
    add_service,
    assert_ok,
    assert_problem,
    history,
    inactivate,
    is_utc_timestamp,
    new_service,
    service_path,
    services_of,
    state,
)

# --------------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------------


def test_service_lifecycle(api):
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_service(api, customer_id, "  Fibra 500  ", external_ref="SVC-1"), 201)
    assert set(service) >= SERVICE_FIELDS
    assert isinstance(service["id"], int)
    assert service["customer_id"] == customer_id
    assert service["name"] == "Fibra 500"
    assert service["external_ref"] == "SVC-1"
    assert service["status"] == "active"
    assert service["suspension_cause"] is None
    assert service["suspension_note"] is None
    assert service["suspended_at"] is None
    assert is_utc_timestamp(service["created_at"])
    assert services_of(api, customer_id) == [service]

    sid = service["id"]
    suspended = assert_ok(api.post(service_path(sid, "suspend"), json={"reason": "  troca de roteador "}))
    assert suspended["status"] == "suspended"
    assert suspended["suspension_cause"] == "manual"
    assert suspended["suspension_note"] == "troca de roteador"
    assert is_utc_timestamp(suspended["suspended_at"])
    assert_problem(api.post(service_path(sid, "suspend"), json={"reason": "de novo"}), 409, "transition_not_allowed")

    resumed = assert_ok(api.post(service_path(sid, "resume")))
    assert resumed["status"] == "active"
    assert resumed["suspension_cause"] is None
    assert resumed["suspension_note"] is None
    assert resumed["suspended_at"] is None

    cancelled = assert_ok(api.post(service_path(sid, "cancel")))
    assert cancelled["status"] == "cancelled"
    assert is_utc_timestamp(cancelled["cancelled_at"])

    second = new_service(api, customer_id, "Telefone")
    assert services_of(api, customer_id) == [cancelled, second]
    # Services of one customer never show under another.
    other = api.new_customer(1)["id"]
    assert services_of(api, other) == []
    # Service actions are not customer transitions.
    assert history(api, customer_id) == []


def test_suspend_needs_a_reason_field(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    assert_problem(api.post(service_path(service["id"], "suspend"), json={}), 422, "validation_error")
    response = api.post(service_path(service["id"], "suspend"), json={"reason": ""})
    assert_problem(response, 422, "validation_error")
    assert services_of(api, customer_id) == [service]


# --------------------------------------------------------------------------------------------
# transition_not_allowed 409
# --------------------------------------------------------------------------------------------


def test_resume_an_active_service_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    assert_problem(api.post(service_path(service["id"], "resume")), 409, "transition_not_allowed")
    assert services_of(api, customer_id) == [service]


@pytest.mark.parametrize("action, body", [("resume", None), ("suspend", {"reason": "x"}), ("cancel", None)])
def test_a_cancelled_service_is_final(api, action, body):
    customer_id = api.new_customer()["id"]
    service_id = new_service(api, customer_id)["id"]
    cancelled = assert_ok(api.post(service_path(service_id, "cancel")))
    kwargs = {"json": body} if body else {}
    assert_problem(api.post(service_path(service_id, action), **kwargs), 409, "transition_not_allowed")
    assert services_of(api, customer_id) == [cancelled]


# --------------------------------------------------------------------------------------------
# guard_failed 409
# --------------------------------------------------------------------------------------------


def test_suspend_with_a_blank_reason_is_refused(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    response = api.post(service_path(service["id"], "suspend"), json={"reason": "   "})
    assert_problem(response, 409, "guard_failed", rule="reason_required")
    assert services_of(api, customer_id) == [service]


# --------------------------------------------------------------------------------------------
# customer_inactive 409 / unknown_status 409
# --------------------------------------------------------------------------------------------


def test_an_inactive_customer_gets_no_new_service(api):
    customer_id = api.new_customer()["id"]
    existing = new_service(api, customer_id)
    assert_ok(inactivate(api, customer_id))
    assert_problem(add_service(api, customer_id, "Plano Novo"), 409, "customer_inactive")
    assert services_of(api, customer_id) == [existing]


def test_a_service_of_an_inactive_customer_cannot_be_resumed(api):
    customer_id = api.new_customer()["id"]
    service_id = new_service(api, customer_id)["id"]
    suspended = assert_ok(api.post(service_path(service_id, "suspend"), json={"reason": "reparo"}))
    assert_ok(inactivate(api, customer_id))
    response = api.post(service_path(service_id, "resume"))
    assert_problem(response, 409, "customer_inactive")
    assert services_of(api, customer_id) == [suspended]


def test_unknown_stored_service_status_is_refused(api):
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_service(api, customer_id), 201)
    with api.db.write() as session:
        session.execute(text("UPDATE services SET status='paused' WHERE id=:i"), {"i": service["id"]})
    before = state(api, customer_id)
    for action, body in (("suspend", {"reason": "x"}), ("resume", None), ("cancel", None)):
        response = api.post(service_path(service["id"], action), json=body)
        assert_problem(response, 409, "unknown_status")
    assert state(api, customer_id) == before


# --------------------------------------------------------------------------------------------
# duplicate_external_ref 409
# --------------------------------------------------------------------------------------------


def test_duplicate_service_external_ref_is_a_conflict(api):
    customer_id = api.new_customer()["id"]
    assert_ok(add_service(api, customer_id, "Fibra", external_ref="SVC-9"), 201)
    before = state(api, customer_id)
    assert_problem(add_service(api, customer_id, "TV", external_ref="SVC-9"), 409, "duplicate_external_ref")
    assert state(api, customer_id) == before
