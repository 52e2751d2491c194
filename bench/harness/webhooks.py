"""A loopback HTTP server standing in for billing and provisioning: it checks every Standard
Webhooks signature, answers 200 and counts the deliveries per webhook-id."""

import base64
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

BILLING, PROVISIONING = "billing", "provisioning"  # the receiver's paths: /billing, /provisioning


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class _Server(ThreadingHTTPServer):
    # A web server's listen backlog (nginx: 511), not socketserver's 5: the workers open their
    # connections at once (ATIVA_WEBHOOK_CONCURRENCY per process), and a full backlog resets them.
    request_queue_size = 512


@dataclass
class WebhookReceiver:
    billing_secret: str = field(default_factory=new_secret)
    provisioning_secret: str = field(default_factory=new_secret)
    deliveries: Counter = field(default_factory=Counter)  # (BILLING or PROVISIONING, webhook-id) -> count
    bad_signatures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answer_after: float = 0.0  # seconds each answer takes: a receiver across a network, not on loopback

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the workers' httpx clients expect

            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                kind = BILLING if self.path.startswith("/billing") else PROVISIONING
                secret = receiver.billing_secret if kind == BILLING else receiver.provisioning_secret
                webhook_id = self.headers.get("webhook-id", "")
                try:
                    Webhook(secret).verify(raw, {k.lower(): v for k, v in self.headers.items()})
                    verified = True
                except Exception:  # noqa: BLE001 - counted, reported
                    verified = False
                with receiver.lock:
                    receiver.deliveries[(kind, webhook_id)] += 1
                    if not verified:
                        receiver.bad_signatures.append(webhook_id)
                if receiver.answer_after:
                    time.sleep(receiver.answer_after)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="webhooks").start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def settings(self, *, provisioning: bool) -> dict[str, str]:
        """The ATIVA_* settings (lower-case names) that send the outbound calls here."""
        found = {"billing_webhook_url": f"{self.url}/billing", "billing_webhook_secret": self.billing_secret}
        if provisioning:
            found |= {
                "provisioning_webhook_url": f"{self.url}/provisioning",
                "provisioning_webhook_secret": self.provisioning_secret,
            }
        return found

    def received(self) -> tuple[Counter, list[str]]:
        """What arrived so far: the deliveries per (kind, webhook-id), the ids badly signed."""
        with self.lock:
            return Counter(self.deliveries), list(self.bad_signatures)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
