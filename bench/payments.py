"""Payment → reactivation → services restored, end to end over HTTP, at a fixed rate.

    .venv/bin/python bench/payments.py [--rate 50] [--events 1500] [--threads 32] [--concurrency 4]
                                       [--pool prefork]
                                       [--no-provisioning] [--redis-url redis://127.0.0.1:6379/7]
                                       [--database-url URL]

Set-up
------
* --database-url (default: $ATIVA_BENCH_POSTGRES_URL, else
  postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is an *admin* URL: a throwaway database
  ``ativa_bench_<random>`` is created, migrated with workflow.db.migrate.upgrade and dropped
  (WITH (FORCE)) at the end, even on error.
* --redis-url names a Redis database index used as the Celery broker; it is FLUSHDB'd at start and
  at the end. Use an index nothing else uses.
* Two real subprocesses, each in its own process group (SIGTERM, then SIGKILL of the group): the
  API, ``python -m workflow serve --no-worker --port P``, and one worker, ``python -m workflow
  worker`` (ATIVA_WORKER_POOL = --pool, prefork unless told; ATIVA_WORKER_CONCURRENCY =
  --concurrency; no --beat: no relay, no reconciler, no sweep; every effect is carried by the fast
  path, and a lost message would stall the run and fail it). Their environment: ATIVA_DATABASE_URL,
  ATIVA_BROKER_URL, ATIVA_BILLING_INBOUND_SECRET (a whsec_ secret generated per run), and, pointing
  at a loopback HTTP server in this process, ATIVA_BILLING_WEBHOOK_URL/SECRET (notify_billing is a
  real call) and, unless --no-provisioning, ATIVA_PROVISIONING_WEBHOOK_URL/SECRET (restoring a
  service also makes a provision_restore call). The loopback server checks every signature and
  counts deliveries per webhook-id.

Seeding (not measured): the start state written directly, history through the product's code
------------------------------------------------------------------------------------------------
--events customers (plus the warm-up ones) are inserted as ORM rows (Customer, Service, Invoice:
every column the models define, filled as create_customer / add_service would), each with one
active service and one open invoice of 99.90 due 30 days ago; then, in the same transaction, each
is inactivated for delinquency by usecases.transitions.transition_customer (source scheduler, as
the sweep would: the status_changes row and its three outbox rows), and the end state the worker
would reach is written in SQL: service suspended with cause customer_inactive, invoicing paused,
the three effects ``done`` (attempts 1, note SEED_NOTE). No publisher is installed in this process,
so none of it reaches the broker; the seeded state is checked before the run. (Driving the
suspensions through the worker as well costs a minute per 1,500 customers on two cores.)

Warm-up (not measured): 2 x --threads customers get their payment first, at the same rate, and
the script waits until their effects are settled (API thread pool and connection pool, worker pool
processes and their HTTP clients all warm).

Measured run
------------
--threads sender threads, each with its own httpx.Client (keep-alive, connected before the
clock starts), follow one open-loop schedule: event k is due at start + k / --rate, whatever the
answers before it took. Each event is an ``invoice.paid`` for a different customer's invoice (the
full amount), signed per Standard Webhooks with a fresh timestamp at send time, webhook-id
``pay-<customer>``. 1 % of events (at least one) are delivered a second time, as a billing system's
retry would: same webhook-id and body, re-signed, due 1 s after the original and never sent before
the original's answer is in; they must get ``200 {"status": "duplicate"}`` and change nothing.

Per event (wall clocks of the same machine, UTC):
* HTTP latency: request sent → response received (perf_counter).
* accepted: wall time the 202 was received by the sender.
* The activation transition it caused is the customer's status_changes row with source ``billing``
  (written by workflow.usecases.billing; one customer per event); its effects are restore_services, resume_invoicing,
  notify_billing and the provision_restore that restore_services creates.
* accepted → services restored = restore_services.completed_at − accepted (the worker stamps
  completed_at just before its COMMIT). It can be negative: the API publishes the task after its
  COMMIT and before the response leaves, so a fast worker may finish first.
* accepted → provisioning told = provision_restore.completed_at − accepted.
* accepted → all effects done = max(completed_at) of the transition's effects − accepted.
* events/s achieved = 202s / (first request sent → last 202 received).
The schedule's lateness (request sent − due time) is printed: a late sender would hide latency.
The API runs with ATIVA_ACCESS_LOG=false unless --access-log (a log line per request costs the API
~5 % of its CPU, for a log nobody reads here).

CPU accounting
--------------
On Linux /proc is read before and after the measured run (until all effects settled): CPU ms per
event for the API server, the worker's main and pool processes, PostgreSQL, Redis and this
process (senders and the loopback webhook server), and how busy the machine was.

Verification
------------
Every original event answered 202 exactly once (reactivated, invoice paid), every duplicate
200 duplicate; one billing_events row per webhook-id; every customer active with invoicing on,
its service active, its invoice paid once (amount_paid = amount), exactly two transitions
(the seeded inactivation and one activation); every effect settled ``done`` on its first attempt;
one delivery per done notify_billing / provision_* effect, every signature valid; no ERROR or
Traceback in the API or worker log.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(ROOT))

from bench.harness.cpu import command_line, cpu_delta, cpu_snapshot  # noqa: E402
from bench.harness.customers import fresh_cpfs  # noqa: E402
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
from bench.harness.report import percentile, printable_command  # noqa: E402
from bench.harness.webhooks import BILLING, PROVISIONING, WebhookReceiver, new_secret  # noqa: E402
from workflow.db import migrate  # noqa: E402
from workflow.db.engine import Database  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
EVENTS_PATH = "/api/v1/billing/events"
INVOICE_AMOUNT = Decimal("99.90")
OVERDUE_DAYS = 30
DUPLICATE_SHARE = 0.01
DUPLICATE_DELAY = 1.0  # seconds after the original's due time
AIM_P99_MS = 1000.0
AIM_CPU_MS = 10.0  # per event, summed over the API, the worker (main and pool), PostgreSQL and Redis
SEED_NOTE = "seeded: end state written by bench/payments.py"  # seeded effects: never delivered


# --------------------------------------------------------------------------------------------
# Seeding: real service code, real worker
# --------------------------------------------------------------------------------------------


def seed_delinquent(db: Database, count: int, cpfs: set[str], today, batch: int = 500) -> list[int]:
    """Customers with one service and one open invoice due OVERDUE_DAYS ago (ORM rows, every
    column the models define filled by them), inactivated for delinquency by the product's
    transition_customer (history and outbox rows as the sweep writes them); then the end state
    the worker would reach is written in the same transaction: services suspended with cause
    customer_inactive, invoicing paused, the effects `done`. No publisher is installed in this
    process, so nothing reaches the broker."""
    from sqlalchemy import update

    from workflow.db.models import Customer, Invoice, OutboxEffect, Service
    from workflow.db.types import utcnow
    from workflow.domain.customer_machine import TransitionRequest
    from workflow.domain.documents import parse_document
    from workflow.domain.vocabulary import (
        CustomerEvent,
        CustomerStatus,
        EffectState,
        InactivationReason,
        InvoiceStatus,
        Role,
        ServiceStatus,
        Source,
        SuspensionCause,
    )
    from workflow.usecases import transitions

    new_cpfs = fresh_cpfs(cpfs)
    actor = transitions.Actor("bench:seed", Role.OPERATOR)
    request = TransitionRequest(InactivationReason.DELINQUENCY.value, "bench seed", actor_role=Role.OPERATOR)
    ids: list[int] = []
    while len(ids) < count:
        now = utcnow()
        rows: list[Customer] = []
        while len(rows) < min(batch, count - len(ids)):
            n, doc = len(cpfs), parse_document(next(new_cpfs))
            rows.append(
                Customer(
                    name=f"Bench {n}",
                    document=doc.digits,
                    document_type=doc.type,
                    email=None,
                    phone=None,
                    external_ref=f"bench-c{n}",
                    status=CustomerStatus.ACTIVE.value,
                    inactivation_reason=None,
                    status_changed_at=now,
                    invoicing_enabled=True,
                    auto_block_exempt=False,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
        with db.write() as session:
            session.add_all(rows)
            session.flush()
            chunk = [c.id for c in rows]
            session.add_all(
                [
                    Service(
                        customer_id=cid,
                        name="Fibra 500",
                        external_ref=f"bench-s{cid}",
                        status=ServiceStatus.ACTIVE.value,
                        suspension_cause=None,
                        suspension_note=None,
                        suspended_at=None,
                        cancelled_at=None,
                        created_at=now,
                        updated_at=now,
                    )
                    for cid in chunk
                ]
            )
            session.add_all(
                [
                    Invoice(
                        external_id=f"bench-inv-{cid}",
                        customer_id=cid,
                        amount=INVOICE_AMOUNT,
                        amount_paid=Decimal(0),
                        due_date=today - timedelta(days=OVERDUE_DAYS),
                        status=InvoiceStatus.OPEN.value,
                        paid_at=None,
                        created_at=now,
                        updated_at=now,
                    )
                    for cid in chunk
                ]
            )
            session.flush()
            for cid in chunk:
                transitions.transition_customer(
                    session, cid, CustomerEvent.INACTIVATE, request, actor, Source.SCHEDULER, today=today
                )
            done = utcnow()
            session.execute(
                update(Service)
                .where(Service.customer_id.in_(chunk))
                .values(
                    status=ServiceStatus.SUSPENDED.value,
                    suspension_cause=SuspensionCause.CUSTOMER_INACTIVE.value,
                    suspension_note=None,
                    suspended_at=done,
                    updated_at=done,
                ),
                execution_options={"synchronize_session": False},
            )
            session.execute(
                update(Customer).where(Customer.id.in_(chunk)).values(invoicing_enabled=False),
                execution_options={"synchronize_session": False},
            )
            session.execute(
                update(OutboxEffect)
                .where(OutboxEffect.customer_id.in_(chunk), OutboxEffect.state == EffectState.PENDING.value)
                .values(
                    state=EffectState.DONE.value, attempts=1, claimed_until=None, completed_at=done, note=SEED_NOTE
                ),
                execution_options={"synchronize_session": False},
            )
        ids += chunk
    return ids


def check_seeded(conn: psycopg.Connection, customers: list[int]) -> None:
    bad = conn.execute(
        """
        SELECT count(*) FROM customers c JOIN services s ON s.customer_id = c.id
        WHERE c.id = ANY(%s) AND NOT (
            c.status = 'inactive' AND c.inactivation_reason = 'delinquency' AND NOT c.invoicing_enabled
            AND s.status = 'suspended' AND s.suspension_cause = 'customer_inactive')
        """,
        (customers,),
    ).fetchone()[0]
    states = dict(
        conn.execute(
            "SELECT name || ' ' || state, count(*) FROM outbox_effects WHERE customer_id = ANY(%s) GROUP BY 1",
            (customers,),
        ).fetchall()
    )
    expected = {
        "suspend_services done": len(customers),
        "pause_invoicing done": len(customers),
        "notify_billing done": len(customers),
    }
    if bad or states != expected:
        raise RuntimeError(
            f"seeding did not reach the expected state: {bad} customer(s) off; effects {states}, expected {expected}"
        )


# --------------------------------------------------------------------------------------------
# Open-loop senders
# --------------------------------------------------------------------------------------------


@dataclass
class Shot:
    customer_id: int
    webhook_id: str
    body: str
    due: float  # seconds after the schedule's start
    original: Shot | None = None  # set on a duplicate delivery
    sent: float | None = None  # wall time the request left
    accepted: float | None = None  # wall time the response arrived
    http_ms: float | None = None
    lateness_ms: float | None = None
    status: int | None = None
    answer: dict | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def paid_event(customer_id: int, paid_at: datetime) -> str:
    return json.dumps(
        {
            "type": "invoice.paid",
            "data": {
                "invoice_id": f"bench-inv-{customer_id}",
                "customer_id": customer_id,
                "amount": str(INVOICE_AMOUNT),
                "paid_at": paid_at.isoformat(),
            },
        },
        separators=(",", ":"),
    )


def build_schedule(customers: list[int], rate: float, duplicates: int) -> list[Shot]:
    paid_at = datetime.now(UTC)
    shots = [Shot(cid, f"pay-{cid}", paid_event(cid, paid_at), k / rate) for k, cid in enumerate(customers)]
    if duplicates:
        picks = sorted({int((j + 0.5) * len(shots) / duplicates) for j in range(duplicates)})
        for k in picks:
            o = shots[k]
            shots.append(Shot(o.customer_id, o.webhook_id, o.body, o.due + DUPLICATE_DELAY, original=o))
    shots.sort(key=lambda s: s.due)
    return shots


def run_schedule(clients: list[httpx.Client], secret: str, shots: list[Shot]) -> tuple[float, float]:
    """Each thread takes the next due shot, sleeps until it is due, sends it. Returns the wall
    times of the schedule's start and of the last answer."""
    signer = Webhook(secret)
    position = iter(range(len(shots)))
    lock = threading.Lock()
    start = [0.0]

    def body(i: int) -> None:
        client = clients[i]
        while True:
            with lock:
                k = next(position, None)
            if k is None:
                return
            shot = shots[k]
            delay = start[0] + shot.due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if shot.original is not None and not shot.original.done.wait(60):
                shot.error = "original never answered"
                shot.done.set()
                continue
            lateness = (time.monotonic() - start[0] - shot.due) * 1000
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": shot.webhook_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(shot.webhook_id, now, shot.body),
            }
            shot.lateness_ms = lateness
            shot.sent = time.time()
            t = time.perf_counter()
            try:
                response = client.post(EVENTS_PATH, content=shot.body.encode(), headers=headers)
                shot.http_ms = (time.perf_counter() - t) * 1000
                shot.accepted = time.time()
                shot.status = response.status_code
                try:
                    shot.answer = response.json()
                except ValueError:
                    shot.answer = {"raw": response.text[:200]}
            except httpx.HTTPError as error:
                shot.error = f"{type(error).__name__}: {error}"
            shot.done.set()

    pool = ThreadsStartingTogether(len(clients), body, name="sender").start()
    start[0] = time.monotonic() + 0.05
    began = time.time() + 0.05
    pool.release()
    pool.join()
    return began, max((s.accepted for s in shots if s.accepted), default=time.time())


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc)
# --------------------------------------------------------------------------------------------

