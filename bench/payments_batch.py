"""50,000 payments through the batch endpoint: how soon is every customer restored and every
effect settled, against one set-based UPDATE doing the bare status change?

    .venv/bin/python bench/payments_batch.py [--customers 50000] [--batch 1000] [--senders 2]
                                             [--concurrency 4] [--warm-up 200] [--sample 1000]
                                             [--database-url URL] [--redis-url redis://127.0.0.1:6379/14]

Set-up
------
* --database-url (default: $ATIVA_BENCH_POSTGRES_URL, else
  postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is an *admin* URL: a throwaway database
  ``ativa_bench_<random>`` is created, migrated and dropped (WITH (FORCE)) at the end, even on error.
  FreeRADIUS's tables live in it (same-database mode, the default on PostgreSQL), created and filled
  with the groups by ``enforcement.prepare``, as ``ativa db upgrade`` does.
* --redis-url names a Redis database index used as the Celery broker; FLUSHDB'd at start and end.
* Real subprocesses, each in its own process group: the API, ``python -m workflow serve --no-worker``
  (access log off), and one worker, ``python -m workflow worker`` (prefork, --concurrency, no
  --beat: every effect travels by the fast path, a lost message stalls the run and fails it).
  Billing notifications and provisioning calls go to a loopback receiver in this process
  (bench/harness/webhooks.py) that checks every signature and counts deliveries per webhook-id.

Seeding (not measured)
----------------------
--customers + --warm-up subscribers (bench/ladder.py's seed: set-based SQL, one service with a
RADIUS login on a plan, its FreeRADIUS rows, one open invoice of R$ 99.90 due 30 days ago, an
earlier cut and return with its effects done), then all of them cut for delinquency by the
product's own batch cut, ``delinquency.inactivate_due`` (history and outbox rows as the sweep
writes them), in this process. The measured customers are cut before any publisher is installed
(their effects stay pending) and their effects' end state is then written in SQL (bench-only); the
warm-up customers are cut once the worker runs, their effects published after the commit as the
product does and carried out by the real worker (services suspended, logins moved to the blocked
group, invoicing paused, billing and provisioning told, the session effects run). The script then compares, column by
column (ids and timestamps by presence), every row of the warm-up customers with those of a
--sample of measured ones: the seeded state must be exactly what the product leaves, or the run
stops. No radacct rows: a blocked login has no open session, so each ``radius_disconnect`` of the
restoration finds none and sends nothing (as the product does then).

Warm-up (not measured): the warm-up customers pay through the batch endpoint, one batch per
sender, and the script waits until their effects are settled.

Measured run
------------
--senders threads, each with its own keep-alive httpx.Client connected beforehand, take the next
batch of --batch ``invoice.paid`` events (one per customer, paying its invoice in full; event id
``pay-<customer>``) and post it, signed as one Standard Webhooks message with a fresh timestamp,
as soon as their previous batch is answered (closed loop). The clock starts at the first request.
The script polls the database until every measured customer is active and no effect is pending,
then reads the stamps the product wrote:

* all accepted: the last batch's answer received;
* all restored: the last ``restore_services`` effect of the measured activations done (the worker
  stamps completed_at just before its COMMIT; the customers are active from the API's COMMIT);
* all settled: the last effect of those activations done (restore_services, resume_invoicing,
  notify_billing, and the provision_restore and radius_disconnect that restore_services makes).

After the run, the first batch is posted again (not measured): every event must be a duplicate.

Baseline (same run, same database): the measured customers are put back to inactive for
delinquency by SQL, VACUUM ANALYZE and CHECKPOINT (unmeasured), then one set-based
``UPDATE customers SET status = 'active', inactivation_reason = NULL, ...`` over them, committed,
is timed: the bare status change, no history, no effects, no invoices. Ratio = end-to-end seconds
/ baseline seconds. Aim: every effect settled within 120 s of the first request.

CPU (Linux /proc), from the first request until all settled: the API server, the worker's main
and pool processes, this database's PostgreSQL backends, Redis, this process.

Verification
------------
Every event answered ``accepted``, reactivated, exactly once; one billing_events row per event;
every measured customer active with invoicing on, its service active, its invoice paid once;
exactly one activation per customer (three history rows each: the seeded cut and return, the cut,
this one); each activation's effects exactly restore_services, resume_invoicing, notify_billing,
provision_restore, radius_disconnect, all done on their first attempt; no effect pending anywhere;
one delivery per done notify_billing / provision_* effect, every signature valid; every login back
in its plan's group; no ERROR or Traceback in the API or worker log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(ROOT))

from bench.harness.cpu import cpu_delta, cpu_snapshot  # noqa: E402
from bench.harness.database import (  # noqa: E402
    add_database_url_argument,
    add_redis_url_argument,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
    redis_or_report,
)
from bench.harness.processes import (  # noqa: E402
    ThreadsStartingTogether,
    WorkflowProcess,
    close_broker_connections,
    free_port,
    wait_settled,
    wait_until,
    workflow_environment,
)
from bench.harness.report import printable_command  # noqa: E402
from bench.harness.webhooks import BILLING, PROVISIONING, WebhookReceiver, new_secret  # noqa: E402
from bench.ladder import SWEEP_DAYS_LATE, checkpoint  # noqa: E402
from bench.ladder import seed as seed_subscribers  # noqa: E402
from bench.payments import CPU_CLASSES, ELSEWHERE, process_class  # noqa: E402
from workflow.db import migrate  # noqa: E402
from workflow.db.engine import Database  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
BATCH_PATH = "/api/v1/billing/events/batch"
AMOUNT = "99.90"  # bench/ladder.py's invoices (AMOUNT_CENTS)
AIM_SECONDS = 120.0
PROGRESS_EVERY = 15.0  # seconds between progress lines on stderr
RESTORE_EFFECTS = Counter(
    {"restore_services": 1, "resume_invoicing": 1, "notify_billing": 1, "provision_restore": 1, "radius_disconnect": 1}
)
DELIVERING = {"notify_billing": BILLING, "provision_restore": PROVISIONING, "provision_suspend": PROVISIONING}


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def cut_everyone(db: Database, settings, lo: int, hi: int, today: date, batch: int = 1000) -> float:
    """Customers lo..hi cut for delinquency by the product's batch cut (their effects published
    after each commit by whatever publisher this process has, if any). Returns the seconds taken."""
    from workflow.usecases import delinquency

    policy = delinquency.policy_from(settings)
    began = time.perf_counter()
    for start in range(lo, hi + 1, batch):
        ids = list(range(start, min(start + batch, hi + 1)))
        result = delinquency.inactivate_due(db, policy, ids, today)
        if result.inactivated != ids:
            raise RuntimeError(f"the cut skipped customers: {dict(list(result.skipped.items())[:3])}")
    return time.perf_counter() - began


# The end state the worker leaves after a cut's effects, written in SQL for customers lo..hi
# (their cut's effects pending); what it must equal is checked against the warm-up customers,
# whose effects the real worker carried out (same_as_the_product).
END_OF_CUT = [
    "UPDATE services SET status = 'suspended', suspension_cause = 'customer_inactive', suspension_note = NULL, "
    "suspended_at = now(), updated_at = now() WHERE customer_id BETWEEN %(lo)s AND %(hi)s",
    "UPDATE customers SET invoicing_enabled = false WHERE id BETWEEN %(lo)s AND %(hi)s",
    "UPDATE radusergroup SET groupname = %(blocked)s WHERE username IN "
    "(SELECT login FROM services WHERE customer_id BETWEEN %(lo)s AND %(hi)s)",
    # the calls restore_services / suspend_services write per service, already claimed
    "INSERT INTO outbox_effects (transition_id, customer_id, service_id, origin, name, state, attempts, "
    "last_error, note, created_at, next_attempt_at, claimed_until, published_at, relay_count, relay_after, "
    "completed_at, claimed_by, unsettled_attempt) "
    "SELECT o.transition_id, o.customer_id, s.id, 'effect', f.name, 'done', 1, NULL, f.note, now(), now(), "
    "NULL, %(published)s, 0, NULL, now(), NULL, NULL "
    "FROM outbox_effects o JOIN services s ON s.customer_id = o.customer_id "
    "CROSS JOIN (VALUES ('provision_suspend', %(provision_note)s), ('radius_disconnect', %(session_note)s)) "
    "AS f(name, note) "
    "WHERE o.customer_id BETWEEN %(lo)s AND %(hi)s AND o.name = 'suspend_services' AND o.state = 'pending' "
    "ORDER BY o.customer_id, f.name DESC",
    # the cut's own effects, settled with the notes the worker leaves (the fast path stamps no published_at)
    "UPDATE outbox_effects AS o SET state = 'done', attempts = 1, claimed_until = NULL, claimed_by = NULL, "
    "completed_at = now(), note = n.note FROM unnest(%(names)s::text[], %(notes)s::text[]) AS n(name, note) "
    "WHERE o.customer_id BETWEEN %(lo)s AND %(hi)s AND o.state = 'pending' AND o.name = n.name",
]


def end_of_cut_notes(conn: psycopg.Connection, lo: int, hi: int) -> dict[str, str | None]:
    """The notes the worker left on the warm-up customers' cut effects (one per effect name)."""
    notes: dict[str, set] = {}
    for name, note in conn.execute(
        "SELECT o.name, o.note FROM outbox_effects o JOIN status_changes s ON s.id = o.transition_id "
        "WHERE o.customer_id BETWEEN %s AND %s AND s.source = 'scheduler'",
        (lo, hi),
    ):
        notes.setdefault(name, set()).add(note)
    odd = {name: found for name, found in notes.items() if len(found) != 1}
    if odd:
        raise RuntimeError(f"the worker left different notes on the same effect: {odd}")
    return {name: found.pop() for name, found in notes.items()}


