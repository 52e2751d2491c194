"""A running Ativa for pipeline tests: real processes (API server, Celery workers), a real broker,
a real database and a loopback HTTP server standing in for billing and provisioning."""

import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from standardwebhooks import Webhook

from tests.support import Process, free_port, wait_for
from workflow.db.engine import Database
from workflow.usecases.tokens import create_token

BILLING_SECRET = "whsec_" + "YmlsbGluZy1zZWNyZXQtZm9yLXRlc3RzLTEyMzQ1Ng=="
PROVISIONING_SECRET = "whsec_" + "cHJvdmlzaW9uaW5nLXNlY3JldC1mb3ItdGVzdHMtMTI="


@dataclass
class Received:
    path: str
    webhook_id: str
    verified: bool
    body: dict
    answer: int | str | None = None  # what the receiver answered


@dataclass
class WebhookReceiver:
    """Records every POST; `behaviour(path, count_for_id)` returns the status to answer, or
    "hang" to hold the request open (to kill a worker in the middle of a call)."""

    received: list[Received] = field(default_factory=list)
    behaviour: Callable[[str, int], int | str] = lambda path, n: 200
    lock: threading.Lock = field(default_factory=threading.Lock)
    hanging: threading.Event = field(default_factory=threading.Event)
    hanging_client_port: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                secret = BILLING_SECRET if self.path.startswith("/billing") else PROVISIONING_SECRET
                try:
                    Webhook(secret).verify(raw, {k.lower(): v for k, v in self.headers.items()})
                    verified = True
                except Exception:  # noqa: BLE001 - any failure to verify is recorded as unverified
                    verified = False
                webhook_id = self.headers.get("webhook-id", "")
                record = Received(self.path, webhook_id, verified, json.loads(raw))
                with receiver.lock:
                    receiver.received.append(record)
                    seen = sum(1 for r in receiver.received if r.webhook_id == webhook_id)
                answer = record.answer = receiver.behaviour(self.path, seen)
                if answer == "hang":
                    receiver.hanging_client_port = self.client_address[1]
                    receiver.hanging.set()
                    receiver.release.wait(60)
                    return
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()

    def at(self, prefix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def accepted(self, prefix: str) -> list[Received]:
        """The calls answered with a 2xx: what the receiver applied."""
        return [r for r in self.at(prefix) if isinstance(r.answer, int) and 200 <= r.answer < 300]


class Stack:
    """API server (--no-worker) and workers as subprocesses sharing one database and broker."""

    def __init__(
        self, tmp_path: Path, database_url: str, broker_url: str | None, receiver: WebhookReceiver, **settings: str
    ):
        self.tmp = tmp_path
        self.db = Database(database_url)
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
        self.env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "ATIVA_DATA_DIR": str(tmp_path / "var"),
                "ATIVA_DATABASE_URL": database_url,
                "ATIVA_BILLING_WEBHOOK_URL": f"{receiver.url}/billing",
                "ATIVA_BILLING_WEBHOOK_SECRET": BILLING_SECRET,
                "ATIVA_PROVISIONING_WEBHOOK_URL": f"{receiver.url}/provisioning",
                "ATIVA_PROVISIONING_WEBHOOK_SECRET": PROVISIONING_SECRET,
                "ATIVA_WORKER_CONCURRENCY": "2",
                "ATIVA_EFFECT_CLAIM_SECONDS": "5",
                "ATIVA_WEBHOOK_TIMEOUT_SECONDS": "1",
                "ATIVA_RADIUS_TIMEOUT_SECONDS": "0.5",
                "ATIVA_RADIUS_TRIES": "2",
                "ATIVA_RELAY_INTERVAL_SECONDS": "0.5",
                "ATIVA_RELAY_GRACE_SECONDS": "1",
                # The Standard Webhooks schedule's shape, in seconds instead of hours.
                "ATIVA_EFFECT_RETRY_SCHEDULE": "0,0.2s,0.4s,0.8s,1s,1s,1s,1s",
                "ATIVA_WORKER_HEARTBEAT_SECONDS": "1",  # dead after 3 s of silence
                "ATIVA_SCHEDULER_LEASE_SECONDS": "3",
                "ATIVA_RECONCILE_INTERVAL_SECONDS": "3600",
            }
        )
        if broker_url:
            self.env["ATIVA_BROKER_URL"] = broker_url
        self.env.update({f"ATIVA_{k.upper()}": str(v) for k, v in settings.items()})
        with self.db.write() as session:
            self.token = create_token(session, "pipeline-tests", "admin")[1]
        self.api = self._serve()
        self.workers: list[Process] = []
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        wait_for(self._healthy, what="the API server")

    def _serve(self) -> Process:
        return Process(["serve", "--no-worker", "--port", str(self.port)], self.env, self.tmp, self.tmp / "api.log")

    def restart_api(self, sig: int = signal.SIGTERM) -> None:
        """The API server stopped with `sig` (SIGKILL: mid-request), then started again on its port."""
        self.api.stop(sig)
        self.api = self._serve()
        wait_for(self._healthy, what="the API server after its restart")

    def _healthy(self) -> bool:
        assert self.api.alive(), self.api.log.read_text()
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def start_worker(self, beat: bool = True) -> Process:
        args = ["worker"] + (["--beat"] if beat else [])
        worker = Process(args, self.env, self.tmp, self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.api.stop()
        self.http.close()
        self.db.dispose()

    # -- API helpers --

    def customer(self, n: int, **fields) -> int:
        from tests.conftest import VALID_CPFS

        response = self.http.post(
            "/api/v1/customers", json={"name": f"Cliente {n}", "document": VALID_CPFS[n], **fields}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def service(self, customer_id: int, name: str, ref: str) -> int:
        response = self.http.post(f"/api/v1/customers/{customer_id}/services", json={"name": name, "external_ref": ref})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def move(self, customer_id: int, event: str, reason: str) -> dict:
        response = self.http.post(f"/api/v1/customers/{customer_id}/{event}", json={"reason": reason})
        assert response.status_code == 200, response.text
        return response.json()["transition"]

    def history(self, customer_id: int) -> list[dict]:
        return self.http.get(f"/api/v1/customers/{customer_id}/history").json()["items"]

    def effects(self, customer_id: int) -> list[dict]:
        """Every effect of the customer, provisioning calls included, oldest first."""
        items = self.http.get("/api/v1/effects", params={"customer_id": customer_id, "limit": 1000}).json()["items"]
        return sorted(items, key=lambda e: e["id"])

    def settled(self, customer_id: int) -> list[dict] | None:
        effects = self.effects(customer_id)
        return effects if effects and all(e["state"] != "pending" for e in effects) else None
