"""Posting batches of billing events to a running Ativa, signed the Standard Webhooks way like
any billing system's delivery, with transient failures retried.

A batch's webhook-id comes from its content, so the server's log shows a retried POST as the same
delivery; whatever it recorded of a first attempt comes back as duplicates (each event is
deduplicated by its own id).
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

BATCH_PATH = "/api/v1/billing/events/batch"
STATUSES = ("accepted", "duplicate", "rejected")
TIMEOUT = httpx.Timeout(300.0, connect=10.0)  # a batch of 1000 events on a busy server takes a while
FIRST_DELAY = 0.5  # seconds before the first retry, doubled for each next one
MAX_DELAY = 30.0  # a Retry-After longer than this is not waited for whole


class BatchFailed(Exception):
    """The batch was not taken: `transient` when the server could not be reached or answered 5xx/429
    through every retry; otherwise it refused the batch as a whole (401, 413, 422…)."""

    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.reason, self.transient = reason, transient


@dataclass(frozen=True)
class Result:
    status: str
    reactivated: bool
    problem: str | None


def endpoint(base: str) -> str:
    """The batch endpoint of an Ativa at `base` (http[s]://host[:port][/prefix]); ValueError if
    `base` is not such a URL."""
    try:
        parts = urlsplit(base.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{base!r} is not a URL like http://127.0.0.1:8000") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{base!r} is not a URL like http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{BATCH_PATH}"


def signer(secret: str) -> Webhook:
    """ValueError naming the variable (never the secret) when it is not a whsec_… secret."""
    try:
        return Webhook(secret)
    except Exception:  # noqa: BLE001 - the library's errors vary by the way the secret is wrong
        raise ValueError("ATIVA_BILLING_INBOUND_SECRET is not a Standard Webhooks secret (whsec_…)") from None


def envelope(events: list[bytes]) -> bytes:
    return b'{"events":[' + b",".join(events) + b"]}"


def split_by_size(events: list[bytes], max_body: int) -> list[list[bytes] | int]:
    """The events in order, in runs whose envelope fits `max_body` bytes; an event that cannot
    fit even alone stands as its size."""
    parts: list[list[bytes] | int] = []
    run: list[bytes] = []
    size = len(envelope([]))
    for event in events:
        if len(envelope([event])) > max_body:
            parts += [run, len(event)] if run else [len(event)]
            run, size = [], len(envelope([]))
            continue
        if run and size + 1 + len(event) > max_body:  # 1: the comma before it
            parts.append(run)
            run, size = [], len(envelope([]))
        size += len(event) + (1 if run else 0)
        run.append(event)
    return [*parts, run] if run else parts


def batch_id(body: bytes) -> str:
    return "import-" + hashlib.sha256(body).hexdigest()[:32]


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _problem(response: httpx.Response) -> str:
    """`401 unauthorized: signature does not match…` from a problem+json answer, or its status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        code = f" {body['code']}" if isinstance(body.get("code"), str) else ""
        return f"{response.status_code}{code}: {_one_line(body['detail'])}"
    return f"{response.status_code} {response.reason_phrase}".strip()


def _result(item: dict) -> Result:
    if item["status"] not in STATUSES:
        raise ValueError(item["status"])
    problem = item.get("problem")
    return Result(item["status"], item.get("reactivated") is True, problem if isinstance(problem, str) else None)


def _results(response: httpx.Response, posted: int) -> list[Result]:
    try:
        parsed = [_result(item) for item in response.json()["results"]]
    except (ValueError, KeyError, TypeError):
        raise BatchFailed("the server's answer is not a batch result (is the URL an Ativa?)", transient=False) from None
    if len(parsed) != posted:
        raise BatchFailed(f"the server answered {len(parsed)} results for {posted} events", transient=False)
    return parsed


def _transient(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after", "") if response is not None else ""
    return min(float(value), MAX_DELAY) if value.isdigit() else None


class BatchPoster:
    def __init__(
        self,
        url: str,
        webhook: Webhook,
        *,
        retries: int,
        max_body: int,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url, self.webhook, self.retries, self.sleep = url, webhook, retries, sleep
        self.max_body = max_body
        self.client = httpx.Client(timeout=TIMEOUT)

    def __enter__(self) -> "BatchPoster":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.client.close()

    def _send(self, body: bytes, webhook_id: str) -> httpx.Response:
        now = datetime.now(UTC)  # signed again on each attempt: the server wants it within ±5 minutes
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(webhook_id, now, body.decode("utf-8")),
        }
        return self.client.post(self.url, content=body, headers=headers)

    def post(self, events: list[bytes]) -> list[Result]:
        """Each event's result, in order; BatchFailed when (a part of) the batch was not taken.

        The batch goes in as few POSTs as fit the server's body limit (a file of unusually large
        events); an event too large to fit alone is rejected here."""
        results: list[Result] = []
        for part in split_by_size(events, self.max_body):
            if isinstance(part, int):
                results.append(Result("rejected", False, f"{part} bytes: more than a request may carry"))
            else:
                results += self._post(part)
        return results

    def _post(self, events: list[bytes]) -> list[Result]:
        body = envelope(events)
        webhook_id = batch_id(body)
        reason = ""
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._send(body, webhook_id)
            except httpx.TransportError as error:
                reason = _one_line(str(error)) or type(error).__name__
            else:
                if response.status_code == 200:
                    return _results(response, len(events))
                if not _transient(response):
                    raise BatchFailed(f"the server refused it: {_problem(response)}", transient=False)
                reason = _problem(response)
            if attempt < self.retries:
                self.sleep(_retry_after(response) or min(FIRST_DELAY * 2**attempt, MAX_DELAY))
        tries = f" ({self.retries + 1} tries)" if self.retries else ""
        raise BatchFailed(f"{self.url} did not take it{tries}: {reason}", transient=True)


def problem_text(result: Result) -> str:
    return _one_line(result.problem or "rejected by the server (no reason given)", 1000)