def write_end_of_cut(url: str, lo: int, hi: int, notes: dict[str, str | None]) -> None:
    from workflow.domain.radius import BLOCKED_GROUP

    params = {
        "lo": lo,
        "hi": hi,
        "blocked": BLOCKED_GROUP,
        "published": None,
        "provision_note": notes.get("provision_suspend"),
        "session_note": notes.get("radius_disconnect"),
        "names": list(notes),
        "notes": list(notes.values()),
    }
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        for statement in END_OF_CUT:
            conn.execute(statement, params)
        conn.commit()


# Per customer, every row that is its: ids and timestamps by presence only, the columns that name
# the customer (its name, document, login, password) left out.
OWN_ROWS = {
    "customers": "id = ANY(%(ids)s)",
    "services": "customer_id = ANY(%(ids)s)",
    "invoices": "customer_id = ANY(%(ids)s)",
    "status_changes": "customer_id = ANY(%(ids)s)",
    "outbox_effects": "customer_id = ANY(%(ids)s)",
    "radius_packets": "customer_id = ANY(%(ids)s)",
    "radcheck": "username IN (SELECT login FROM services WHERE customer_id = ANY(%(ids)s))",
    "radusergroup": "username IN (SELECT login FROM services WHERE customer_id = ANY(%(ids)s))",
}
OWNER = {"customers": "id", "radcheck": "username", "radusergroup": "username"}
NAMING = {"name", "document", "external_ref", "external_id", "login", "login_key", "radius_password", "value"}
PRESENCE = {"claimed_by"}