CPU_CLASSES = ("api server", "worker main", "worker pool", "postgres, this database", "redis", "bench process")
ELSEWHERE = "everything else on the machine"
SERVICE_CPU = CPU_CLASSES[:5]  # the service's own CPU (AIM_CPU_MS): not the senders nor the receiver


def process_class(api_pid: int, worker_pid: int, database: str):
    """Which of CPU_CLASSES a process is in, if any; PostgreSQL backends count only when their
    process title names this run's database (other sessions may share the server)."""
    me = os.getpid()

    def classify(pid: int, ppid: int, comm: str) -> str | None:
        if pid == api_pid or ppid == api_pid:
            return "api server"
        if pid == worker_pid:
            return "worker main"
        if ppid == worker_pid:
            return "worker pool"
        if comm == "postgres":
            return "postgres, this database" if f" {database} " in command_line(pid) else None
        if comm.startswith("redis-server"):
            return "redis"
        return "bench process" if pid == me else None

    return classify


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class EffectRow:
    id: int
    transition_id: int | None
    name: str
    state: str
    attempts: int
    completed_at: float | None


def load_transition_effects(conn: psycopg.Connection, transition_ids: list[int]) -> dict[int, list[EffectRow]]:
    rows = conn.execute(
        "SELECT id, transition_id, name, state, attempts, completed_at FROM outbox_effects "
        "WHERE transition_id = ANY(%s) ORDER BY id",
        (transition_ids,),
    ).fetchall()
    by_transition: dict[int, list[EffectRow]] = {}
    for i, t, n, s, a, c in rows:
        by_transition.setdefault(t, []).append(EffectRow(i, t, n, s, a, c.timestamp() if c else None))
    return by_transition


