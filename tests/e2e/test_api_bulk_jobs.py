"""/api/v1/bulk-jobs on both databases: preview, run, progress, history pointing at the job, a
second run refused, cancellation, admin only, and bad input answered as problem+json."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_invoice
from tests.e2e.api_support import assert_ok, assert_problem, history, inactivate
from tests.e2e.web_support import PASSWORD, signed_in
from workflow.application import create_app
from workflow.domain.vocabulary import Role
from workflow.settings import Settings
from workflow.usecases import bulk, sweep_dispatch, users
from workflow.usecases import idempotency as idempotency_records

JOBS = "/api/v1/bulk-jobs"


@pytest.fixture
def handed(api, monkeypatch) -> list[tuple[int, int]]:
    """The batches the API hands to the workers, recorded (the test runs them)."""
    batches: list[tuple[int, int]] = []
    monkeypatch.setattr(sweep_dispatch, "_bulk_dispatcher", lambda job_id, batch: batches.append((job_id, batch)))
    return batches


def test_preview_run_and_progress(api, handed):
    owes = api.new_customer(0)["id"]
    away = api.new_customer(1)["id"]
    add_invoice(api.db, owes, days_overdue=30)
    inactivate(api, owes, reason="delinquency")
    inactivate(api, away)

    preview = assert_ok(
        api.post(JOBS, json={"action": "activate", "reason": "manual", "note": "lote", "customers": [owes, away]}), 201
    )
    assert preview["dry_run"] is True and preview["state"] == "preview"
    assert [(i["customer_id"], i["preview"], i["preview_rule"]) for i in preview["items"]] == [
        (owes, "refused", "overdue_invoices"),
        (away, "change", None),
    ]
    assert handed == []

    started = assert_ok(api.post(f"{JOBS}/{preview['id']}/run"), 202)
    assert (
        started["state"] == "queued" and started["dry_run"] is False and started["confirmed_by"] == "token:test-admin"
    )
    assert handed == [(preview["id"], 0)]
    for job_id, batch in handed:
        bulk.run_batch(api.db, job_id, batch)

    done = assert_ok(api.get(f"{JOBS}/{preview['id']}", params={"items_limit": 1}))
    assert done["state"] == "done" and done["progress"] == {"done": 2, "total": 2}
    assert done["counts"] == {"pending": 0, "done": 1, "refused": 1, "unchanged": 0, "skipped": 0}
    assert len(done["items"]) == 1
    change = history(api, away)[0]
    assert (change["event"], change["reason"], change["note"], change["bulk_job_id"]) == (
        "activate",
        "manual",
        "lote",
        preview["id"],
    )

    again = assert_problem(api.post(f"{JOBS}/{preview['id']}/run"), 409, "conflict")
    assert "is done (1 done, 1 refused)" in again["detail"]
    assert [job["id"] for job in assert_ok(api.get(JOBS))] == [preview["id"]]


def test_cancel(api, handed):
    ids = [api.new_customer(n)["id"] for n in range(3)]
    job = assert_ok(
        api.post(JOBS, json={"action": "inactivate", "reason": "customer_request", "customers": ids, "batch_size": 1}),
        201,
    )
    assert_ok(api.post(f"{JOBS}/{job['id']}/run"), 202)
    bulk.run_batch(api.db, job["id"], 0)
    cancelled = assert_ok(api.post(f"{JOBS}/{job['id']}/cancel"))
    assert cancelled["state"] == "cancelled" and cancelled["counts"]["skipped"] == 2
    assert_problem(api.post(f"{JOBS}/{job['id']}/cancel"), 409, "conflict")


def test_admin_only(api):
    body = {"action": "activate", "reason": "manual", "customers": [1]}
    for role in (Role.OPERATOR, Role.VIEWER, Role.BILLING):
        assert_problem(api.post(JOBS, role=role, json=body), 403, "forbidden")
        assert_problem(api.get(JOBS, role=role), 403, "forbidden")
    assert api.client.get(JOBS).status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "activate", "reason": "manual", "customers": [1, 99]}, "#2 99"),
        ({"action": "activate", "reason": "manual", "customers": [1, "ERP-1"]}, "mixes integer ids and strings"),
        ({"action": "activate", "reason": "manual", "customers": [2**63]}, "between 1 and"),
        ({"action": "activate", "reason": "manual", "customers": [1], "note": "a\x00b"}, "note"),
        ({"action": "activate", "reason": "manual", "filter": {"status": "inactive"}}, "matches no customer"),
        ({"preset": "undo_cuts", "date": "2026-11-30"}, "needs a note"),
        ({"action": "activate", "reason": "delinquency", "customers": [1]}, "does not go with activate"),
        ({"action": "activate", "reason": "trust_unlock", "customers": [1]}, "one customer at a time"),
        ({"action": "inactivate", "reason": "other", "customers": [1]}, "needs a note"),
    ],
)
def test_bad_input_is_a_problem_and_creates_nothing(api, body, words):
    api.new_customer(0, external_ref="ERP-1")
    problem = assert_problem(api.post(JOBS, json=body), 422, "validation_error")
    assert words in problem["detail"] or words in str(problem)
    assert assert_ok(api.get(JOBS)) == []


def test_unknown_entries_are_listed_and_large_lists_pass_the_body_limit(api):
    known = api.new_customer(0)["id"]
    wanted = [known, *range(1000, 21000)]  # about 120 KB: beyond the general body limit
    problem = assert_problem(
        api.post(JOBS, json={"action": "inactivate", "reason": "customer_request", "customers": wanted}),
        422,
        "validation_error",
    )
    assert len(problem["entries"]) == 20000 and problem["entries"][0] == {"position": 2, "value": 1000}


def test_more_customers_than_a_job_holds_is_a_413(api):
    too_many = list(range(1, 100_002))  # about 700 KB: within the bulk body limit
    problem = assert_problem(
        api.post(JOBS, json={"action": "inactivate", "reason": "customer_request", "customers": too_many}),
        413,
        "payload_too_large",
    )
    assert "at most 100000 customers" in problem["detail"]
    assert assert_ok(api.get(JOBS)) == []


def test_ids_out_of_range_and_missing_jobs(api):
    assert_problem(api.get(f"{JOBS}/{2**31}"), 422, "validation_error")
    assert_problem(api.post(f"{JOBS}/0/run"), 422, "validation_error")
    assert_problem(api.get(f"{JOBS}/77"), 404, "not_found")
    assert_problem(api.post(f"{JOBS}/77/cancel"), 404, "not_found")


def test_the_customer_page_names_the_job_in_the_history(api, handed):
    customer = api.new_customer(0)["id"]
    job = assert_ok(
        api.post(JOBS, json={"action": "inactivate", "reason": "other", "note": "obra", "customers": [customer]}), 201
    )
    assert_ok(api.post(f"{JOBS}/{job['id']}/run"), 202)
    bulk.run_batch(api.db, job["id"], 0)
    with api.db.write() as session:
        users.create_user(session, "otto", "operator", PASSWORD)
    with TestClient(create_app(Settings(database_url=api.db.url), api.db), follow_redirects=False) as client:
        page = signed_in(client, "otto").get(f"/clientes/{customer}")
    assert f"Lote nº {job['id']}" in page.text


def test_an_idempotency_key_replays_the_preview_and_the_run(api, handed):
    customer = api.new_customer(0)["id"]
    body = {"action": "inactivate", "reason": "customer_request", "customers": [customer]}
    key = {"Idempotency-Key": "lote-1"}
    first = assert_ok(api.post(JOBS, json=body, headers=key), 201)
    assert assert_ok(api.post(JOBS, json=body, headers=key), 201)["id"] == first["id"]
    run_key = {"Idempotency-Key": "lote-1-run"}
    assert_ok(api.post(f"{JOBS}/{first['id']}/run", headers=run_key), 202)
    assert_ok(api.post(f"{JOBS}/{first['id']}/run", headers=run_key), 202)  # the same answer, not a 409
    assert handed == [(first["id"], 0)] and bulk.next_batches(api.db, first["id"]) == [0]
    assert len(assert_ok(api.get(JOBS))) == 1


def test_a_filter_and_the_undo_preset_over_the_api(api):
    away = api.new_customer(0)["id"]
    api.new_customer(1)
    inactivate(api, away)
    body = {"action": "activate", "reason": "customer_return", "filter": {"status": "inactive", "source": "api"}}
    job = assert_ok(api.post(JOBS, json=body), 201)
    assert job["selection"] == {"filter": {"status": "inactive", "source": "api"}}
    assert [item["customer_id"] for item in job["items"]] == [away]
    nobody = assert_problem(
        api.post(JOBS, json={"preset": "undo_cuts", "date": job["created_at"][:10], "note": "banco"}),
        422,
        "validation_error",
    )
    assert "nobody the sweep cut" in nobody["detail"]


def test_the_job_and_its_idempotency_key_commit_together(api, handed, monkeypatch):
    customer = api.new_customer(0)["id"]
    body = {"action": "inactivate", "reason": "customer_request", "customers": [customer]}

    def record_fails(*_args, **_kwargs):
        raise RuntimeError("the key's record could not be written")

    # The key's record failing must take the job down with it: no job without its key.
    monkeypatch.setattr(idempotency_records, "record_answer", record_fails)
    assert_problem(api.post(JOBS, json=body, headers={"Idempotency-Key": "lote-x"}), 500, "internal_error")
    assert assert_ok(api.get(JOBS)) == []
    monkeypatch.undo()
    monkeypatch.setattr(sweep_dispatch, "_bulk_dispatcher", lambda job_id, batch: handed.append((job_id, batch)))

    job = assert_ok(api.post(JOBS, json=body), 201)
    monkeypatch.setattr(idempotency_records, "record_answer", record_fails)
    assert_problem(api.post(f"{JOBS}/{job['id']}/run", headers={"Idempotency-Key": "run-x"}), 500, "internal_error")
    assert assert_ok(api.get(f"{JOBS}/{job['id']}"))["state"] == "preview"  # not confirmed without its key
    assert handed == []


def test_a_broker_failing_after_the_confirmation_answers_queued_and_the_stall_check_queues_it(api, monkeypatch):
    customer = api.new_customer(0)["id"]
    job = assert_ok(
        api.post(JOBS, json={"action": "inactivate", "reason": "customer_request", "customers": [customer]}), 201
    )

    def broker_down(job_id: int, batch: int) -> None:
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(sweep_dispatch, "_bulk_dispatcher", broker_down)
    queued = assert_ok(api.post(f"{JOBS}/{job['id']}/run"), 202)
    assert queued["state"] == "queued"
    assert_problem(api.post(f"{JOBS}/{job['id']}/run"), 409, "conflict")  # confirmed once, committed

    handed: list[tuple[int, int]] = []
    # The next tick queues it at once, however long the stall period.
    assert bulk.redispatch_stalled(api.db, timedelta(days=1), lambda *batch: handed.append(batch)) == {job["id"]: [0]}
    assert handed == [(job["id"], 0)]
    assert bulk.redispatch_stalled(api.db, timedelta(days=1), lambda *batch: handed.append(batch)) == {}


def test_no_workers_connected_is_a_503_that_changes_nothing(api, monkeypatch):
    customer = api.new_customer(0)["id"]
    job = assert_ok(
        api.post(JOBS, json={"action": "inactivate", "reason": "customer_request", "customers": [customer]}), 201
    )
    monkeypatch.setattr(sweep_dispatch, "_bulk_dispatcher", None)
    problem = assert_problem(api.post(f"{JOBS}/{job['id']}/run"), 503, "workers_unavailable")
    assert "no worker is connected" in problem["detail"]
    assert assert_ok(api.get(f"{JOBS}/{job['id']}"))["state"] == "preview"