def fingerprints(conn: psycopg.Connection, ids: list[int]) -> dict[int, tuple]:
    """customer id -> every row of it, normalized (sorted per table)."""
    logins = dict(conn.execute("SELECT login, customer_id FROM services WHERE customer_id = ANY(%s)", (ids,)))
    found: dict[int, dict[str, list]] = {i: {} for i in ids}
    for table, where in OWN_ROWS.items():
        cursor = conn.execute(f"SELECT * FROM {table} WHERE {where}", {"ids": ids})
        names = [d.name for d in cursor.description]
        owner = OWNER.get(table, "customer_id")
        for row in cursor:
            values = dict(zip(names, row, strict=True))
            key = values[owner]
            customer = logins[key] if owner == "username" else key
            found[customer].setdefault(table, []).append(
                tuple(sorted((n, normalized(n, v)) for n, v in values.items() if n not in NAMING and n != "username"))
            )
    return {
        i: tuple((t, tuple(sorted(map(repr, rows)))) for t, rows in sorted(tables.items()))
        for i, tables in found.items()
    }


def normalized(name: str, value):
    if name == "id" or name.endswith("_id") or name in PRESENCE or isinstance(value, datetime):
        return value is not None
    return value


def same_as_the_product(conn: psycopg.Connection, reference: list[int], sample: list[int]) -> None:
    """Every reference customer (the worker's end state) alike, and every sampled one the same."""
    ref = fingerprints(conn, reference)
    kinds = Counter(ref.values())
    if len(kinds) != 1:
        raise RuntimeError(f"the worker left {len(kinds)} different states on the warm-up customers")
    [expected] = kinds
    for customer, print_ in fingerprints(conn, sample).items():
        if print_ != expected:
            want, have = dict(expected), dict(print_)
            diff = {
                t: {
                    "product": sorted(set(want.get(t, ())) - set(have.get(t, ()))),
                    "seeded": sorted(set(have.get(t, ())) - set(want.get(t, ()))),
                }
                for t in want.keys() | have.keys()
                if want.get(t) != have.get(t)
            }
            raise RuntimeError(f"seeded customer {customer} differs from the product's end state: {diff}")


