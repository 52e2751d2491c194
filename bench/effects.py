"""Throughput and latency of the effects pipeline: transition → Celery (Redis) → worker → done.

    .venv/bin/python bench/effects.py [--transitions 2000] [--customers N] [--threads 4]
                                      [--concurrency 4] [--rate R] [--noop-tasks N]
                                      [--provisioning] [--beat]
                                      [--database-url URL] [--redis-url redis://127.0.0.1:6379/8]

Set-up
------
* --database-url (default: $ATIVA_BENCH_POSTGRES_URL, else
  postgresql+psycopg://postgres@127.0.0.1:5432/postgres) is an *admin* URL: a throwaway database
  ``ativa_bench_<random>`` is created, migrated with workflow.db.migrate.upgrade and dropped
  (WITH (FORCE)) at the end, even on error.
* --redis-url names a Redis database index used as the Celery broker; it is FLUSHDB'd at start and
  at the end. Use an index nothing else uses.
* A loopback HTTP server in this process (ThreadingHTTPServer, HTTP/1.1 keep-alive) stands in for
  billing (and provisioning with --provisioning): it checks the Standard Webhooks signature, answers
  200 and counts deliveries per webhook-id.
* One real worker is started as a subprocess, ``python -m workflow worker`` (prefork pool,
  ATIVA_WORKER_CONCURRENCY = --concurrency), in its own process group; it is stopped with SIGTERM,
  then SIGKILL of the group. By default it runs WITHOUT --beat: no relay, no reconciler, so every
  effect is carried by the fast path (published by the session's after-commit hook) and an effect
  the fast path lost would stay pending and fail the verification. --beat adds the relay, which
  republishes any effect still pending after ATIVA_RELAY_GRACE_SECONDS (5 s): under a backlog it
  re-queues effects that are merely waiting in the queue.
* This process installs the fast-path publisher (workers.app.install_adapters) after pointing
  ATIVA_BROKER_URL / ATIVA_DATABASE_URL at the throwaway database and broker, as ``ativa serve`` does.

Readiness and warm-up (not measured)
------------------------------------
The worker is ready when a first no-op task pushed to its queue has been taken and acknowledged.
Then 2 x --concurrency customers make one inactivate/activate pair each and the script waits until
their effects are settled, so every pool process has its database connection and HTTP client.

Baseline: no-op Celery tasks (same broker, same worker, same queue)
-------------------------------------------------------------------
The task is Celery's built-in ``celery.accumulate`` called without arguments (it returns ``()``):
a full round trip through the broker, the prefork pool and the late ack, with no work in it.
(Celery 5.7 has no ``celery.ping`` task; nothing is added to the product.) The app ignores results
and has no result backend, so completion is read from the broker: the tasks are acks_late, so a
task is finished when its message has left both the queue list and kombu's ``unacked`` hash.
To measure the worker rather than this process's publishing speed, the --noop-tasks messages are
first published to a queue the worker does not consume (``ativa_bench_staging``), then moved in
one atomic ``RENAME`` onto the worker's queue list ``ativa``; the clock runs from the RENAME until
``LLEN ativa == 0 and HLEN unacked == 0`` (polled every 2 ms). Any lost or unknown task would
show up in the worker log, which is scanned for errors.

Measured run
------------
--customers customers (default one per inactivate/activate pair) are split among --threads
threads; each thread walks its own customers round-robin, so each customer alternates
inactivate, activate, ... and no two threads ever wait on the same row. Every transition is
``with db.write() as session: transitions.transition_customer(...)`` — the effects are published
by the session's after-commit hook. The commit time of each transition is taken by an extra
after_commit listener that this script inserts *before* the publisher's (so: COMMIT returned,
nothing published yet — the earliest honest "committed" moment; the time when the ``with``
block exits is also recorded, the difference is the cost of publishing the three messages).
With --rate R the threads follow a fixed schedule of R transitions/s in total (open loop);
without it they go as fast as they can.

* effects/s = effects of the measured transitions (plus the provisioning effects they spawn) /
  (last completed_at − first commit).
* commit→done per transition = max(completed_at) of all its effects (a provisioning effect counts
  for the latest transition of its customer created before it) − its commit time; wall clocks of
  the same machine, both UTC. completed_at is stamped by the worker just before its own COMMIT.

CPU accounting
--------------
On Linux the script also reads /proc before and after the no-op baseline and the measured run and
prints CPU milliseconds per task for the worker's pool processes, the worker's main (consumer)
process, PostgreSQL, Redis and this process (transitions, publishing, webhook receiver), and how
busy the machine was: it tells which side dominates when an aim is missed. With --rate the
machine is not saturated, so effects/s is the offered load there, not the capacity.

Verification
------------
Every effect must be settled exactly once: state ``done`` or ``skipped`` (an effect is skipped,
by design, when a newer transition of the same customer has overtaken it before the worker got to
it: level-triggered effects), none ``pending`` or ``failed``; attempts == 1 is expected, the number
that needed more is printed. The webhook receiver must have had exactly one delivery per
notify_billing (and provision_*) effect in state ``done``, none for a skipped one, none with an
unknown id, and every signature valid; duplicates are listed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(ROOT))

from bench.harness.cpu import cpu_delta, cpu_snapshot, worker_classifier  # noqa: E402
from bench.harness.customers import REQUESTS, event_for, fresh_cpfs  # noqa: E402
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
    check_alive,
    close_broker_connections,
    wait_settled,
    wait_until,
    workflow_environment,
)
from bench.harness.report import percentile, printable_command  # noqa: E402
from bench.harness.webhooks import WebhookReceiver  # noqa: E402
from workflow.db import migrate  # noqa: E402
from workflow.db.engine import Database  # noqa: E402
from workflow.domain.vocabulary import Role, Source  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
QUEUE = "ativa"  # workers.app.EFFECTS_QUEUE, the list key kombu's Redis transport uses
STAGING_QUEUE = "ativa_bench_staging"
UNACKED = "unacked"  # kombu.transport.redis.Channel.unacked_key
NOOP_TASK = "celery.accumulate"


def relayed(worker: WorkflowProcess) -> int:
    """Effects the relay published again (its log line), when the worker runs --beat."""
    return sum(int(n) for n in re.findall(r"relay: publishing (\d+) pending effect", worker.log_text()))


# --------------------------------------------------------------------------------------------
# Commit stamps
# --------------------------------------------------------------------------------------------

_TID_KEY = "ativa_bench_transition_id"
COMMITTED: dict[int, float] = {}  # transition id -> wall time COMMIT returned (before publishing)


def _stamp_commit(session: Session) -> None:
    tid = session.info.pop(_TID_KEY, None)
    if tid is not None:
        COMMITTED[tid] = time.time()


# insert=True: runs before workflow.usecases.effect_bus's after_commit (which publishes).
event.listen(Session, "after_commit", _stamp_commit, insert=True)


# --------------------------------------------------------------------------------------------
# Seeding and transitions
# --------------------------------------------------------------------------------------------


def seed_customers(db: Database, count: int, cpfs: set[str], *, with_service: bool) -> list[int]:
    from workflow.usecases.customer_services import add_service
    from workflow.usecases.customers import CustomerDraft, create_customer

    new_cpfs = fresh_cpfs(cpfs)
    ids: list[int] = []
    with db.write() as session:
        for cpf in (next(new_cpfs) for _ in range(count)):
            n = len(cpfs)
            customer = create_customer(
                session, CustomerDraft(name=f"Bench {n}", document=cpf, external_ref=f"bench-c{n}")
            )
            ids.append(customer.id)
    if with_service:
        with db.write() as session:
            for cid in ids:
                add_service(session, cid, "Fibra 500", f"bench-s{cid}")
    return ids


@dataclass
class Submitted:
    transition_id: int
    customer_id: int
    exited: float  # wall time the `with` block exited (COMMIT + publishing done)


def run_transitions(
    db: Database, customers: list[int], per_customer: int, threads: int, rate: float | None
) -> tuple[list[Submitted], float, float]:
    """Each thread owns every threads-th customer and walks them round-robin; returns the
    submissions and the wall-clock span of the submitting phase."""
    from workflow.usecases import transitions

    actor = transitions.Actor("bench", Role.OPERATOR)
    owned = [customers[i::threads] for i in range(threads)]
    results: list[list[Submitted]] = [[] for _ in range(threads)]
    slots = iter(range(10**9))
    slot_lock = threading.Lock()
    start = [0.0]

    def body(i: int) -> None:
        mine = results[i]
        for k in range(per_customer):
            ev = event_for(k)
            for cid in owned[i]:
                if rate:
                    with slot_lock:
                        slot = next(slots)
                    delay = start[0] + slot / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                with db.write() as session:
                    outcome = transitions.transition_customer(session, cid, ev, REQUESTS[ev], actor, Source.API)
                    session.info[_TID_KEY] = outcome.transition.id
                mine.append(Submitted(outcome.transition.id, cid, time.time()))

    pool = ThreadsStartingTogether(threads, body, name="transitions").start()
    start[0] = time.monotonic()
    began = time.time()
    pool.release()
    pool.join()
    ended = time.time()
    return [s for chunk in results for s in chunk], began, ended


# --------------------------------------------------------------------------------------------
# No-op baseline
# --------------------------------------------------------------------------------------------


def broker_busy(r: redis.Redis) -> bool:
    queued, unacked = r.pipeline().llen(QUEUE).hlen(UNACKED).execute()
    return bool(queued or unacked)


def noop_round_trip(celery_app, r: redis.Redis, worker: WorkflowProcess, count: int) -> tuple[float, float]:
    """Publish `count` no-op tasks to a queue nobody consumes, RENAME it onto the worker's queue,
    time until queue and unacked are both empty. Returns (seconds, publish seconds)."""
    r.delete(STAGING_QUEUE)
    t = time.perf_counter()
    with celery_app.producer_or_acquire() as producer:
        for _ in range(count):
            celery_app.send_task(NOOP_TASK, queue=STAGING_QUEUE, producer=producer)
    publish_seconds = time.perf_counter() - t
    staged = r.llen(STAGING_QUEUE)
    if staged != count:
        raise RuntimeError(f"{staged} no-op message(s) staged in Redis, expected {count}")
    if broker_busy(r):
        raise RuntimeError("the worker's queue is not idle before the no-op baseline")
    began = time.perf_counter()
    r.rename(STAGING_QUEUE, QUEUE)
    while True:
        if not broker_busy(r):
            break
        if time.perf_counter() - began > 120:
            raise RuntimeError(f"no-op baseline did not drain in 120 s:\n{worker.tail()}")
        check_alive(worker)
        time.sleep(0.002)
    return time.perf_counter() - began, publish_seconds


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc): where the cycles of a phase went
# --------------------------------------------------------------------------------------------

CPU_CLASSES = ("worker pool", "worker main", "postgres", "redis", "bench process")


def process_class(worker_pid: int):
    """Which of CPU_CLASSES a process is in, if any."""
    return worker_classifier(worker_pid)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class EffectRow:
    id: int
    transition_id: int | None
    customer_id: int
    name: str
    state: str
    attempts: int
    created_at: float
    completed_at: float | None


def load_effects(conn: psycopg.Connection) -> list[EffectRow]:
    rows = conn.execute(
        "SELECT id, transition_id, customer_id, name, state, attempts, created_at, completed_at "
        "FROM outbox_effects ORDER BY id"
    ).fetchall()
    return [
        EffectRow(i, t, c, n, s, a, cr.timestamp(), co.timestamp() if co else None) for i, t, c, n, s, a, cr, co in rows
    ]


def owner_transitions(conn: psycopg.Connection, effects: list[EffectRow]) -> dict[int, int]:
    """effect id -> transition id, provisioning effects (no transition_id) included: they belong
    to the latest transition of their customer created before them."""
    changes: dict[int, list[tuple[float, int]]] = {}
    for tid, cid, created in conn.execute(
        "SELECT id, customer_id, created_at FROM status_changes ORDER BY created_at, id"
    ).fetchall():
        changes.setdefault(cid, []).append((created.timestamp(), tid))
    owner: dict[int, int] = {}
    for e in effects:
        if e.transition_id is not None:
            owner[e.id] = e.transition_id
            continue
        before = [tid for created, tid in changes.get(e.customer_id, []) if created <= e.created_at]
        if before:
            owner[e.id] = before[-1]
    return owner


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="customers to spread them over (default: transitions / 2, one per "
        "inactivate/activate pair); must divide --transitions",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads making transitions (default 4)")
    parser.add_argument("--concurrency", type=int, default=4, help="ATIVA_WORKER_CONCURRENCY of the worker (default 4)")
    parser.add_argument(
        "--rate", type=float, default=None, help="offered load in transitions/s in total (default: as fast as possible)"
    )
    parser.add_argument(
        "--noop-tasks", type=int, default=None, help="no-op tasks of the baseline (default: 3 x --transitions)"
    )
    parser.add_argument(
        "--provisioning", action="store_true", help="also set ATIVA_PROVISIONING_*; each customer gets one service"
    )
    parser.add_argument(
        "--beat", action="store_true", help="start the worker with --beat (relay and reconciler beside it)"
    )
    add_database_url_argument(parser)
    add_redis_url_argument(parser, DEFAULT_REDIS_URL)
    args = parser.parse_args()
    args.customers = args.customers or max(1, args.transitions // 2)
    if min(args.transitions, args.customers, args.threads, args.concurrency) < 1:
        parser.error("--transitions, --customers, --threads and --concurrency must be positive")
    if args.transitions % args.customers:
        parser.error("--customers must divide --transitions")
    if args.customers < args.threads:
        parser.error("--customers must be at least --threads (each thread owns its customers)")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    args.noop_tasks = args.noop_tasks or 3 * args.transitions
    return args


def main() -> int:
    args = parse_args()
    print(f"$ {printable_command()}", flush=True)
    began = time.perf_counter()

    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created
    r.flushdb()

    tmp = Path(tempfile.mkdtemp(prefix="ativa_bench_effects_"))
    receiver: WebhookReceiver | None = None
    worker: WorkflowProcess | None = None
    db: Database | None = None
    conn: psycopg.Connection | None = None
    ok = False
    try:
        db = Database(url)
        migrate.upgrade(db.engine)
        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        redis_version = r.info("server")["redis_version"]

        receiver = WebhookReceiver().start()

        # This process: settings from the environment, read when workers.app is imported.
        os.environ["ATIVA_DATABASE_URL"] = url
        os.environ["ATIVA_BROKER_URL"] = args.redis_url
        os.environ["ATIVA_DATA_DIR"] = str(tmp / "var")
        from workflow.settings import get_settings

        get_settings.cache_clear()
        from workers.app import app as celery_app
        from workers.app import install_adapters

        install_adapters()
        # The same Redis server, through Ativa's repaired transport (workers/redis_broker.py).
        from workers.redis_broker import register

        assert celery_app.conf.broker_url == register(args.redis_url), celery_app.conf.broker_url

        env = workflow_environment(
            data_dir=str(tmp / "var"),
            database_url=url,
            broker_url=args.redis_url,
            worker_concurrency=str(args.concurrency),
            **receiver.settings(provisioning=args.provisioning),
        )
        worker = WorkflowProcess(["worker"] + (["--beat"] if args.beat else []), env, tmp / "worker.log")

        cpfs: set[str] = set()
        warm_customers = seed_customers(db, 2 * args.concurrency, cpfs, with_service=args.provisioning)
        customers = seed_customers(db, args.customers, cpfs, with_service=args.provisioning)
        per_customer = args.transitions // args.customers

        # Ready: a first no-op task has been taken and acknowledged.
        celery_app.send_task(NOOP_TASK, queue=QUEUE)
        wait_until(lambda: not broker_busy(r), 60, "the worker to take a first task", worker)
        # Warm-up: every pool process opens its connection and HTTP client.
        run_transitions(db, warm_customers, 2, min(args.threads, len(warm_customers)), None)
        wait_settled(conn, worker, interval=0.1)

        print(
            f"\nPostgreSQL {pg_version}, Redis {redis_version} ({args.redis_url}), database {name}; "
            f"{os.cpu_count()} CPU(s); Python {sys.version.split()[0]}\n"
            f"worker: `python -m workflow worker`{' --beat' if args.beat else ''} (prefork, "
            f"concurrency {args.concurrency}, {'with' if args.beat else 'no'} relay); "
            f"{args.threads} transition threads, {args.customers} customers x {per_customer} "
            f"transitions, {'offered ' + format(args.rate, 'g') + ' transitions/s' if args.rate else 'unpaced'}; "
            f"provisioning {'on (1 service per customer)' if args.provisioning else 'off'}\n",
            flush=True,
        )

        cpu_before = cpu_snapshot(process_class(worker.pid))
        noop_seconds, noop_publish = noop_round_trip(celery_app, r, worker, args.noop_tasks)
        # Staging is done with the clock stopped; its CPU (this process, Redis) is in the window,
        # so only the worker's and PostgreSQL's shares of the no-op window are meaningful.
        noop_cpu = cpu_delta(cpu_before, cpu_snapshot(process_class(worker.pid)), CPU_CLASSES)
        noop_rate = args.noop_tasks / noop_seconds
        print(
            f"  no-op baseline: {args.noop_tasks} x {NOOP_TASK} in {noop_seconds:.2f} s "
            f"(staged in {noop_publish:.2f} s, not counted)",
            flush=True,
        )

        COMMITTED.clear()
        cpu_before = cpu_snapshot(process_class(worker.pid))
        submitted, sub_began, sub_ended = run_transitions(db, customers, per_customer, args.threads, args.rate)
        print(
            f"  transitions: {len(submitted)} submitted in {sub_ended - sub_began:.2f} s "
            f"({len(submitted) / (sub_ended - sub_began):.0f}/s)",
            flush=True,
        )
        wait_settled(conn, worker, interval=0.1)
        print(f"  all effects settled {time.time() - sub_ended:.2f} s after the last transition", flush=True)
        run_cpu = cpu_delta(cpu_before, cpu_snapshot(process_class(worker.pid)), CPU_CLASSES)
        time.sleep(0.3)  # late duplicate deliveries, if any, would land here

        # -- measurements --
        measured = {s.transition_id for s in submitted}
        missing_stamps = measured - COMMITTED.keys()
        if missing_stamps:
            raise RuntimeError(f"{len(missing_stamps)} transition(s) without a commit stamp")
        effects = load_effects(conn)
        owner = owner_transitions(conn, effects)
        mine = [e for e in effects if owner.get(e.id) in measured]
        done_at: dict[int, float] = {}
        for e in mine:
            if e.completed_at is not None:
                tid = owner[e.id]
                done_at[tid] = max(done_at.get(tid, 0.0), e.completed_at)
        latencies = [(done_at[t] - COMMITTED[t]) * 1000 for t in measured if t in done_at]
        first_commit = min(COMMITTED[t] for t in measured)
        last_done = max(e.completed_at for e in mine if e.completed_at is not None)
        effects_rate = len(mine) / (last_done - first_commit)
        publish_ms = statistics.fmean((s.exited - COMMITTED[s.transition_id]) * 1000 for s in submitted)
        by_state = Counter(e.state for e in mine)
        by_name_state = Counter((e.name, e.state) for e in mine)

        # -- verification --
        problems: list[str] = []
        unsettled = [e for e in mine if e.state not in ("done", "skipped") or e.completed_at is None]
        if unsettled:
            problems.append(f"{len(unsettled)} effect(s) not settled: {Counter(e.state for e in unsettled)}")
        if len(latencies) != len(measured):
            problems.append(f"{len(measured) - len(latencies)} transition(s) without a settled effect")
        retried = [e for e in mine if e.attempts != 1]
        delivering = {"notify_billing", "provision_suspend", "provision_restore"}
        received, bad_signatures = receiver.received()
        deliveries: Counter = Counter()
        for (_, webhook_id), n in received.items():
            deliveries[webhook_id] += n
        expected_ids = {f"effect_{e.id}" for e in effects if e.name in delivering and e.state == "done"}
        skipped_ids = {f"effect_{e.id}" for e in effects if e.name in delivering and e.state == "skipped"}
        missing = sorted(expected_ids - deliveries.keys())
        duplicates = {k: v for k, v in deliveries.items() if v > 1}
        unexpected = sorted(k for k in deliveries if k not in expected_ids)
        skipped_but_sent = sorted(k for k in deliveries if k in skipped_ids)
        if missing:
            problems.append(f"{len(missing)} done delivery effect(s) never reached the receiver: {missing[:10]}")
        if duplicates:
            problems.append(
                f"{len(duplicates)} webhook-id(s) delivered more than once: {dict(list(duplicates.items())[:20])}"
            )
        if unexpected:
            problems.append(
                f"{len(unexpected)} delivery(ies) for no done effect "
                f"({len(skipped_but_sent)} of them skipped effects): {unexpected[:10]}"
            )
        if bad_signatures:
            problems.append(f"{len(bad_signatures)} delivery(ies) with a bad signature")
        worker_errors = worker.errors()
        if worker_errors:
            problems.append(f"{len(worker_errors)} error line(s) in the worker log, first: {worker_errors[0]}")

        # -- report --
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        ratio = effects_rate / noop_rate
        print()
        print("| measure | value |")
        print("|---|---:|")
        print(f"| transitions | {len(submitted)} |")
        print(f"| transitions/s submitted | {len(submitted) / (sub_ended - sub_began):.1f} |")
        print(f"| effects | {len(mine)} |")
        print(f"| effects done / skipped (superseded) | {by_state.get('done', 0)} / {by_state.get('skipped', 0)} |")
        print(f"| effects/s (first commit → last completed_at) | {effects_rate:.1f} |")
        print(f"| p50 commit→done ms | {p50:.1f} |")
        print(f"| p99 commit→done ms | {p99:.1f} |")
        print(f"| max commit→done ms | {max(latencies):.1f} |")
        print(f"| publish after commit, mean ms per transition | {publish_ms:.2f} |")
        print(f"| no-op tasks/s | {noop_rate:.1f} |")
        print()
        print(
            f"ratio effect throughput / no-op throughput: {ratio:.2f} (aim >= 0.3)"
            + (" [paced with --rate: effects/s is the offered load, not the capacity]" if args.rate else "")
        )
        print(f"p99 commit→done: {p99:.0f} ms (aim < 1000)")
        if run_cpu.get("_total"):
            print()
            print(
                "CPU ms per task (/proc; measured run = transitions + effects, from the first "
                "transition until all effects settled):"
            )
            print()
            print("| process | per effect, measured run | per no-op task, baseline |")
            print("|---|---:|---:|")
            for key in CPU_CLASSES:
                noop = "-" if key in ("bench process", "redis") else f"{1000 * noop_cpu[key] / args.noop_tasks:.2f}"
                print(f"| {key} | {1000 * run_cpu[key] / len(mine):.2f} | {noop} |")
            print(
                f"| machine busy (all {os.cpu_count()} CPUs) | "
                f"{100 * run_cpu['_busy'] / run_cpu['_total']:.0f} % | "
                f"{100 * noop_cpu['_busy'] / noop_cpu['_total']:.0f} % |"
            )
        print()
        print("effects by name and state: " + ", ".join(f"{n} {s} {c}" for (n, s), c in sorted(by_name_state.items())))
        if args.beat:
            print(
                f"relay: published {relayed(worker)} effect message(s) again (each one a task that "
                "finds its effect claimed or settled, unless the fast-path message was lost)"
            )
        print(f"attempts != 1: {len(retried)}" + (f" ({Counter(e.attempts for e in retried)})" if retried else ""))
        print(
            f"webhook deliveries: {sum(deliveries.values())} for {len(expected_ids)} done delivery "
            f"effect(s) (warm-up included); duplicates: {len(duplicates)}"
            + (f" {dict(list(duplicates.items())[:20])}" if duplicates else "")
            + f"; bad signatures: {len(bad_signatures)}"
        )
        if problems:
            print("\nVERIFICATION FAILED:")
            for problem in problems:
                print(f"  - {problem}")
        else:
            print(
                f"\nverified: all {len(mine)} effects settled once (done or skipped), one delivery per "
                f"done notification, none for skipped ones; total {time.perf_counter() - began:.1f} s"
            )
        ok = not problems
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop()
            if not ok:
                print(f"\nworker log tail ({worker.log}):\n{worker.tail(25)}", file=sys.stderr)
        if receiver is not None:
            receiver.stop()
        if conn is not None:
            conn.close()
        if db is not None:
            db.dispose()
        close_broker_connections()
        drop_database(args.database_url, name)
        r.flushdb()
        r.close()
        if ok:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
