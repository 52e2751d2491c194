"""A bulk job undoing a day's cuts at scale on PostgreSQL, through real Celery workers: N customers
cut by the sweep, then reactivated by the `undo_cuts` job, against the sweep cutting them.

    .venv/bin/python bench/bulk.py [--customers 50000] [--batch 200] [--concurrency N]
                                   [--as-of 2026-12-01] [--database-url URL]
                                   [--redis-url redis://127.0.0.1:6379/5]

--database-url (default: $ATIVA_BENCH_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
is an *admin* URL: the script creates a throwaway database ``ativa_bench_<random>`` on that server,
migrates it, seeds it and drops it (WITH (FORCE)) when it ends, even on error. --redis-url names a
Redis database used as the Celery broker; it is FLUSHDB'd at start and end.

Seeding (reported, not measured), set-based SQL through psycopg (bench/harness/subscribers.py):
--customers active customers, each with one service and one open invoice of R$ 99.90 due 30 days
before --as-of (past the 15-day grace), and an earlier cut and return each (two status_changes
rows, their outbox rows done), as a live system has. Then VACUUM ANALYZE.

One worker (``python -m bench.harness.routed_worker``: the app and options of ``ativa worker``,
prefork pool of --concurrency processes, default the CPU count, Redis broker) runs both steps. The
effects it publishes after each batch's commit go to a queue no worker consumes: the figures are
the batch paths' alone, the effects stay pending in the outbox (as any effect waits for a worker)
and the benchmark counts their messages at the end. Ready when a first no-op task has been taken.

Measured, one after the other (a CHECKPOINT, unmeasured, before each):

1. baseline, the day's cuts: ``delinquency.dispatch_sweep(db, policy, --as-of, --batch)`` in this
   process, what the API's and the beat's sweep does: the due customers found in one query, their
   batches queued; the worker's ``sweep_batch`` tasks cut them, one transaction per batch that
   locks the batch's rows, re-checks the rule and writes every cut with multi-row statements (the
   customers, a history row and three outbox rows each). The clock stops when the broker is idle
   and every customer is inactive.
2. the undo of the day's cuts, a bulk job of N activations: first the preview, in this process,
   ``bulk.create_job`` with the ``undo_cuts`` preset of today (the sweep wrote its history rows
   now): the sweep's cuts of the day picked in one query, the machine asked once per group of
   customers alike, the job and its N items written (timed on its own row). Then
   ``bulk.run_job``, what ``POST /api/v1/bulk-jobs/{id}/run`` does: the job confirmed and its
   batches queued; the worker's ``bulk_batch`` tasks run them, one transaction per batch (the
   items and customers locked, the machine deciding once per group, multi-row writes of the
   customers, a history row and three outbox rows each, the items' outcomes). The clock stops when
   the job is ``done``. (VACUUM ANALYZE, unmeasured, after step 1: autovacuum would have run.)

The ratio compares the job's run with the sweep's cut (customers per second); the aim is at least
0.5. CPU is split between the worker's pool, its main process, PostgreSQL, Redis and this process;
"other" is what else kept the machine busy (another workload: the figures are then pessimistic).

Verified before the table is printed (a run that silently did nothing fails): the sweep cut every
customer (bench/ladder.py's checks); then every customer active again, version bumped twice, with
a forced hold; exactly one activation history row each (reason manual, forced, the note, source
cli, the job's id) and three pending outbox rows of it (restore_services, resume_invoicing,
notify_billing); every item of the job done and pointing at that history row; nothing else written;
the effect messages in the queue name each pending effect once; a second run of the job refused;
nobody left for the preset. The default (50,000 customers) takes about 45 s on 2 cores;
``--customers 300 --batch 50`` about 15 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
import redis

# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.cpu import cpu_delta, cpu_snapshot, worker_classifier
from bench.harness.database import (
    add_database_url_argument,
    add_redis_url_argument,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
    redis_or_report,
)
from bench.harness.processes import WorkflowProcess, close_broker_connections, wait_until, workflow_environment
from bench.harness.report import printable_command
from bench.harness.subscribers import SEEDED_VERSION, seed_earlier_history, seed_plan, seed_subscribers
from bench.ladder import checkpoint, failed, verify_sweep, warm
from workflow.db import migrate
from workflow.db.engine import Database

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
QUEUE = "ativa"  # workers.app.EFFECTS_QUEUE: the tasks' queue, the worker consumes it
EFFECTS_PARKED = "ativa_bench_effects"  # where the worker's effect messages wait, unconsumed
UNACKED = "unacked"  # kombu.transport.redis.Channel.unacked_key
NOOP_TASK = "celery.accumulate"
AMOUNT_CENTS = 9990  # R$ 99.90
DAYS_LATE = 30
NOTE = "O banco não enviou os pagamentos do dia: cortes desfeitos (benchmark)"
CPU_CLASSES = ("worker pool", "worker main", "postgres", "redis", "bench process")


def seed(url: str, customers: int, due: date) -> dict:
    began = time.perf_counter()
    extra: list[str] = []
    counts: dict = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        plan_id = seed_plan(conn, "Fibra 300", 300_000, 150_000)
        counts |= seed_subscribers(conn, customers, plan_id, "Fibra 300", AMOUNT_CENTS, due, extra, SEEDED_VERSION)
        counts["history"], counts["outbox"] = seed_earlier_history(conn, customers, extra)
        conn.commit()
    vacuum(url)
    return counts | {"extra": extra, "seconds": time.perf_counter() - began}


def vacuum(url: str) -> None:
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) customers, invoices, services, status_changes, outbox_effects")


def broker_idle(r: redis.Redis) -> bool:
    queued, unacked = r.pipeline().llen(QUEUE).hlen(UNACKED).execute()
    return not (queued or unacked)


def parked_effect_ids(r: redis.Redis) -> list[int]:
    """The effect ids the parked messages name (each message: hand_over_effects(ids))."""
    ids: list[int] = []
    for raw in r.lrange(EFFECTS_PARKED, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids += args[0]
    return ids


def measured(step, classify):
    """Run `step()`: (its result, seconds, CPU seconds per class and of the machine)."""
    before = cpu_snapshot(classify)
    began = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - began
    return result, seconds, cpu_delta(before, cpu_snapshot(classify), CPU_CLASSES, elsewhere="other")


def verify_undo(url: str, n: int, job_id: int, seeded: dict, r: redis.Redis) -> None:
    with psycopg.connect(psycopg_dsn(url)) as conn:

        def one(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        checks = {
            "customers active with a forced hold, version bumped twice": (
                one(
                    "SELECT count(*) FROM customers WHERE status = 'active' AND inactivation_reason IS NULL "
                    "AND forced_hold_until IS NOT NULL AND version = %s",
                    SEEDED_VERSION + 2,
                ),
                n,
            ),
            "status_changes rows": (one("SELECT count(*) FROM status_changes"), seeded["history"] + 2 * n),
            "customers with one activation of the job (manual, forced, the note, cli)": (
                one(
                    "SELECT count(DISTINCT customer_id) FROM status_changes WHERE event = 'activate' "
                    "AND reason = 'manual' AND forced AND note = %s AND source = 'cli' AND bulk_job_id = %s "
                    "AND customer_version = %s",
                    NOTE,
                    job_id,
                    SEEDED_VERSION + 2,
                ),
                n,
            ),
            "history rows of the job": (one("SELECT count(*) FROM status_changes WHERE bulk_job_id = %s", job_id), n),
            "items done, each pointing at its customer's history row of the job": (
                one(
                    "SELECT count(*) FROM bulk_job_items i JOIN status_changes s ON s.id = i.transition_id "
                    "AND s.customer_id = i.customer_id AND s.bulk_job_id = i.job_id "
                    "WHERE i.job_id = %s AND i.outcome = 'done'",
                    job_id,
                ),
                n,
            ),
            "items of the job": (one("SELECT count(*) FROM bulk_job_items WHERE job_id = %s", job_id), n),
            "job done": (one("SELECT count(*) FROM bulk_jobs WHERE id = %s AND state = 'done'", job_id), 1),
            "outbox rows": (one("SELECT count(*) FROM outbox_effects"), seeded["outbox"] + 6 * n),
            "pending outbox rows of the job's activations": (
                one(
                    "SELECT count(*) FROM outbox_effects o JOIN status_changes s "
                    "ON s.id = o.transition_id AND s.customer_id = o.customer_id "
                    "WHERE o.state = 'pending' AND s.bulk_job_id = %s AND o.name IN "
                    "('restore_services', 'resume_invoicing', 'notify_billing')",
                    job_id,
                ),
                3 * n,
            ),
        }
        pending = {row[0] for row in conn.execute("SELECT id FROM outbox_effects WHERE state = 'pending'")}
    parked = parked_effect_ids(r)
    checks["effect ids in the parked messages, each once"] = (len(set(parked)), len(parked))
    checks["pending effects named by a parked message"] = (len(pending & set(parked)), len(pending))
    checks["pending effects (the cuts' and the activations')"] = (len(pending), 6 * n)
    failed(checks)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=50_000, help="customers cut, then reactivated (50,000)")
    parser.add_argument("--batch", type=int, default=200, help="customers per batch, both paths (default 200)")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="worker pool processes")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="the sweep's business date (default 2026-12-01, a Tuesday)",
    )
    add_database_url_argument(parser)
    add_redis_url_argument(parser, DEFAULT_REDIS_URL)
    args = parser.parse_args()
    if min(args.customers, args.batch, args.concurrency) < 1 or args.batch > 5000:
        parser.error("--customers, --batch (at most 5000) and --concurrency must be positive")
    return args


def main() -> int:
    args = parse_args()
    n, as_of = args.customers, args.as_of
    print(f"$ {printable_command()}", flush=True)
    began = time.perf_counter()
    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    r.flushdb()
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created
    worker: WorkflowProcess | None = None
    db: Database | None = None
    tmp = Path(tempfile.mkdtemp(prefix="ativa-bench-bulk-"))
    try:
        migration = Database(url)
        migrate.upgrade(migration.engine)
        migration.dispose()
        seeded = seed(url, n, as_of - timedelta(days=DAYS_LATE))

        # This process: the settings of the Settings defaults, but the database and the broker.
        for variable in [v for v in os.environ if v.startswith("ATIVA_")]:
            del os.environ[variable]
        os.environ.update(ATIVA_DATABASE_URL=url, ATIVA_BROKER_URL=args.redis_url, ATIVA_DATA_DIR=str(tmp / "var"))
        from workflow.domain.errors import AtivaError
        from workflow.domain.vocabulary import Role, Source
        from workflow.settings import get_settings

        get_settings.cache_clear()
        from workflow.application import connect_workers
        from workflow.usecases import bulk, delinquency, transitions
        from workflow.usecases.business_day import provider_today

        connect_workers()
        settings = get_settings()
        policy = delinquency.policy_from(settings)
        if why := policy.why_not_a_cut_day(as_of):
            print(f"--as-of {as_of}: {why}; the sweep would cut nobody", file=sys.stderr)
            return 2

        env = workflow_environment(data_dir=str(tmp / "var"), database_url=url, broker_url=args.redis_url)
        worker = WorkflowProcess(
            [EFFECTS_PARKED, str(args.concurrency)], env, tmp / "worker.log", module="bench.harness.routed_worker"
        )
        from workers.app import app as celery_app

        celery_app.send_task(NOOP_TASK, queue=QUEUE)
        wait_until(lambda: broker_idle(r), 120, "the worker to take a first task", worker)
        classify = worker_classifier(worker.pid)

        with psycopg.connect(psycopg_dsn(url)) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
        print(
            f"\nPostgreSQL {server} (synchronous_commit {sync}), Redis {r.info('server')['redis_version']}; "
            f"{os.cpu_count()} CPU(s); Python {sys.version.split()[0]}; worker: prefork, concurrency "
            f"{args.concurrency}, effects parked; batches of {args.batch}; sweep as of {as_of} ({as_of:%A}); "
            f"load average before the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print(
            f"seeded (not measured): {n} customers, each with a service, an invoice {DAYS_LATE} days late, "
            f"{seeded['history']} earlier status_changes and {seeded['outbox']} outbox rows (done); "
            f"{seeded['seconds']:.1f} s" + (f"; also filled {', '.join(seeded['extra'])}" if seeded["extra"] else ""),
            flush=True,
        )
        db = Database(url)
        watcher = psycopg.connect(psycopg_dsn(url), autocommit=True)

        def inactive() -> int:
            return watcher.execute("SELECT count(*) FROM customers WHERE status = 'inactive'").fetchone()[0]

        # 1. Baseline: the day's cuts, through the worker.
        checkpoint(url)
        warm(db)

        def cut_all():
            run = delinquency.dispatch_sweep(db, policy, as_of, args.batch)
            wait_until(lambda: broker_idle(r) and inactive() == n, 3600, f"{n} customers cut", worker, interval=0.1)
            return run

        sweep_run, sweep_s, sweep_cpu = measured(cut_all, classify)
        if sweep_run.candidates != n:
            raise AssertionError(f"sweep: {sweep_run.candidates} candidates, expected {n}")
        verify_sweep(url, db, policy, as_of, n, seeded)
        print(f"  sweep: {n} cut in {sweep_s:.2f} s", file=sys.stderr, flush=True)
        vacuum(url)

        # 2. The undo of the day's cuts: the preview here, the run through the worker.
        actor = transitions.Actor("cli:bench", Role.ADMIN)
        day = provider_today(settings.timezone)
        request = bulk.BulkRequest(None, note=NOTE, preset=bulk.UNDO_CUTS, preset_date=day, batch_size=args.batch)
        checkpoint(url)
        preview, preview_s, preview_cpu = measured(lambda: bulk.create_job(db, request, actor, Source.CLI), classify)
        if preview.preview_counts != {"change": n, "refused": 0, "unchanged": 0}:
            raise AssertionError(f"preview: {preview.preview_counts}, expected {n} to change")
        checkpoint(url)

        def run_job():
            bulk.run_job(db, preview.id, actor)

            def done() -> bool:
                state = watcher.execute("SELECT state FROM bulk_jobs WHERE id = %s", (preview.id,)).fetchone()[0]
                return state == "done" and broker_idle(r)

            wait_until(done, 3600, f"job {preview.id} done", worker, interval=0.1)

        _, run_s, run_cpu = measured(run_job, classify)
        print(f"  bulk job: {n} reactivated in {run_s:.2f} s", file=sys.stderr, flush=True)
        watcher.close()

        verify_undo(url, n, preview.id, seeded, r)
        try:
            bulk.run_job(db, preview.id, actor)
            raise AssertionError("a second run of the job was accepted")
        except AtivaError as refused:
            if refused.code != "conflict":
                raise
        with db.read() as session:
            left = bulk.sweep_cuts_of(session.connection(), day, settings.timezone)
        failed({"sweep's cuts of the day still inactive": (len(left), 0)})
        if errors := worker.errors():
            raise AssertionError(f"the worker logged errors: {errors[:3]}")

        rows = [
            ("baseline: the sweep's cuts, `dispatch_sweep` → `sweep_batch` tasks", sweep_s, sweep_cpu),
            ("bulk job `undo_cuts`: the preview (`create_job`, in this process)", preview_s, preview_cpu),
            ("bulk job `undo_cuts`: the run, `run_job` → `bulk_batch` tasks", run_s, run_cpu),
        ]
        print()
        print(
            "| step | customers | seconds | customers/s | worker pool CPU ms/customer | PostgreSQL CPU ms/customer "
            "| this process CPU ms/customer | other CPU s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for what, seconds, cpu in rows:
            print(
                f"| {what} | {n} | {seconds:.2f} | {n / seconds:,.0f} | {1000 * cpu['worker pool'] / n:.2f} | "
                f"{1000 * cpu['postgres'] / n:.2f} | {1000 * cpu['bench process'] / n:.2f} | {cpu['other']:.1f} |"
            )
        print()
        print(
            f"ratio bulk job / sweep rate: {sweep_s / run_s:.2f} for the run, "
            f"{sweep_s / (run_s + preview_s):.2f} with its preview (aim: at least 0.5)"
        )
        print(
            f"\nverified: the sweep cut {n} customers; the job reactivated all {n} (active, forced hold, one "
            f"manual forced activation with the note and the job's id each, three pending effects of it each, "
            f"every item done pointing at its history row); the {6 * n} pending effects each named once by a "
            f"parked message; a second run refused; nobody left to undo; total {time.perf_counter() - began:.1f} s"
        )
        return 0
    finally:
        if worker is not None:
            worker.stop()
        close_broker_connections()
        if db is not None:
            db.dispose()
        r.flushdb()
        drop_database(args.database_url, name)


if __name__ == "__main__":
    sys.exit(main())