# --------------------------------------------------------------------------------------------
# Senders
# --------------------------------------------------------------------------------------------


def batches_of(customers: list[int], size: int) -> list[bytes]:
    paid_at = datetime.now(UTC).isoformat()
    bodies = []
    for start in range(0, len(customers), size):
        events = [
            {
                "id": f"pay-{cid}",
                "type": "invoice.paid",
                "data": {"invoice_id": f"late-{cid}", "customer_id": cid, "amount": AMOUNT, "paid_at": paid_at},
            }
            for cid in customers[start : start + size]
        ]
        bodies.append(json.dumps({"events": events}, separators=(",", ":")).encode())
    return bodies


class Posting:
    """Batches posted by sender threads, each taking the next as soon as its last is answered."""

    def __init__(self, clients: list[httpx.Client], secret: str, bodies: list[bytes], prefix: str):
        self.clients, self.signer, self.bodies, self.prefix = clients, Webhook(secret), bodies, prefix
        self.answers: list[tuple[int, dict | str] | None] = [None] * len(bodies)
        self.answered_at: list[float] = [0.0] * len(bodies)
        self.first_sent = 0.0
        self.next = iter(range(len(bodies)))
        self.lock = threading.Lock()

    def run(self) -> tuple[float, float]:
        """(first request sent, last answer received), wall times."""
        pool = ThreadsStartingTogether(len(self.clients), self._send, name="sender").start()
        pool.release()
        pool.join()
        return self.first_sent, max(self.answered_at)

    def _send(self, i: int) -> None:
        while True:
            with self.lock:
                k = next(self.next, None)
                if k is not None and not self.first_sent:
                    self.first_sent = time.time()
            if k is None:
                return
            body, webhook_id, now = self.bodies[k], f"{self.prefix}-{k}", datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(webhook_id, now, body.decode()),
            }
            try:
                response = self.clients[i].post(BATCH_PATH, content=body, headers=headers)
                try:
                    self.answers[k] = (response.status_code, response.json())
                except ValueError:
                    self.answers[k] = (response.status_code, response.text[:300])
            except httpx.HTTPError as error:
                self.answers[k] = (0, f"{type(error).__name__}: {error}")
            self.answered_at[k] = time.time()

    def outcomes(self) -> tuple[Counter, list[str]]:
        """Counts of (status, reactivated) over every event; the batches answered otherwise than 200."""
        counts: Counter = Counter()
        bad: list[str] = []
        for k, answer in enumerate(self.answers):
            if answer is None or answer[0] != 200 or not isinstance(answer[1], dict):
                bad.append(f"batch {k}: {answer}")
                continue
            counts.update((r["status"], r["reactivated"]) for r in answer[1]["results"])
        return counts, bad


# --------------------------------------------------------------------------------------------
# Measuring and verifying
# --------------------------------------------------------------------------------------------


def wait_restored(conn: psycopg.Connection, lo: int, hi: int, *processes: WorkflowProcess) -> None:
    """Until every customer lo..hi is active with its service active and no effect is pending."""

    began, said = time.monotonic(), [time.monotonic()]

    def done() -> bool:
        left, pending = conn.execute(
            "SELECT count(*) FILTER (WHERE c.status <> 'active' OR s.status <> 'active'), "
            "(SELECT count(*) FROM outbox_effects WHERE state = 'pending') FROM customers c "
            "JOIN services s ON s.customer_id = c.id WHERE c.id BETWEEN %s AND %s",
            (lo, hi),
        ).fetchone()
        if time.monotonic() - said[0] > PROGRESS_EVERY:
            said[0] = time.monotonic()
            print(
                f"  {said[0] - began:.0f} s: {hi - lo + 1 - left} restored, {pending} effect(s) pending",
                file=sys.stderr,
                flush=True,
            )
        return left == 0

    wait_until(done, 3600, "every customer restored", *processes, interval=0.25)
    wait_settled(conn, *processes, stall_timeout=60, interval=0.25)