def database_transactions(conn: psycopg.Connection, database: str) -> int:
    """Committed plus rolled-back transactions of the database so far (pg_stat_database; each
    backend reports when it goes idle, at most a second late)."""
    return conn.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (database,)
    ).fetchone()[0]


def database_sessions(conn: psycopg.Connection, database: str) -> int:
    """Sessions opened on the database so far (pg_stat_database, PostgreSQL 14+): a backend that
    starts and exits during the run is missed by the CPU accounting, so this tells how much was."""
    return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()[0]


def stats_row(label: str, values: list[float]) -> str:
    if not values:
        return f"| {label} | - | - | - |"
    return f"| {label} | {percentile(values, 50):.1f} | {percentile(values, 99):.1f} | {max(values):.1f} |"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="offered events/s (default 50)")
    parser.add_argument("--events", type=int, default=1500, help="invoice.paid events, one per customer (default 1500)")
    parser.add_argument("--threads", type=int, default=32, help="sender threads (default 32)")
    parser.add_argument("--concurrency", type=int, default=4, help="ATIVA_WORKER_CONCURRENCY of the worker (default 4)")
    parser.add_argument(
        "--pool", choices=("prefork", "threads"), default="prefork", help="ATIVA_WORKER_POOL (default prefork)"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="keep the API's access log on (ATIVA_ACCESS_LOG); off by default: a line "
        "per request to a log file nobody reads here",
    )
    parser.add_argument(
        "--no-provisioning",
        action="store_true",
        help="leave ATIVA_PROVISIONING_* unset: restoring makes no provisioning call",
    )
    add_database_url_argument(parser)
    add_redis_url_argument(parser, DEFAULT_REDIS_URL)
    args = parser.parse_args()
    if args.rate <= 0 or min(args.events, args.threads, args.concurrency) < 1:
        parser.error("--rate, --events, --threads and --concurrency must be positive")
    return args


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: everything is cleaned up


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    print(f"$ {printable_command()}", flush=True)
    began_all = time.perf_counter()
    provisioning = not args.no_provisioning

    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created

    tmp = Path(tempfile.mkdtemp(prefix="ativa_bench_payments_"))
    receiver: WebhookReceiver | None = None
    api: WorkflowProcess | None = None
    worker: WorkflowProcess | None = None
    db: Database | None = None
    conn: psycopg.Connection | None = None
    clients: list[httpx.Client] = []
    ok = False
    try:
        r.flushdb()
        db = Database(url)
        migrate.upgrade(db.engine)
        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        redis_version = r.info("server")["redis_version"]
        receiver = WebhookReceiver().start()
        inbound_secret = new_secret()

        # This process seeds through the use-case layer. It never imports workers.app, so no
        # publisher is installed here and the seeded effects never reach the broker.
        from workflow.usecases import effect_bus, tokens
        from workflow.usecases.business_day import provider_today

        effect_bus.install_publisher(None)
        today = provider_today()  # ATIVA_TIMEZONE of this environment, as the API's
        with db.write() as session:  # so `serve` does not mint (and print) a first admin token
            tokens.create_token(session, "bench", "admin")

        env = workflow_environment(
            data_dir=str(tmp / "var"),
            database_url=url,
            broker_url=args.redis_url,
            billing_inbound_secret=inbound_secret,
            worker_concurrency=str(args.concurrency),
            worker_pool=args.pool,
            access_log="true" if args.access_log else "false",
            **receiver.settings(provisioning=provisioning),
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

        # -- seeding (while the subprocesses start) --
        t = time.perf_counter()
        cpfs: set[str] = set()
        warm = seed_delinquent(db, 2 * args.threads, cpfs, today)
        customers = seed_delinquent(db, args.events, cpfs, today)
        check_seeded(conn, warm + customers)
        conn.execute("ANALYZE")  # as autovacuum would have by now on a long-lived database
        seed_seconds = time.perf_counter() - t
        wait_until(healthy, 60, "the API server", api, worker)

        print(
            f"\nPostgreSQL {pg_version}, Redis {redis_version} ({args.redis_url}), database {name}; "
            f"{os.cpu_count()} CPU(s); Python {sys.version.split()[0]}\n"
            f"API: `python -m workflow serve --no-worker` (uvicorn, 1 process, access log "
            f"{'on' if args.access_log else 'off'}); worker: `python -m "
            f"workflow worker` ({args.pool}, concurrency {args.concurrency}, no beat); outbound: billing "
            f"notifications{' and provisioning calls' if provisioning else ''} to a loopback server\n"
            f"seeded in {seed_seconds:.1f} s: {len(warm) + len(customers)} customers inactivated for "
            f"delinquency by transition_customer (1 open invoice {OVERDUE_DAYS} days overdue), the "
            f"effects' end state written in SQL (service suspended, invoicing paused, effects done)\n"
            f"offered: {args.events} invoice.paid events at {args.rate:g}/s from {args.threads} "
            f"sender threads (open loop), {max(1, round(args.events * DUPLICATE_SHARE))} duplicate "
            f"deliveries\n",
            flush=True,
        )

        clients = [httpx.Client(base_url=base_url, timeout=30) for _ in range(args.threads)]
        for client in clients:  # connected before any clock runs
            client.get("/healthz").raise_for_status()

        # -- warm-up: not measured --
        warm_shots = build_schedule(warm, args.rate, 0)
        run_schedule(clients, inbound_secret, warm_shots)
        if any(s.status != 202 for s in warm_shots):
            bad = next(s for s in warm_shots if s.status != 202)
            raise RuntimeError(f"warm-up event answered {bad.status} {bad.answer or bad.error}:\n{api.tail()}")
        wait_settled(conn, api, worker)

        # -- measured run --
        duplicates = max(1, round(args.events * DUPLICATE_SHARE))
        shots = build_schedule(customers, args.rate, duplicates)
        cpu_before = cpu_snapshot(process_class(api.pid, worker.pid, name))
        xacts_before = database_transactions(conn, name)
        sessions_before = database_sessions(conn, name)
        sched_began, last_answer = run_schedule(clients, inbound_secret, shots)
        settled_at, polls = wait_settled(conn, api, worker)
        run_cpu = cpu_delta(cpu_before, cpu_snapshot(process_class(api.pid, worker.pid, name)), CPU_CLASSES, ELSEWHERE)
        time.sleep(1.5)  # late duplicate webhook deliveries would land here; backends flush their stats
        # minus this script's own: the polls and the first reading
        xacts = database_transactions(conn, name) - xacts_before - polls - 1
        sessions = database_sessions(conn, name) - sessions_before
        print(
            f"  sent {len(shots)} requests in {last_answer - sched_began:.2f} s; all effects settled "
            f"{settled_at - last_answer:.2f} s after the last answer",
            flush=True,
        )

        # -- measurements --
        originals = [s for s in shots if s.original is None]
        dupes = [s for s in shots if s.original is not None]
        # Each customer is paid by exactly one original event (webhook-id pay-<customer id>); the
        # verification below fails if any customer got more than its one billing activation.
        transitions_of = {
            f"pay-{cid}": (tid, created.timestamp())
            for tid, cid, created in conn.execute(
                "SELECT id, customer_id, created_at FROM status_changes WHERE event = 'activate' "
                "AND source = 'billing' AND customer_id = ANY(%s)",
                (customers,),
            ).fetchall()
        }
        effects = load_transition_effects(conn, [tid for tid, _ in transitions_of.values()])
        restored_ms, told_ms, all_ms, stamp_to_202_ms = [], [], [], []
        for s in originals:
            if s.accepted is None or s.webhook_id not in transitions_of:
                continue
            tid, created = transitions_of[s.webhook_id]
            fx = effects.get(tid, [])
            stamp_to_202_ms.append((s.accepted - created) * 1000)
            restore = [e.completed_at for e in fx if e.name == "restore_services" and e.completed_at]
            if restore:
                restored_ms.append((restore[0] - s.accepted) * 1000)
            told = [e.completed_at for e in fx if e.name == "provision_restore" and e.completed_at]
            if told:
                told_ms.append((max(told) - s.accepted) * 1000)
            if fx and all(e.completed_at for e in fx):
                all_ms.append((max(e.completed_at for e in fx) - s.accepted) * 1000)
        http_ms = [s.http_ms for s in originals if s.http_ms is not None]
        dup_http_ms = [s.http_ms for s in dupes if s.http_ms is not None]
        lateness = [s.lateness_ms for s in shots if s.lateness_ms is not None]
        accepted_202 = [s for s in originals if s.status == 202]
        first_sent = min(s.sent for s in shots if s.sent)
        achieved = len(accepted_202) / (last_answer - first_sent)
        restore_times = [
            e.completed_at for fx in effects.values() for e in fx if e.name == "restore_services" and e.completed_at
        ]
        restored_rate = len(restore_times) / (max(restore_times) - first_sent) if restore_times else 0.0
        all_fx = [e for fx in effects.values() for e in fx]

        # -- verification --
        problems: list[str] = []
        not_202 = [
            s
            for s in originals
            if s.status != 202
            or not s.answer
            or s.answer.get("status") != "accepted"
            or s.answer.get("reactivated") is not True
            or s.answer.get("invoice_status") != "paid"
        ]
        if not_202:
            s = not_202[0]
            problems.append(
                f"{len(not_202)} original event(s) not answered 202 accepted/reactivated/paid; "
                f"first: {s.webhook_id} {s.status} {s.answer or s.error}"
            )
        bad_dupes = [s for s in dupes if s.status != 200 or s.answer != {"status": "duplicate"}]
        if bad_dupes:
            s = bad_dupes[0]
            problems.append(
                f"{len(bad_dupes)} duplicate(s) not answered 200 duplicate; first: "
                f"{s.webhook_id} {s.status} {s.answer or s.error}"
            )
        answers = Counter((s.webhook_id, s.status) for s in shots)
        twice = [k for k, n in answers.items() if k[1] == 202 and n > 1]
        if twice:
            problems.append(f"{len(twice)} webhook-id(s) answered 202 more than once: {twice[:5]}")
        missing_transition = [s.webhook_id for s in originals if s.webhook_id not in transitions_of]
        if missing_transition or len(transitions_of) != len(originals):
            problems.append(
                f"{len(missing_transition)} event(s) without their activation transition; "
                f"{len(transitions_of)} transitions for {len(originals)} events"
            )
        everyone = warm + customers
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE NOT (c.status = 'active' AND c.inactivation_reason IS NULL
                                                AND c.invoicing_enabled)),
                   count(*) FILTER (WHERE NOT (s.status = 'active' AND s.suspension_cause IS NULL)),
                   count(*) FILTER (WHERE NOT (i.status = 'paid' AND i.amount_paid = i.amount)),
                   count(*)
            FROM customers c JOIN services s ON s.customer_id = c.id JOIN invoices i ON i.customer_id = c.id
            WHERE c.id = ANY(%s)
            """,
            (everyone,),
        ).fetchone()
        if row[:3] != (0, 0, 0) or row[3] != len(everyone):
            problems.append(
                f"end state: {row[0]} customer(s) not active with invoicing on, {row[1]} "
                f"service(s) not active, {row[2]} invoice(s) not paid exactly once, "
                f"{row[3]} rows for {len(everyone)} customers"
            )
        history = Counter(
            n
            for (n,) in conn.execute(
                "SELECT count(*) FROM status_changes WHERE customer_id = ANY(%s) GROUP BY customer_id", (everyone,)
            ).fetchall()
        )
        if history != Counter({2: len(everyone)}):
            problems.append(f"transitions per customer (count -> customers): {dict(history)}, expected 2 each")
        events_rows = conn.execute(
            "SELECT count(*), count(DISTINCT webhook_id) FROM billing_events WHERE customer_id = ANY(%s)", (customers,)
        ).fetchone()
        if events_rows != (len(originals), len(originals)):
            problems.append(
                f"billing_events: {events_rows[0]} row(s), {events_rows[1]} webhook-id(s), "
                f"expected {len(originals)} each"
            )
        expected_names = Counter(
            {
                "restore_services": 1,
                "resume_invoicing": 1,
                "notify_billing": 1,
                **({"provision_restore": 1} if provisioning else {}),
            }
        )
        odd = [tid for tid, fx in effects.items() if Counter(e.name for e in fx) != expected_names]
        if odd:
            problems.append(
                f"{len(odd)} transition(s) without exactly {dict(expected_names)}: "
                f"{[(t, [e.name for e in effects[t]]) for t in odd[:3]]}"
            )
        not_done = [e for e in all_fx if e.state != "done" or e.completed_at is None]
        if not_done:
            problems.append(f"{len(not_done)} effect(s) not done: {Counter(e.state for e in not_done)}")
        retried = [e for e in all_fx if e.attempts != 1]
        if retried:
            problems.append(
                f"{len(retried)} effect(s) needed more than one attempt: {Counter(e.attempts for e in retried)}"
            )
        leftover = conn.execute("SELECT count(*) FROM outbox_effects WHERE state <> 'done'").fetchone()[0]
        if leftover:
            problems.append(f"{leftover} effect(s) in the database not done")
        deliveries, bad_signatures = receiver.received()
        delivering = {"notify_billing": BILLING, "provision_restore": PROVISIONING, "provision_suspend": PROVISIONING}
        expected_deliveries = {
            (delivering[n], f"effect_{i}")
            for n, i in conn.execute(
                "SELECT name, id FROM outbox_effects WHERE state = 'done' AND name = ANY(%s) "
                "AND note IS DISTINCT FROM %s",
                (list(delivering), SEED_NOTE),
            ).fetchall()
        }
        missing = expected_deliveries - deliveries.keys()
        unexpected = deliveries.keys() - expected_deliveries
        repeated = {k: v for k, v in deliveries.items() if v > 1}
        if missing or unexpected or repeated:
            problems.append(
                f"webhook deliveries: {len(missing)} missing, {len(unexpected)} unexpected, "
                f"{len(repeated)} repeated {dict(list(repeated.items())[:5])}"
            )
        if bad_signatures:
            problems.append(f"{len(bad_signatures)} webhook delivery(ies) with a bad signature")
        for process, label in ((api, "API"), (worker, "worker")):
            lines = process.errors()
            if lines:
                problems.append(f"{len(lines)} error line(s) in the {label} log, first: {lines[0]}")
        if len(restored_ms) != len(originals):
            problems.append(f"{len(originals) - len(restored_ms)} event(s) without a restore time")

        # -- report --
        p99_restored = percentile(restored_ms, 99)
        p99_all = percentile(all_ms, 99)
        print()
        print("| measure | p50 | p99 | max |")
        print("|---|---:|---:|---:|")
        print(stats_row("accepted (202) → services restored (restore_services done), ms", restored_ms))
        if provisioning:
            print(stats_row("accepted → provisioning told (provision_restore done), ms", told_ms))
        print(stats_row("accepted → all effects of the transition done, ms", all_ms))
        print(stats_row("HTTP POST latency, events, ms", http_ms))
        print(stats_row("HTTP POST latency, duplicates (200), ms", dup_http_ms))
        print(stats_row("transition row stamped in the API → 202 received, ms", stamp_to_202_ms))
        print(stats_row("sender lateness vs the schedule, ms", lateness))
        print()
        print("| measure | value |")
        print("|---|---:|")
        print(f"| events (one per customer) / duplicate deliveries | {len(originals)} / {len(dupes)} |")
        print(f"| offered events/s | {args.rate:g} |")
        print(f"| events/s achieved (202s / first sent → last answer) | {achieved:.1f} |")
        print(f"| services restored/s (first sent → last restore) | {restored_rate:.1f} |")
        print(
            f"| answered 202 once / duplicates answered 200 duplicate | "
            f"{len(originals) - len(not_202)} / {len(dupes) - len(bad_dupes)} |"
        )
        print(f"| effects of the measured transitions (all done, 1st attempt) | {len(all_fx)} |")
        print(f"| PostgreSQL transactions per event (API + worker, pg_stat_database) | {xacts / len(shots):.1f} |")
        print(f"| PostgreSQL sessions opened during the run (CPU of those that exited is missed) | {sessions} |")
        print()
        if run_cpu.get("_total"):
            seconds = settled_at - sched_began
            print(f"CPU during the measured run ({seconds:.1f} s, first request until all effects settled), /proc:")
            print()
            print("| process | CPU ms per event | share of one CPU |")
            print("|---|---:|---:|")
            for key in (*CPU_CLASSES, ELSEWHERE):
                print(f"| {key} | {1000 * run_cpu[key] / len(originals):.2f} | {100 * run_cpu[key] / seconds:.0f} % |")
            print(
                f"| machine busy (all {os.cpu_count()} CPUs) | | {100 * run_cpu['_busy'] / run_cpu['_total']:.0f} % |"
            )
            print()
        verdict = "met" if p99_restored < AIM_P99_MS and not problems else "not met"
        print(
            f"aim: p99 accepted→services restored under 1 s at {args.rate:g} events/s -> {verdict}"
            f" (p99 {p99_restored:.0f} ms; all effects done p99 {p99_all:.0f} ms)"
        )
        if run_cpu.get("_total"):
            parts = [1000 * run_cpu[key] / len(originals) for key in SERVICE_CPU]
            print(
                f"aim: CPU per event at most {AIM_CPU_MS:g} ms, API + worker main + worker pool + PostgreSQL "
                f"+ Redis = {' + '.join(f'{p:.2f}' for p in parts)} = {sum(parts):.1f} ms -> "
                f"{'met' if sum(parts) <= AIM_CPU_MS else 'not met'}"
            )
        if problems:
            print("\nVERIFICATION FAILED:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(
                f"\nverified: {len(originals)} events answered 202 once, {len(dupes)} duplicates 200 "
                f"and no change; every customer active with its service active and invoice paid once; "
                f"{len(all_fx)} effects done on the first attempt; one signed delivery per done "
                f"notify_billing/provision_* effect; total {time.perf_counter() - began_all:.1f} s"
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
