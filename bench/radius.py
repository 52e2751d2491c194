"""The delinquency sweep cuts N customers with one open session each: how soon has every router
ACKed the Disconnect-Request that drops each session?

    .venv/bin/python bench/radius.py [--customers 10000] [--routers 2] [--concurrency 4]
                                     [--no-billing] [--as-of 2026-12-01] [--stall-timeout 120]
                                     [--database-url URL] [--redis-url redis://127.0.0.1:6379/6]

Set-up
------
* --database-url (default: $ATIVA_BENCH_POSTGRES_URL, else
  postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is an *admin* URL: a throwaway database
  ``ativa_bench_<random>`` is created, migrated and dropped (WITH (FORCE)) at the end, even on
  error. FreeRADIUS's tables live in it (same-database mode, the default on PostgreSQL), created
  and filled with the groups and routers by ``enforcement.prepare``, as ``ativa db upgrade`` does.
* --redis-url names a Redis database index used as the Celery broker; FLUSHDB'd at start and end.
* --routers fake routers (``bench/harness/fake_router.py``) on 127.0.0.2, 127.0.0.3, ..., each on a
  free UDP port with a secret of its own, served by one child process of this script: each checks
  the Request Authenticator and Message-Authenticator of every request with its secret, NAKs one
  without User-Name / Acct-Session-Id or naming another NAS-IP-Address, ACKs the others with a
  signed reply, and records the time of the first ACK of every Acct-Session-Id.
* One real worker, ``python -m workflow worker`` (prefork, --concurrency pool processes, no --beat:
  every effect travels by the fast path, so a lost message stalls the run and fails it), in its
  own process group. Unless --no-billing, billing notifications go to the loopback webhook
  receiver (bench/harness/webhooks.py), as in production a cut also notifies billing.

Seeding (not measured, set-based SQL)
-------------------------------------
--customers active customers, each with one overdue invoice (R$ 99.90, due 30 days before
--as-of: past the 15-day grace, so the sweep cuts every one), one active service with a login
(``cliente<N>``), a password and one plan (``Fibra 300``); the login's FreeRADIUS rows (one
``Cleartext-Password`` radcheck row, one radusergroup row in the plan's group, what
``rows.write_logins`` writes); one open radacct row (acctstoptime NULL, a unique MikroTik-style
acctsessionid, a unique acctuniqueid, a framed IP from 100.64.0.0/10) on the router of its turn
(customer id modulo --routers); and one ``routers`` row per fake router (vendor mikrotik, its
address, port and secret). Then VACUUM ANALYZE.

Measured, in one run
--------------------
1. Baseline: a bare sequential pyrad 2.6 loop (``pyrad.client.Client``, one per router, timeout 2 s,
   3 tries) builds, signs and sends the same N Disconnect-Requests as the product must send
   (User-Name, Acct-Session-Id, NAS-IP-Address, Framed-IP-Address, Message-Authenticator; the
   sessions read from radacct beforehand, unmeasured), to the same fake routers, one at a time,
   each waiting for its ACK. Rate = N / (first send → last ACK).
   For reference, Ativa's own sender alone (``send_packets`` of workers/connectors/radius.py, the
   same packets in one call, concurrent): what the session effects cost with nothing around them.
2. Ativa: the daily sweep, as the scheduler starts it: the task ``workers.tasks.sweep`` with
   --as-of is queued to the worker, which finds the due customers, queues batches of
   ATIVA_SWEEP_BATCH_SIZE, cuts each batch in one transaction (history and outbox rows), then
   carries out the effects: suspend_services moves each login to the blocked group and queues the
   ``radius_disconnect`` effects that send the Disconnect-Requests. Measured:
   * from the sweep's first cut (the earliest ``status_changes.created_at`` of the scheduler's cuts,
     stamped in the cutting transaction just before its COMMIT) until the routers have ACKed a
     Disconnect for every seeded session (the latest first-ACK time the routers recorded); this is
     the figure compared with the baseline (the cut and the disconnects overlap: later batches are
     still being cut while the first disconnects go out);
   * from the sweep's last cut, the same end;
   * from the first cut until every effect is settled (the latest ``outbox_effects.completed_at``).
   Ratio = (N / first cut → all ACKed) / baseline rate; aim ≥ 0.5. The time to reach every router for
   100,000 customers is extrapolated linearly from the run unless --customers is 100000 or more
   (aim: within 2 minutes of the cut).

CPU accounting (/proc, Linux): worker pool processes, worker main process, PostgreSQL, Redis, the
fake routers' process and this process, over step 2.

Verification
------------
Every customer inactive for delinquency with its service suspended; every login's FreeRADIUS rows
exactly one radcheck row and one radusergroup row, in ``ativa_bloqueado``; one
``radius_disconnect`` effect per service, all ``done``; one ``radius_packets`` row per session,
outcome ``ack``; every effect ``done`` or ``skipped`` (none pending or failed); in each step the
routers ACKed exactly the seeded Acct-Session-Ids, dropped no request (authenticators all valid)
and NAKed none (the sender alone too); no error line in the worker log.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(ROOT))

from bench.harness.cpu import cpu_delta, cpu_snapshot, worker_classifier  # noqa: E402
from bench.harness.database import (  # noqa: E402
    add_database_url_argument,
    add_redis_url_argument,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
    redis_or_report,
)
from bench.harness.fake_router import FakeRouters, PhaseRecord  # noqa: E402
from bench.harness.processes import (  # noqa: E402
    WorkflowProcess,
    check_alive,
    close_broker_connections,
    wait_settled,
    wait_until,
    workflow_environment,
)
from bench.harness.report import printable_command  # noqa: E402
from bench.harness.seeding import insert_select  # noqa: E402
from bench.harness.subscribers import seed_earlier_history, seed_login_rows, seed_plan, seed_subscribers  # noqa: E402
from bench.harness.webhooks import WebhookReceiver  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
QUEUE = "ativa"  # workers.app.EFFECTS_QUEUE
SWEEP_TASK = "workers.tasks.sweep"
AMOUNT_CENTS = 9990
DAYS_LATE = 30
PLAN_NAME, DOWNLOAD_KBPS, UPLOAD_KBPS = "Fibra 300", 300_000, 150_000
ROUTER_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
BASELINE_TIMEOUT_SECONDS, BASELINE_TRIES = 2.0, 3  # the product's defaults (ATIVA_RADIUS_*)
EXTRAPOLATE_TO = 100_000
REACH_AIM_SECONDS = 120.0
RATIO_AIM = 0.5
PROGRESS_EVERY = 15.0


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def router_secret(index: int) -> str:
    return f"bench-router-{index}-{os.urandom(6).hex()}"


def seed(url: str, customers: int, routers: FakeRouters, today: date) -> dict:
    """Everything but FreeRADIUS's tables' own creation (enforcement.prepare does that, after the
    plan and routers exist). Returns counts and the extra columns filled."""
    extra: list[str] = []
    counts: dict = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        plan_id = seed_plan(conn, PLAN_NAME, DOWNLOAD_KBPS, UPLOAD_KBPS)
        for i, router in enumerate(routers.routers):
            conn.execute(
                "INSERT INTO routers (name, address, secret, coa_port, vendor, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'mikrotik', now(), now())",
                (f"bench-router-{i + 1}", router.address, router.secret, router.port),
            )
        counts |= seed_subscribers(
            conn, customers, plan_id, PLAN_NAME, AMOUNT_CENTS, today - timedelta(days=DAYS_LATE), extra
        )
        seed_history(conn, customers, counts, extra)
        conn.commit()
    counts["plan_id"] = plan_id
    counts["extra"] = extra
    return counts


# An earlier cut and return of every customer, with the effects they made (done), as a live
# system has. Without it the history, outbox and radius_packets tables start empty and, with
# autovacuum off (as on the development server), keep the statistics of empty tables for the
# whole run: the planner then reads them in ways no production database would.
def seed_history(conn: psycopg.Connection, customers: int, counts: dict, extra: list[str]) -> None:
    counts["history"], counts["earlier effects"] = seed_earlier_history(conn, customers, extra)
    counts["earlier packets"] = insert_select(
        conn,
        "radius_packets",
        {
            "effect_id": "o.id",
            "customer_id": "o.customer_id",
            "service_id": "o.service_id",
            "login": "'cliente' || o.customer_id",
            "router_address": "'127.0.0.2'",
            "kind": "'disconnect'",
            "outcome": "'ack'",
            "acct_session_id": "'7' || lpad(to_hex(o.id), 7, '0')",
            "detail": "'Disconnect-ACK from 127.0.0.2'",
            "sent_at": "o.completed_at",
        },
        "outbox_effects o WHERE o.name = 'radius_disconnect'",
        {},
        extra,
    )


def seed_radius(url: str, customers: int, routers: FakeRouters, plan_id: int, extra: list[str]) -> dict:
    """The logins' FreeRADIUS rows (what rows.write_logins writes for an active service) and one
    open accounting session each, on the router of its turn."""
    addresses = "ARRAY[" + ", ".join(f"'{r.address}'" for r in routers.routers) + "]::inet[]"
    counts: dict = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        counts["radcheck"], counts["radusergroup"] = seed_login_rows(conn, plan_id)
        counts["radacct"] = insert_select(
            conn,
            "radacct",
            {
                "acctsessionid": "'8' || lpad(to_hex(g), 7, '0')",
                "acctuniqueid": "md5('bench-session-' || g)",
                "username": "'cliente' || g",
                "nasipaddress": f"({addresses})[1 + g %% {len(routers.routers)}]",
                "nasportid": "'pppoe-cliente' || g",
                "nasporttype": "'Ethernet'",
                "acctstarttime": "now() - interval '3 days'",
                "acctupdatetime": "now() - interval '5 minutes'",
                "acctstoptime": "NULL",
                "acctinterval": "300",
                "acctsessiontime": "259200",
                "acctauthentic": "'RADIUS'",
                "acctinputoctets": "0",
                "acctoutputoctets": "0",
                "callingstationid": "'AA:BB:' || upper(substr(md5(g::text), 1, 8))",
                "servicetype": "'Framed-User'",
                "framedprotocol": "'PPP'",
                "framedipaddress": "'100.64.0.0'::inet + g",
            },
            "generate_series(1, %(n)s) AS g",
            {"n": customers},
            extra,
        )
        conn.commit()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute(
            "VACUUM (ANALYZE) customers, invoices, services, status_changes, outbox_effects, radius_packets, "
            "radcheck, radusergroup, radacct"
        )
    return counts


# --------------------------------------------------------------------------------------------
# Baseline: a bare pyrad loop
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSession:
    login: str
    acct_session_id: str
    nas_ip: str
    framed_ip: str


def open_sessions(conn: psycopg.Connection) -> list[OpenSession]:
    rows = conn.execute(
        "SELECT username, acctsessionid, host(nasipaddress), host(framedipaddress) FROM radacct "
        "WHERE acctstoptime IS NULL ORDER BY radacctid"
    ).fetchall()
    return [OpenSession(*row) for row in rows]


def baseline(sessions: list[OpenSession], routers: FakeRouters) -> float:
    """Seconds for the sequential loop: build, sign, send, wait for the ACK, next."""
    from pyrad import packet as radius
    from pyrad.client import Client

    from workers.connectors.radius import dictionary

    clients = {}
    for router in routers.routers:
        client = Client(server=router.address, secret=router.secret.encode(), dict=dictionary(), coaport=router.port)
        client.timeout, client.retries = BASELINE_TIMEOUT_SECONDS, BASELINE_TRIES
        clients[router.address] = client
    began = time.perf_counter()
    for s in sessions:
        client = clients[s.nas_ip]
        request = client.CreateCoAPacket(code=radius.DisconnectRequest, message_authenticator=True)
        request["User-Name"] = s.login
        request["Acct-Session-Id"] = s.acct_session_id
        request["NAS-IP-Address"] = s.nas_ip
        request["Framed-IP-Address"] = s.framed_ip
        reply = client.SendPacket(request)
        if reply.code != radius.DisconnectACK:
            raise RuntimeError(f"baseline: reply code {reply.code} for session {s.acct_session_id}")
    seconds = time.perf_counter() - began
    for client in clients.values():
        client._CloseSocket()
    return seconds


def sender_alone(sessions: list[OpenSession], routers: FakeRouters) -> float:
    """Seconds for Ativa's own sender (workers/connectors/radius.py) to get the same packets
    ACKed, in one call: what the session effects would cost with nothing around them."""
    from workers.connectors.radius import send_packets
    from workflow.usecases.radius.packets import SessionPacket

    by_address = {router.address: router for router in routers.routers}
    packets = [
        SessionPacket(
            s.nas_ip,
            by_address[s.nas_ip].port,
            by_address[s.nas_ip].secret,
            "mikrotik",
            "disconnect",
            s.login,
            s.acct_session_id,
            s.framed_ip,
            s.nas_ip,
        )
        for s in sessions
    ]
    began = time.perf_counter()
    results = send_packets(packets, BASELINE_TIMEOUT_SECONDS, BASELINE_TRIES)
    seconds = time.perf_counter() - began
    outcomes = Counter(result.outcome for result in results)
    if outcomes != Counter({"ack": len(sessions)}):
        raise RuntimeError(f"Ativa's sender alone: outcomes {dict(outcomes)}")
    return seconds


# --------------------------------------------------------------------------------------------
# The real run
# --------------------------------------------------------------------------------------------

NEW = "o.created_at > now() - interval '1 day'"  # not the seeded history (done 50 or 60 days ago)
CPU_CLASSES = ("worker pool", "worker main", "postgres", "redis", "fake routers", "bench process")
OTHER_PROCESSES = "other processes and the kernel"  # another workload sharing the machine shows here


def process_class(worker_pid: int, routers_pid: int | None):
    return worker_classifier(worker_pid, {"fake routers": routers_pid})


def wait_all_acked(
    routers: FakeRouters, phase: str, expected: int, worker: WorkflowProcess, stall_timeout: float
) -> None:
    """Until the routers have ACKed `expected` distinct sessions in `phase`; fails when none is
    added for `stall_timeout` seconds or the worker exits."""
    last, last_change, last_report, began = -1, time.monotonic(), time.monotonic(), time.monotonic()
    while True:
        check_alive(worker)
        acked = routers.acked(phase)
        if acked >= expected:
            return
        now = time.monotonic()
        if acked != last:
            last, last_change = acked, now
        elif now - last_change > stall_timeout:
            raise RuntimeError(
                f"the routers ACKed {acked} of {expected} sessions, none more for {stall_timeout:.0f} s"
                f"\n{worker.tail()}"
            )
        if now - last_report >= PROGRESS_EVERY:
            last_report = now
            print(f"  real run: {acked} of {expected} sessions ACKed after {now - began:.0f} s", flush=True)
        time.sleep(0.05)


@dataclass
class RealRun:
    sent_at: float
    first_cut: float
    last_cut: float
    cut: int
    all_acked: float
    settled: float
    record: PhaseRecord
    cpu: dict[str, float]
    stats: dict[str, int]


def real_run(
    celery_app, conn: psycopg.Connection, routers: FakeRouters, worker: WorkflowProcess, args, expected: int
) -> RealRun:
    routers.begin("ativa")
    before = cpu_snapshot(process_class(worker.pid, routers.pid))
    stats_before = database_stats(conn)
    sent_at = time.time()
    celery_app.send_task(SWEEP_TASK, args=[args.as_of.isoformat()], queue=QUEUE)
    wait_all_acked(routers, "ativa", expected, worker, args.stall_timeout)
    _, polls = wait_settled(conn, worker, stall_timeout=args.stall_timeout, interval=0.1)
    cpu = cpu_delta(
        before, cpu_snapshot(process_class(worker.pid, routers.pid)), CPU_CLASSES, elsewhere=OTHER_PROCESSES
    )
    record = routers.report("ativa")
    time.sleep(1.5)  # backends report their statistics when idle, at most a second late
    stats = {k: v - stats_before.get(k, 0) for k, v in database_stats(conn).items()}
    stats["transactions"] -= polls + 1  # wait_settled's own (autocommit) and the first stats query
    first_cut, last_cut, cut = conn.execute(
        "SELECT min(created_at), max(created_at), count(*) FROM status_changes WHERE source = 'scheduler'"
    ).fetchone()
    settled = conn.execute("SELECT max(completed_at) FROM outbox_effects").fetchone()[0]
    return RealRun(
        sent_at,
        first_cut.timestamp(),
        last_cut.timestamp(),
        cut,
        max(record.first_ack.values()),
        settled.timestamp(),
        record,
        cpu,
        stats,
    )


def database_stats(conn: psycopg.Connection) -> dict[str, int]:
    """Transactions and rows of this database so far (pg_stat_database), the rows read per table
    by sequential scans (`seq:<table>`) and per index (`idx:<index>`): a table or an index read
    whole for every message shows there."""
    row = conn.execute(
        "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched, tup_returned "
        "FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    found = dict(zip(("transactions", "inserted", "updated", "deleted", "fetched", "returned"), row, strict=True))
    for table, seq_read in conn.execute("SELECT relname, coalesce(seq_tup_read, 0) FROM pg_stat_user_tables"):
        found[f"seq:{table}"] = seq_read
    for index, fetched in conn.execute("SELECT indexrelname, idx_tup_fetch FROM pg_stat_user_indexes"):
        found[f"idx:{index}"] = fetched
    return found


# --------------------------------------------------------------------------------------------
# Profile (--profile): py-spy on the worker and its pool processes
# --------------------------------------------------------------------------------------------


def start_profiler(worker: WorkflowProcess, folder: Path) -> subprocess.Popen:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--pid", str(worker.pid), "--subprocesses", "--format", "raw", "--rate", "200"]
    return subprocess.Popen(
        [*command, "--output", str(folder / "worker.txt"), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "py-spy.log").open("wb"),
    )


def stop_profiler(profiler: subprocess.Popen) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()


def summarize_profile(path: Path, top: int = 25) -> None:
    """Own and total samples per function (py-spy's collapsed stacks), busy samples only."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        if not frames or "(select" in frames[-1] or "poll (" in frames[-1] or "_recv (" in frames[-1]:
            continue  # waiting, not working
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        print(f"profile: no busy samples in {path}")
        return
    print(f"\nprofile of the worker's processes ({samples} busy samples; collapsed stacks in {path}):")
    print("\n| own % | function |\n|---:|---|")
    for frame, n in own.most_common(top):
        print(f"| {100 * n / samples:.1f} | {frame} |")
    print("\n| total % | function (with what it calls) |\n|---:|---|")
    for frame, n in total.most_common(top * 2):
        if "workflow/" in frame or "workers/" in frame:
            print(f"| {100 * n / samples:.1f} | {frame} |")


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def verify(
    conn: psycopg.Connection,
    n: int,
    sessions: list[OpenSession],
    steps: list[tuple[str, PhaseRecord]],
    run: RealRun,
    worker: WorkflowProcess,
) -> list[str]:
    from workflow.domain.radius import BLOCKED_GROUP

    def one(sql: str, *params):
        return conn.execute(sql, params).fetchone()[0]

    checks = {
        "customers inactive for delinquency": (
            one("SELECT count(*) FROM customers WHERE status = 'inactive' AND inactivation_reason = 'delinquency'"),
            n,
        ),
        "cuts by the scheduler": (run.cut, n),
        "customers at version 4 (seeded at 3, one cut)": (one("SELECT count(*) FROM customers WHERE version = 4"), n),
        "services suspended": (one("SELECT count(*) FROM services WHERE status = 'suspended'"), n),
        "logins with exactly one radcheck row": (
            one("SELECT count(*) FROM (SELECT username FROM radcheck GROUP BY username HAVING count(*) = 1) x"),
            n,
        ),
        "radcheck rows": (one("SELECT count(*) FROM radcheck"), n),
        "logins in the blocked group (one radusergroup row each)": (
            one(
                "SELECT count(*) FROM (SELECT username FROM radusergroup GROUP BY username "
                "HAVING count(*) = 1 AND min(groupname) = %s) x",
                BLOCKED_GROUP,
            ),
            n,
        ),
        "radusergroup rows": (one("SELECT count(*) FROM radusergroup"), n),
        "radius_disconnect effects of the cuts, done": (
            one(f"SELECT count(*) FROM outbox_effects o WHERE name = 'radius_disconnect' AND state = 'done' AND {NEW}"),
            n,
        ),
        "radius_disconnect effects of the cuts": (
            one(f"SELECT count(*) FROM outbox_effects o WHERE name = 'radius_disconnect' AND {NEW}"),
            n,
        ),
        "radius_packets rows of the cuts, disconnect ack": (
            one(
                "SELECT count(*) FROM radius_packets p JOIN outbox_effects o ON o.id = p.effect_id "
                f"WHERE p.kind = 'disconnect' AND p.outcome = 'ack' AND {NEW}"
            ),
            n,
        ),
        "radius_packets rows of the cuts": (
            one(f"SELECT count(*) FROM radius_packets p JOIN outbox_effects o ON o.id = p.effect_id WHERE {NEW}"),
            n,
        ),
        "effects neither done nor skipped": (
            one("SELECT count(*) FROM outbox_effects WHERE state NOT IN ('done', 'skipped')"),
            0,
        ),
    }
    problems = [f"{what}: {got}, expected {want}" for what, (got, want) in checks.items() if got != want]
    seeded = {s.acct_session_id for s in sessions}
    for step, record in steps:
        acked = set(record.first_ack)
        if acked != seeded:
            problems.append(
                f"{step}: the routers ACKed {len(acked & seeded)} of the {len(seeded)} seeded sessions "
                f"and {len(acked - seeded)} unknown ones"
            )
        if record.dropped:
            problems.append(f"{step}: requests dropped by the routers: {dict(record.dropped)}")
        if record.naks:
            problems.append(f"{step}: requests NAKed (Error-Cause: count): {dict(record.naks)}")
        if record.without_framed_ip:
            problems.append(f"{step}: {record.without_framed_ip} request(s) without Framed-IP-Address")
        if record.kinds.get("coa"):
            problems.append(f"{step}: {record.kinds['coa']} CoA-Request(s), only Disconnects expected")
    errors = worker.errors()
    if errors:
        problems.append(f"{len(errors)} error line(s) in the worker log, first: {errors[0]}")
    return problems


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000, help="customers cut, one session each")
    parser.add_argument(
        "--routers", type=int, default=2, choices=range(1, len(ROUTER_ADDRESSES) + 1), help="fake routers (1-4)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="ATIVA_WORKER_CONCURRENCY of the worker")
    parser.add_argument("--no-billing", action="store_true", help="no billing webhook (notify_billing is skipped)")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="the business date of the sweep (default 2026-12-01, a Tuesday)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=120.0,
        help="fail when no session is ACKed (or no effect settled) for this many seconds",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the worker and its pool processes with py-spy during the real run (collapsed stacks "
        "in this folder; the figures are then slower) and print where their time went",
    )
    add_database_url_argument(parser)
    add_redis_url_argument(parser, DEFAULT_REDIS_URL)
    args = parser.parse_args()
    if args.customers < 1 or args.concurrency < 1:
        parser.error("--customers and --concurrency must be positive")
    return args


def main() -> int:
    args = parse_args()
    print(f"$ {printable_command()}", flush=True)
    began = time.perf_counter()
    n = args.customers

    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created
    r.flushdb()

    tmp = Path(tempfile.mkdtemp(prefix="ativa_bench_radius_"))
    routers = FakeRouters([(address, router_secret(i)) for i, address in enumerate(ROUTER_ADDRESSES[: args.routers])])
    receiver: WebhookReceiver | None = None
    worker: WorkflowProcess | None = None
    conn: psycopg.Connection | None = None
    ok = False
    try:
        routers.start()  # forked first, before this process opens connections or threads
        os.environ["ATIVA_DATABASE_URL"] = url
        os.environ["ATIVA_BROKER_URL"] = args.redis_url
        os.environ["ATIVA_DATA_DIR"] = str(tmp / "var")
        os.environ.pop("ATIVA_RADIUS_DATABASE_URL", None)  # same-database mode
        from workflow.db import migrate
        from workflow.db.engine import Database
        from workflow.settings import get_settings
        from workflow.usecases.radius.enforcement import prepare

        get_settings.cache_clear()
        settings = get_settings()
        db = Database(url)
        seeding_began = time.perf_counter()
        try:
            migrate.upgrade(db.engine)
            seeded = seed(url, n, routers, args.as_of)
            prepared = prepare(db, settings)  # FreeRADIUS's tables, groups, routers (nas)
            seeded |= seed_radius(url, n, routers, seeded["plan_id"], seeded["extra"])
        finally:
            db.dispose()
        seeded["seconds"] = time.perf_counter() - seeding_began

        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        sessions = open_sessions(conn)
        if len(sessions) != n:
            raise RuntimeError(f"{len(sessions)} open sessions seeded, expected {n}")
        nas_rows = conn.execute("SELECT count(*) FROM nas WHERE description = 'ativa'").fetchone()[0]
        if nas_rows != args.routers:
            raise RuntimeError(f"{nas_rows} routers in FreeRADIUS's nas table, expected {args.routers}")
        print(
            f"\nPostgreSQL {pg_version}, Redis {r.info('server')['redis_version']} ({args.redis_url}); "
            f"{os.cpu_count()} CPU(s); Python {sys.version.split()[0]}; as of {args.as_of} ({args.as_of:%A})\n"
            f"seeded (not measured) in {seeded['seconds']:.1f} s: {n} customers, services and overdue invoices, "
            f"{seeded['radcheck']} radcheck + {seeded['radusergroup']} radusergroup rows, {seeded['radacct']} open "
            f"sessions over {args.routers} router(s), earlier history: {seeded['history']} status_changes, "
            f"{seeded['earlier effects']} outbox rows (done), {seeded['earlier packets']} radius_packets ({prepared})"
            + (f"; also filled {', '.join(seeded['extra'])}" if seeded["extra"] else ""),
            flush=True,
        )

        # 1. Baseline, before the worker starts (it would compete for the CPUs).
        routers.begin("baseline")
        baseline_seconds = baseline(sessions, routers)
        baseline_record = routers.report("baseline")
        baseline_rate = n / baseline_seconds
        print(f"  baseline: {n} Disconnects in {baseline_seconds:.2f} s ({baseline_rate:.0f}/s)", flush=True)
        routers.begin("sender")
        sender_seconds = sender_alone(sessions, routers)
        sender_record = routers.report("sender")

        # 2. Ativa.
        if not args.no_billing:
            receiver = WebhookReceiver().start()
        env = workflow_environment(
            data_dir=str(tmp / "var"),
            database_url=url,
            broker_url=args.redis_url,
            worker_concurrency=str(args.concurrency),
            **(receiver.settings(provisioning=False) if receiver else {}),
        )
        worker = WorkflowProcess(["worker"], env, tmp / "worker.log")
        from workers.app import app as celery_app

        # Ready: the worker has taken a first task (a no-op) from its queue.
        celery_app.send_task("celery.accumulate", queue=QUEUE)
        wait_until(lambda: not (r.llen(QUEUE) or r.hlen("unacked")), 60, "the worker to take a first task", worker)
        profiler = start_profiler(worker, args.profile) if args.profile else None
        try:
            run = real_run(celery_app, conn, routers, worker, args, n)
        finally:
            if profiler is not None:
                stop_profiler(profiler)
        time.sleep(0.3)  # late repeats, if any, land in the record below
        run.record = routers.report("ativa")

        steps = [("baseline", baseline_record), ("Ativa's sender alone", sender_record), ("ativa", run.record)]
        problems = verify(conn, n, sessions, steps, run, worker)

        # -- report --
        to_acked = run.all_acked - run.first_cut
        from_last_cut = run.all_acked - run.last_cut
        to_settled = run.settled - run.first_cut
        ours_rate = n / to_acked
        ratio = ours_rate / baseline_rate
        rows = [
            ("baseline: sequential pyrad loop, send → ACK, one at a time", baseline_seconds),
            ("Ativa's sender alone: `send_packets` with the same packets, concurrent", sender_seconds),
            ("Ativa: sweep's first cut → every session ACKed", to_acked),
            ("Ativa: sweep's last cut → every session ACKed", from_last_cut),
            ("Ativa: sweep's first cut → every effect settled", to_settled),
        ]
        print()
        print(f"| measure ({n} customers, {args.routers} router(s)) | seconds | sessions/s |")
        print("|---|---:|---:|")
        for what, seconds in rows:
            print(f"| {what} | {seconds:.2f} | {n / seconds:,.0f} |")
        print()
        print(
            f"ratio Ativa / baseline rate: {ratio:.2f} "
            f"(aim >= {RATIO_AIM}: {'met' if ratio >= RATIO_AIM else 'not met'})"
        )
        reach = to_acked if n >= EXTRAPOLATE_TO else to_acked * EXTRAPOLATE_TO / n
        how = "measured" if n >= EXTRAPOLATE_TO else f"extrapolated linearly from {n}"
        print(
            f"every router reached for {max(n, EXTRAPOLATE_TO)} customers: {reach:.0f} s after the first cut ({how}; "
            f"aim <= {REACH_AIM_SECONDS:.0f} s: {'met' if reach <= REACH_AIM_SECONDS else 'not met'})"
        )
        print(
            f"sweep: task queued → first cut {run.first_cut - run.sent_at:.2f} s, cuts spread over "
            f"{run.last_cut - run.first_cut:.2f} s; first Disconnect received "
            f"{(run.record.first_request or run.first_cut) - run.first_cut:.2f} s after the first cut"
        )
        if run.cpu.get("_total"):
            busy = run.cpu["_busy"] / run.cpu["_total"]
            print()
            print("CPU during the real run (/proc), ms per customer:")
            print()
            print("| process | ms per customer |")
            print("|---|---:|")
            for key in (*CPU_CLASSES, OTHER_PROCESSES):
                print(f"| {key} | {1000 * run.cpu[key] / n:.2f} |")
            print(f"| machine busy (all {os.cpu_count()} CPUs) | {100 * busy:.0f} % |")
        st = run.stats
        print(
            f"\nPostgreSQL per customer (pg_stat_database): {st['transactions'] / n:.1f} transactions, rows "
            f"inserted {st['inserted'] / n:.1f}, updated {st['updated'] / n:.1f}, deleted {st['deleted'] / n:.1f}, "
            f"fetched by index scans {st['fetched'] / n:.1f}, returned by sequential scans {st['returned'] / n:.1f}"
        )
        read = Counter({k: v for k, v in st.items() if k.startswith(("seq:", "idx:"))})
        print(
            "rows read per customer, by sequential scan of a table (seq) or by index (idx), most first: "
            + ", ".join(f"{k.split(':', 1)[1]} {k.split(':', 1)[0]} {v / n:,.1f}" for k, v in read.most_common(6) if v)
        )
        print()
        print(
            f"routers, baseline: {baseline_record.requests} requests, {baseline_record.repeated} repeated; "
            f"Ativa: {run.record.requests} requests ({dict(run.record.per_router)}), "
            f"{run.record.repeated} repeated (retransmitted or sent twice)"
        )
        effects = conn.execute(
            f"SELECT name, state, count(*) FROM outbox_effects o WHERE {NEW} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        print("effects by name and state: " + ", ".join(f"{a} {b} {c}" for a, b, c in effects))
        retried = conn.execute("SELECT count(*) FROM outbox_effects WHERE attempts > 1").fetchone()[0]
        print(f"effects that needed more than one attempt: {retried}")
        if args.profile:
            summarize_profile(args.profile / "worker.txt")
        if problems:
            print("\nVERIFICATION FAILED:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(
                f"\nverified: {n} customers cut, services suspended, logins in the blocked group, one "
                f"radius_disconnect done and one radius_packets ack per session; both steps reached exactly "
                f"the seeded sessions, no request dropped or NAKed; total {time.perf_counter() - began:.1f} s"
            )
        ok = not problems
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop()
            if not ok:
                print(f"\nworker log tail ({worker.log}):\n{worker.tail(25)}", file=sys.stderr)
        routers.stop()
        if receiver is not None:
            receiver.stop()
        if conn is not None:
            conn.close()
        close_broker_connections()
        drop_database(args.database_url, name)
        r.flushdb()
        r.close()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