def stamps(conn: psycopg.Connection, lo: int, hi: int) -> dict[str, float]:
    """Wall times the product stamped for the measured activations."""
    row = conn.execute(
        "SELECT max(o.completed_at) FILTER (WHERE o.name = 'restore_services'), "
        "max(o.completed_at) FROM status_changes s JOIN outbox_effects o ON o.transition_id = s.id "
        "WHERE s.customer_id BETWEEN %s AND %s AND s.source = 'billing'",
        (lo, hi),
    ).fetchone()
    return {"restored": row[0].timestamp(), "settled": row[1].timestamp()}


def verify(conn: psycopg.Connection, lo: int, hi: int, receiver: WebhookReceiver, plan_group: str) -> list[str]:
    n = hi - lo + 1
    problems: list[str] = []

    def one(sql: str, *params):
        return conn.execute(sql, params).fetchone()

    row = one(
        "SELECT count(*) FILTER (WHERE NOT (c.status = 'active' AND c.inactivation_reason IS NULL "
        "AND c.invoicing_enabled)), count(*) FILTER (WHERE NOT (s.status = 'active' AND s.suspension_cause IS NULL)), "
        "count(*) FILTER (WHERE NOT (i.status = 'paid' AND i.amount_paid = i.amount)), count(*) "
        "FROM customers c JOIN services s ON s.customer_id = c.id JOIN invoices i ON i.customer_id = c.id "
        "WHERE c.id BETWEEN %s AND %s",
        lo,
        hi,
    )
    if row != (0, 0, 0, n):
        problems.append(
            f"end state: {row[0]} customer(s) not active with invoicing on, {row[1]} service(s) not active, "
            f"{row[2]} invoice(s) not paid exactly once, {row[3]} rows for {n} customers"
        )
    history = Counter(
        (total, billing)
        for total, billing in conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE source = 'billing' AND event = 'activate') FROM status_changes "
            "WHERE customer_id BETWEEN %s AND %s GROUP BY customer_id",
            (lo, hi),
        )
    )
    if history != Counter({(4, 1): n}):
        problems.append(f"(history rows, billing activations) per customer -> customers: {dict(history)}")
    events = one(
        "SELECT count(*), count(DISTINCT webhook_id), count(transition_id) FROM billing_events "
        "WHERE customer_id BETWEEN %s AND %s",
        lo,
        hi,
    )
    if events != (n, n, n):
        problems.append(f"billing_events: {events} (rows, webhook-ids, with a transition), expected {n} each")
    names = Counter()
    for fx in conn.execute(
        "SELECT string_agg(o.name, ',' ORDER BY o.name) FROM status_changes s JOIN outbox_effects o "
        "ON o.transition_id = s.id WHERE s.customer_id BETWEEN %s AND %s AND s.source = 'billing' GROUP BY s.id",
        (lo, hi),
    ):
        names[fx[0]] += 1
    expected = ",".join(sorted(RESTORE_EFFECTS.elements()))
    if names != Counter({expected: n}):
        problems.append(f"effects per activation: {dict(names)}, expected {expected} x {n}")
    states = Counter(
        dict(
            conn.execute(
                "SELECT o.state || ' attempt ' || o.attempts, count(*) FROM status_changes s JOIN outbox_effects o "
                "ON o.transition_id = s.id WHERE s.customer_id BETWEEN %s AND %s AND s.source = 'billing' GROUP BY 1",
                (lo, hi),
            ).fetchall()
        )
    )
    if states != Counter({"done attempt 1": n * sum(RESTORE_EFFECTS.values())}):
        problems.append(f"effects of the activations by state and attempt: {dict(states)}")
    pending = one("SELECT count(*) FROM outbox_effects WHERE state <> 'done'")[0]
    if pending:
        problems.append(f"{pending} effect(s) in the database not done")
    groups = Counter(
        dict(
            conn.execute(
                "SELECT g.groupname, count(*) FROM radusergroup g JOIN services s ON s.login = g.username "
                "WHERE s.customer_id BETWEEN %s AND %s GROUP BY 1",
                (lo, hi),
            ).fetchall()
        )
    )
    if groups != Counter({plan_group: n}):
        problems.append(f"logins by group: {dict(groups)}, expected {plan_group} x {n}")
    deliveries, bad_signatures = receiver.received()
    # Delivered for real: the warm-up customers' cut and every payment's; the rest was seeded.
    wanted = {
        (DELIVERING[name], f"effect_{i}")
        for name, i in conn.execute(
            "SELECT o.name, o.id FROM outbox_effects o JOIN status_changes s ON s.id = o.transition_id "
            "WHERE o.state = 'done' AND o.name = ANY(%s) "
            "AND ((o.customer_id < %s AND s.source = 'scheduler') OR s.source = 'billing')",
            (list(DELIVERING), lo),
        )
    }
    missing, unexpected = wanted - deliveries.keys(), deliveries.keys() - wanted
    repeated = {k: v for k, v in deliveries.items() if v > 1}
    if missing or unexpected or repeated:
        problems.append(
            f"webhook deliveries: {len(missing)} missing, {len(unexpected)} unexpected, {len(repeated)} repeated "
            f"{dict(list(repeated.items())[:5])}"
        )
    if bad_signatures:
        problems.append(f"{len(bad_signatures)} webhook delivery(ies) with a bad signature")
    return problems


