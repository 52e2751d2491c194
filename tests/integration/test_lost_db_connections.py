"""PostgreSQL connections ended by the server (pg_terminate_backend, a restart, a proxy's idle
timeout): no request fails for it, and nothing acknowledged is lost."""

import threading
import uuid

import httpx
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from tests.pipeline import Stack, WebhookReceiver
from tests.support import wait_for
from workflow.db.engine import Database
from workflow.db.models import Customer, StatusChange

TERMINATE_OTHERS = """
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def admin_connection(url: str) -> psycopg.Connection:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn, autocommit=True)


def gone(admin: psycopg.Connection, pids: list[int]) -> bool:
    rows = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone()
    return rows[0] == 0


@pytest.fixture
def pg(postgres_url, pg_db):
    return postgres_url


def test_a_unit_never_gets_a_pooled_connection_the_server_closed(pg):
    db = Database(pg)
    try:
        with db.read() as a, db.read() as b, db.read() as c:  # three connections into the pool
            pids = [s.execute(text("SELECT pg_backend_pid()")).scalar_one() for s in (a, b, c)]
        with admin_connection(pg) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
            wait_for(lambda: gone(admin, pids), what="the backends to end")
        for _ in range(3):  # each would have been the first statement on a dead connection
            with db.read() as session:
                assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_a_request_whose_connection_dies_before_it_commits_is_run_again(pg):
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.settings import Settings
    from workflow.usecases.tokens import create_token

    db = Database(pg)
    with db.write() as session:
        token = create_token(session, "reconnect", "admin")[1]
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(Settings(database_url=pg), db)
    try:
        with TestClient(app, raise_server_exceptions=False) as client, admin_connection(pg) as admin:
            cid = client.post(
                "/api/v1/customers", headers=headers, json={"name": "Dona Rosa", "document": "39053344705"}
            ).json()["id"]
            # Hold the customer's row: the transition waits for it inside its transaction.
            admin.execute("BEGIN")
            admin.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", [cid])
            answer = {}
            request = threading.Thread(
                target=lambda: answer.update(
                    response=client.post(
                        f"/api/v1/customers/{cid}/inactivate", headers=headers, json={"reason": "customer_request"}
                    )
                )
            )
            request.start()

            def waiting_backend():
                row = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                return row and row[0]

            victim = wait_for(waiting_backend, what="the transition to wait for the row lock")
            admin.execute("SELECT pg_terminate_backend(%s)", [victim])  # mid-transaction
            admin.execute("ROLLBACK")
            request.join(30)
        response = answer["response"]
        assert response.status_code == 200, response.text
        with db.read() as session:
            changes = session.scalars(select(StatusChange).where(StatusChange.customer_id == cid)).all()
            assert [c.id for c in changes] == [response.json()["transition"]["id"]]  # once, not twice
    finally:
        db.dispose()


def test_connections_terminated_under_load_cost_no_error_and_lose_nothing(pg, tmp_path):
    from validate_docbr import CPF

    receiver = WebhookReceiver().start()
    stack = Stack(tmp_path, pg, None, receiver)  # a real `ativa serve --no-worker` on PostgreSQL
    stop = threading.Event()
    failures, created, moved = [], [], []
    lock = threading.Lock()
    documents = iter({CPF().generate() for _ in range(3000)})
    # One request at a time per client; `caught_up[n]` is the last termination client n saw a
    # whole request start after. Terminations are one request apart for every client: the faults
    # come one at a time, as in production, and each one meets whatever was in flight.
    terminations = 0
    caught_up = [0] * 6

    def client_loop(n: int):
        with httpx.Client(base_url=stack.http.base_url, headers=stack.http.headers, timeout=30) as http:

            def call(method: str, path: str, expected: int, **kwargs) -> httpx.Response | None:
                started_after = terminations
                try:
                    response = http.request(method, path, **kwargs)
                except httpx.TransportError as error:  # uvicorn drops the connection after a 500
                    failures.append(f"{method} {path}: {error!r}")
                    return None
                finally:
                    caught_up[n] = started_after
                if response.status_code != expected:
                    failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
                    return None
                return response

            while not stop.is_set():
                with lock:
                    document = next(documents)
                response = call(
                    "POST",
                    "/api/v1/customers",
                    201,
                    json={"name": "Cliente", "document": document},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                if response is None:
                    continue
                cid = response.json()["id"]
                created.append(cid)
                for event, reason in (("inactivate", "customer_request"), ("activate", "customer_return")):
                    response = call(
                        "POST",
                        f"/api/v1/customers/{cid}/{event}",
                        200,
                        json={"reason": reason},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                    if response is None:
                        break
                    moved.append(response.json()["transition"]["id"])
                call("GET", f"/api/v1/customers/{cid}", 200)  # no key: a read is run again

    clients = [threading.Thread(target=client_loop, args=(n,)) for n in range(6)]
    try:
        for client in clients:
            client.start()
        with admin_connection(pg) as admin:
            wait_for(lambda: len(moved) >= 6, what="the load to start")
            for _ in range(8):
                admin.execute(TERMINATE_OTHERS)
                terminations += 1
                wait_for(lambda: min(caught_up) == terminations, what="every client past the fault")
    finally:
        stop.set()
        for client in clients:
            client.join(30)
        stack.close()
        receiver.stop()
    assert not failures, failures[:5]
    db = Database(pg)
    try:
        with db.read() as session:
            stored_customers = set(session.scalars(select(Customer.id)))
            stored_changes = set(session.scalars(select(StatusChange.id)))
    finally:
        db.dispose()
    assert set(created) <= stored_customers
    assert set(moved) <= stored_changes


@pytest.mark.parametrize("committed_first", [False, True])
def test_a_request_is_run_again_only_if_it_committed_nothing(pg, committed_first):
    """Run again after a write unit committed, a request would repeat that write: never."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from workflow.api.reconnect import RetryOnLostConnection

    db = Database(pg)
    runs = []
    app = FastAPI()
    app.add_middleware(RetryOnLostConnection)

    @app.post("/work")
    def work():
        runs.append(len(runs) + 1)
        if committed_first:
            with db.write() as session:
                session.execute(text("SELECT 1"))
        with db.read() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            if len(runs) == 1:  # the first run loses its connection in the middle of the unit
                with admin_connection(pg) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                    wait_for(lambda: gone(admin, [pid]), what="the backend to end")
            session.execute(text("SELECT 1"))
        return {"runs": len(runs)}

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/work", json={"any": "body"})
    finally:
        db.dispose()
    if committed_first:
        # Never run twice, and the client learns the outcome is unknown (not a bare 500).
        assert (response.status_code, response.json()["code"], runs) == (503, "database_unavailable", [1])
        assert response.headers["content-type"] == "application/problem+json"
    else:
        assert (response.status_code, response.json(), runs) == (200, {"runs": 2}, [1, 2])