def baseline(url: str, lo: int, hi: int) -> float:
    """The measured customers put back to inactive (unmeasured), then the bare status change in
    one set-based UPDATE, committed: seconds."""
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute(
            "UPDATE customers SET status = 'inactive', inactivation_reason = 'delinquency' WHERE id BETWEEN %s AND %s",
            (lo, hi),
        )
        conn.execute("VACUUM (ANALYZE) customers")
        conn.execute("CHECKPOINT")
    with psycopg.connect(psycopg_dsn(url)) as conn:
        began = time.perf_counter()
        changed = conn.execute(
            "UPDATE customers SET status = 'active', inactivation_reason = NULL, status_changed_at = now(), "
            "version = version + 1, updated_at = now() "
            "WHERE id BETWEEN %s AND %s AND status = 'inactive' AND inactivation_reason = 'delinquency'",
            (lo, hi),
        ).rowcount
        conn.commit()
        seconds = time.perf_counter() - began
    if changed != hi - lo + 1:
        raise RuntimeError(f"baseline: {changed} customers changed, expected {hi - lo + 1}")
    return seconds


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=50_000, help="customers paying, one event each (50,000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per batch (default 1000)")
    parser.add_argument("--senders", type=int, default=2, help="sender threads posting batches (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="ATIVA_WORKER_CONCURRENCY of the worker (4)")
    parser.add_argument("--warm-up", type=int, default=200, help="warm-up customers, cut by the worker (200)")
    parser.add_argument("--sample", type=int, default=1000, help="seeded customers compared with the warm-up's")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE", help="an ATIVA_ setting of the API and worker"
    )
    add_database_url_argument(parser)
    add_redis_url_argument(parser, DEFAULT_REDIS_URL)
    args = parser.parse_args()
    if min(args.customers, args.batch, args.senders, args.concurrency, args.warm_up, args.sample) < 1:
        parser.error("every count must be positive")
    if args.batch > 10_000 or any("=" not in s for s in args.setting):
        parser.error("--batch is at most 10000; --setting takes NAME=VALUE")
    return args


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: everything is cleaned up


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    print(f"$ {printable_command()}", flush=True)
    began_all = time.perf_counter()
    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created
    warm_n, n = args.warm_up, args.customers
    warm = list(range(1, warm_n + 1))
    lo, hi = warm_n + 1, warm_n + n
    measured_ids = list(range(lo, hi + 1))
    tmp = Path(tempfile.mkdtemp(prefix="ativa_bench_payments_batch_"))
    receiver: WebhookReceiver | None = None
    api = worker = None
    db: Database | None = None
    conn: psycopg.Connection | None = None
    clients: list[httpx.Client] = []
    ok = False
    try:
        r.flushdb()
        db = Database(url)
        migrate.upgrade(db.engine)
        # This process cuts through the use-case layer with no publisher: nothing reaches the broker
        # until the warm-up customers' effects are published on purpose.
        from workflow.domain.radius import plan_group
        from workflow.settings import Settings
        from workflow.usecases import effect_bus, tokens
        from workflow.usecases.business_day import provider_today

        effect_bus.install_publisher(None)
        today = provider_today()
        t = time.perf_counter()
        settings = Settings.model_construct(database_url=url)
        seeded = seed_subscribers(url, settings, warm_n + n, today - timedelta(days=SWEEP_DAYS_LATE))
        cut_seconds = cut_everyone(db, settings, lo, hi, today)  # no publisher yet: effects left pending
        with db.write() as session:  # so `serve` does not mint (and print) a first admin token
            tokens.create_token(session, "bench", "admin")
        seed_seconds = time.perf_counter() - t

        receiver = WebhookReceiver().start()
        inbound_secret = new_secret()
        env = workflow_environment(
            data_dir=str(tmp / "var"),
            database_url=url,
            broker_url=args.redis_url,
            billing_inbound_secret=inbound_secret,
            worker_concurrency=str(args.concurrency),
            access_log="false",
            **receiver.settings(provisioning=True),
            **dict(s.split("=", 1) for s in args.setting),
        )
        port = free_port()
        worker = WorkflowProcess(["worker"], env, tmp / "worker.log")
        api = WorkflowProcess(
            ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)], env, tmp / "api.log"
        )
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 60, "the API server", api, worker)
        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)

        # -- the warm-up customers' cut carried out by the worker; the others' end state in SQL --
        for variable, value in env.items():
            if variable.startswith("ATIVA_"):
                os.environ[variable] = value
        from workflow.application import connect_workers
        from workflow.settings import get_settings

        get_settings.cache_clear()
        connect_workers()  # the warm-up customers' cut is published to the worker after its commit
        cut_seconds += cut_everyone(db, get_settings(), 1, warm_n, today)
        wait_until(
            lambda: (
                not conn.execute(
                    "SELECT count(*) FROM outbox_effects WHERE state = 'pending' AND customer_id <= %s", (warm_n,)
                ).fetchone()[0]
            ),
            600,
            "the warm-up customers' cut carried out",
            api,
            worker,
        )
        t = time.perf_counter()
        write_end_of_cut(url, lo, hi, end_of_cut_notes(conn, 1, warm_n))
        step = max(1, n // args.sample)
        same_as_the_product(conn, warm, measured_ids[::step][: args.sample])
        conn.execute("VACUUM (ANALYZE)")
        checkpoint(url)
        seed_seconds += time.perf_counter() - t

        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        print(
            f"\nPostgreSQL {pg_version}, Redis {r.info('server')['redis_version']} ({args.redis_url}), database "
            f"{name}; {os.cpu_count()} CPU(s); Python {sys.version.split()[0]}\n"
            f"API: `python -m workflow serve --no-worker` (access log off); worker: `python -m workflow worker` "
            f"(prefork, concurrency {args.concurrency}, no beat); billing and provisioning calls to a loopback "
            f"receiver; RADIUS in the same database"
            + (f"; settings {', '.join(args.setting)}" if args.setting else "")
            + f"\nseeded in {seed_seconds:.1f} s (the product's batch cut {cut_seconds:.1f} s): {warm_n + n} "
            f"customers inactive for delinquency, each a suspended service with its login blocked and an "
            f"invoice {SWEEP_DAYS_LATE} days overdue; {warm_n} cut by the worker, {n} in SQL, "
            f"{min(args.sample, len(measured_ids[::step]))} of those compared row by row with them: equal",
            flush=True,
        )

        clients = [httpx.Client(base_url=base_url, timeout=600) for _ in range(args.senders)]
        for client in clients:  # connected before any clock runs
            client.get("/healthz").raise_for_status()

        # -- warm-up: not measured --
        warm_up = Posting(clients, inbound_secret, batches_of(warm, -(-warm_n // args.senders)), "warm")
        warm_up.run()
        counts, bad = warm_up.outcomes()
        if bad or counts != Counter({("accepted", True): warm_n}):
            raise RuntimeError(f"warm-up: {dict(counts)} {bad[:2]}\n{api.tail()}")
        wait_settled(conn, api, worker)

        # -- measured run --
        bodies = batches_of(measured_ids, args.batch)
        posting = Posting(clients, inbound_secret, bodies, "batch")
        cpu_before = cpu_snapshot(process_class(api.pid, worker.pid, name))
        done_posting: list[tuple[float, float]] = []
        sending = threading.Thread(target=lambda: done_posting.append(posting.run()), name="posting")
        sending.start()
        wait_until(lambda: posting.first_sent, 60, "the first request")
        wait_until(lambda: not sending.is_alive(), 3600, "every batch answered", api, worker, interval=0.25)
        wait_restored(conn, lo, hi, api, worker)
        run_cpu = cpu_delta(cpu_before, cpu_snapshot(process_class(api.pid, worker.pid, name)), CPU_CLASSES, ELSEWHERE)
        first_sent, last_answer = done_posting[0]
        stamped = stamps(conn, lo, hi)
        time.sleep(1.0)  # a late duplicate webhook delivery would land here
        counts, bad = posting.outcomes()

        # -- verification --
        problems: list[str] = []
        if bad or counts != Counter({("accepted", True): n}):
            problems.append(f"answers: {dict(counts)}, expected {n} accepted and reactivated; {bad[:2]}")
        problems += verify(conn, lo, hi, receiver, plan_group(seeded["plan_id"]))
        again = Posting(clients[:1], inbound_secret, bodies[:1], "again")
        again.run()
        counts, bad = again.outcomes()
        if bad or counts != Counter({("duplicate", False): min(args.batch, n)}):
            problems.append(f"the first batch posted again: {dict(counts)} {bad[:2]}")
        for process, label in ((api, "API"), (worker, "worker")):
            if lines := process.errors():
                problems.append(f"{len(lines)} error line(s) in the {label} log, first: {lines[0]}")

        base_seconds = baseline(url, lo, hi)

        # -- report --
        accepted_s = last_answer - first_sent
        restored_s = stamped["restored"] - first_sent
        settled_s = stamped["settled"] - first_sent
        print()
        print(
            "| events | batches | senders | s to all accepted | s to all restored "
            "| s to all settled | events/s (settled) | baseline UPDATE s | ratio | under 120 s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        print(
            f"| {n:,} | {len(bodies)} | {args.senders} | {accepted_s:.1f} | {restored_s:.1f} "
            f"| {settled_s:.1f} | {n / settled_s:,.0f} | {base_seconds:.2f} | {settled_s / base_seconds:,.0f} "
            f"| {'pass' if settled_s < AIM_SECONDS and not problems else 'fail'} |"
        )
        print()
        if run_cpu.get("_total"):
            seconds = max(settled_s, 1e-9)
            print(f"CPU from the first request until all settled ({seconds:.1f} s), /proc:")
            print()
            print("| process | CPU s | CPU ms per event | share of one CPU |")
            print("|---|---:|---:|---:|")
            for key in (*CPU_CLASSES, ELSEWHERE):
                print(
                    f"| {key} | {run_cpu[key]:.1f} | {1000 * run_cpu[key] / n:.2f} "
                    f"| {100 * run_cpu[key] / seconds:.0f} % |"
                )
            print(
                f"| machine busy (all {os.cpu_count()} CPUs) | | | {100 * run_cpu['_busy'] / run_cpu['_total']:.0f} % |"
            )
            print()
        if problems:
            print("VERIFICATION FAILED:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(
                f"verified: {n} events accepted and reactivating once (a batch posted again: all duplicates); "
                f"every customer active with invoicing on, its service active, its login in its plan's group, "
                f"its invoice paid once, one activation each with its {sum(RESTORE_EFFECTS.values())} effects done "
                f"on the first attempt; one signed delivery per done call; no error logged; "
                f"total {time.perf_counter() - began_all:.0f} s"
            )
        ok = not problems
        return 0 if ok else 1
    finally:
        for client in clients:
            client.close()
        for process in (api, worker):
            if process is not None:
                process.stop()
                if not ok:
                    print(f"\n{process.log.name} tail ({process.log}):\n{process.tail(20)}", file=sys.stderr)
        if receiver is not None:
            receiver.stop()
        if conn is not None:
            conn.close()
        if db is not None:
            db.dispose()
        close_broker_connections()
        try:
            drop_database(args.database_url, name)
        finally:
            r.flushdb()
            r.close()
        if ok:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
