"""The delinquency sweep at scale on PostgreSQL: finding and cutting 100k delinquent customers.

    .venv/bin/python bench/sweep.py [--customers 1000000] [--delinquent 100000] [--processes N]
                                    [--batch 200] [--as-of 2026-12-01] [--database-url URL]

--database-url (default: $ATIVA_BENCH_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
is an *admin* URL: the script creates a throwaway database ``ativa_bench_<random>`` on that server,
migrates it with workflow.db.migrate.upgrade, seeds it, clones it (CREATE DATABASE ... TEMPLATE) for
the baseline, and drops both (WITH (FORCE)) when it ends, even on error.

Seeding (reported, not measured) is set-based SQL through psycopg: --customers active customers
(11-digit documents, status 'active'), one open invoice of R$ 99.90 due 30 days before
--as-of for each of --delinquent customers spread evenly over the ids, an open invoice not yet due
for a quarter of the others and a paid past-due invoice for another quarter (so the candidate query
has rows to filter out); then VACUUM ANALYZE. Any NOT NULL column without a default that this script
does not know yet (the schema moves on) is filled with a neutral value of its type and named.

Measured, with the policy of the Settings defaults (grace 15 days, minimum R$ 0.01, no cuts on
sat/sun, national holidays) on --as-of, a Tuesday that is no Brazilian holiday:

1. dry run: ``delinquency.candidates(session, policy, today)`` in one call (what the preview shows),
   and ``run_sweep`` with a dispatch that only collects the batches of --batch ids (what the
   scheduled run does before the workers cut: the due ids in one query, then batches).
2. real run: --processes worker processes (default: the CPU count), each with its own Database built
   in the child, take batches of --batch ids from a shared queue, filled beforehand from the dry
   run's candidate list, and run ``delinquency.inactivate_due(db, policy, batch, today)``: one
   transaction per batch that locks the batch's rows, re-checks the rule under the lock and writes
   every cut with multi-row statements (customers, history rows, three outbox rows each). This
   stands in for several Celery workers sharing the sweep's batches; Celery
   itself is not started (no broker, no publisher installed: the effect ids recorded for
   publish-after-commit are dropped). The clock starts when every process is connected and
   waiting, and stops when the last batch is done. In production the beat hands out the batches
   (step 1's second figure) before the workers can finish, so a sweep takes about the sum.
3. baseline, in the same run, on the clone of the seeded database (same state as before step 2):
   one set-based ``UPDATE customers SET status='inactive', inactivation_reason='delinquency',
   version=version+1 WHERE id IN (<the candidate query>)``, no history, no outbox. It runs before
   step 2, and a CHECKPOINT (unmeasured) precedes each, so neither pays for the other's writes.

The real run's CPU time is split between the worker processes, the PostgreSQL processes (read from
/proc when the server is local) and everything else on the machine: a large "other" share means
another workload shared the cores and the figures are pessimistic.

After the real run the script checks that exactly --delinquent customers (the seeded ones) are
inactive for delinquency, that each has one status_changes row from the scheduler and three pending
outbox rows, and that a second dry run finds nobody: a run that silently did nothing fails here.

PRE-EXISTING HISTORY: a tenth of the other customers get an earlier suspension and return (two
status_changes rows, six outbox rows done), as a live system has. It matters: with the history and
outbox tables empty when the workers connect (and autovacuum off, as on the development server, so
no ANALYZE invalidates the plan), each backend caches a sequential-scan plan for the foreign-key check
of outbox_effects.transition_id and keeps it, so every outbox insert scans all of status_changes and
the run slows down quadratically (measured: 31 ms instead of 1.3 ms for one history row and its
three outbox rows once status_changes holds 100k rows; the first default run took 1,338 s so).

The default (1M customers, 100k cut) takes about 3 minutes on 2 cores, of which seeding about 80 s
and the real run 30 to 60 s depending on what else the machine runs; the real run prints its
progress with an estimate of its end (stderr). ``--customers 100000 --delinquent 10000`` takes
about 20 s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from datetime import date, timedelta
from pathlib import Path

import psycopg

# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.cpu import cpu_snapshot, machine_cpu
from bench.harness.database import (
    add_database_url_argument,
    clone_database,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
)
from bench.harness.report import printable_command
from bench.harness.seeding import insert_select
from workflow.db import migrate
from workflow.db.engine import Database
from workflow.domain.delinquency import Policy
from workflow.settings import Settings
from workflow.usecases import delinquency

AMOUNT_CENTS = 9990  # R$ 99.90
DAYS_LATE = 30
DAYS_AHEAD = 10
PROGRESS_EVERY = 30.0  # seconds between progress lines of the real run (stderr)
FIRST_PROGRESS = 10.0  # the first one, with an estimate of the whole run


def settings_policy() -> Policy:
    """The policy of the Settings *defaults*: ATIVA_* variables of this shell do not change it."""
    return delinquency.policy_from(Settings.model_construct())


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def delinquent_step(customers: int, delinquent: int) -> int:
    """Delinquent ids are step, 2*step, ..., delinquent*step: spread evenly, exactly `delinquent`."""
    return customers // delinquent


def seed(url: str, customers: int, delinquent: int, today: date) -> dict:
    """The seeded state; returns the row counts, the extra columns filled and the seconds taken."""
    began = time.perf_counter()
    step = delinquent_step(customers, delinquent)
    # SQL over g, the customer id; '%%' is a literal '%' once the parameters are bound.
    is_delinquent = f"(g %% {step} = 0 AND g <= {step * delinquent})"
    has_history = f"(g %% 10 = 5 AND NOT {is_delinquent})"
    series = "generate_series(1, %(customers)s) AS g"
    extra: list[str] = []
    counts = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        counts["customers"] = insert_select(
            conn,
            "customers",
            {
                "id": "g",
                "name": "'Bench customer ' || g",
                "document": "lpad(g::text, 11, '0')",
                "document_type": "'cpf'",
                "email": "NULL",
                "phone": "NULL",
                "external_ref": "'bench-' || g",
                "status": "'active'",
                "inactivation_reason": "NULL",
                "status_changed_at": f"CASE WHEN {has_history} THEN now() - interval '50 days' ELSE now() END",
                "invoicing_enabled": "true",
                "auto_block_exempt": "false",
                "version": f"CASE WHEN {has_history} THEN 3 ELSE 1 END",
                "created_at": "now() - interval '90 days'",
                "updated_at": "now()",
            },
            series,
            {"customers": customers},
            extra,
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), %s)", (customers,))

        invoice = {
            "external_id": "%(prefix)s || g",
            "customer_id": "g",
            "amount": str(AMOUNT_CENTS),
            "amount_paid": "%(paid)s",
            "due_date": "%(due)s",
            "status": "%(status)s::text",
            "paid_at": "CASE WHEN %(status)s::text = 'paid' THEN now() END",
            "created_at": "now()",
            "updated_at": "now()",
        }
        counts["invoices"] = 0
        for prefix, which, paid, due, status in [
            ("late-", is_delinquent, 0, today - timedelta(days=DAYS_LATE), "open"),
            ("ahead-", f"g %% 4 = 1 AND NOT {is_delinquent}", 0, today + timedelta(days=DAYS_AHEAD), "open"),
            ("paid-", f"g %% 4 = 3 AND NOT {is_delinquent}", AMOUNT_CENTS, today - timedelta(days=DAYS_LATE), "paid"),
        ]:
            counts["invoices"] += insert_select(
                conn,
                "invoices",
                invoice,
                f"{series} WHERE {which}",
                {"customers": customers, "prefix": prefix, "paid": paid, "due": due, "status": status},
                extra,
            )

        # Earlier history, as a live system has: a tenth of the others were suspended at their request
        # and came back (two transitions, six effects done). Without it the history and outbox tables
        # start empty, which no production database is; see PRE-EXISTING HISTORY in the docstring.
        counts["history"] = insert_select(
            conn,
            "status_changes",
            {
                "customer_id": "g",
                "customer_version": "h.version",
                "event": "h.event",
                "from_status": "h.from_status",
                "to_status": "h.to_status",
                "reason": "h.reason",
                "note": "NULL",
                "forced": "false",
                "actor": "'cli:bench'",
                "source": "'cli'",
                "created_at": "now() - h.days_ago * interval '1 day'",
            },
            f"{series} CROSS JOIN (VALUES (2, 'inactivate', 'active', 'inactive', 'customer_request', 60), "
            f"(3, 'activate', 'inactive', 'active', 'customer_return', 50)) "
            f"AS h(version, event, from_status, to_status, reason, days_ago) WHERE {has_history}",
            {"customers": customers},
            extra,
        )
        counts["outbox"] = insert_select(
            conn,
            "outbox_effects",
            {
                "transition_id": "s.id",
                "customer_id": "s.customer_id",
                "service_id": "NULL",
                "origin": "'transition'",
                "name": "e.name",
                "state": "'done'",
                "attempts": "1",
                "last_error": "NULL",
                "note": "NULL",
                "created_at": "s.created_at",
                "next_attempt_at": "s.created_at",
                "claimed_until": "NULL",
                "published_at": "s.created_at",
                "completed_at": "s.created_at + interval '1 second'",
                "relay_count": "1",
                "relay_after": "NULL",
            },
            "status_changes s JOIN (VALUES ('inactivate', 'suspend_services'), ('inactivate', 'pause_invoicing'), "
            "('inactivate', 'notify_billing'), ('activate', 'restore_services'), ('activate', 'resume_invoicing'), "
            "('activate', 'notify_billing')) AS e(event, name) ON e.event = s.event",
            {},
            extra,
        )
        conn.commit()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) customers, invoices, status_changes, outbox_effects")
    counts["extra"] = extra
    counts["seconds"] = time.perf_counter() - began
    return counts


def checkpoint(url: str) -> None:
    """Unmeasured: flush the previous step's dirty pages so that no step pays for another's."""
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# --------------------------------------------------------------------------------------------
# The measured steps
# --------------------------------------------------------------------------------------------


def dry_run(db: Database, policy: Policy, today: date) -> tuple[list[int], float]:
    began = time.perf_counter()
    with db.read() as session:
        found = delinquency.candidates(session, policy, today)
    return [c.customer_id for c in found], time.perf_counter() - began


def dry_run_batched(db: Database, policy: Policy, today: date, batch: int) -> tuple[int, int, float]:
    """As the scheduled run hands batches out, without cutting: (customers, batches, seconds)."""
    began = time.perf_counter()
    batches: list[list[int]] = []
    run = delinquency.run_sweep(db, policy, today, batch, dispatch=batches.append)
    return run.candidates, len(batches), time.perf_counter() - began


def worker(url: str, today: date, tasks, results, go, release) -> None:
    """One 'Celery worker': its own Database, batches from the shared queue until a None."""
    try:
        db = Database(url)
        policy = settings_policy()
        with db.read() as session:  # connect before the clock starts
            session.connection().exec_driver_sql("SELECT 1")
        results.put(("ready", os.getpid(), None))
        go.wait()
        cpu = time.process_time()
        while (batch := tasks.get()) is not None:
            done = delinquency.inactivate_due(db, policy, batch, today)
            skipped = list(done.skipped.items())[:3]
            results.put(("batch", len(done.inactivated), (len(done.skipped), skipped)))
        results.put(("done", os.getpid(), time.process_time() - cpu))
        release.wait(60)  # keep the server backend alive until its CPU time has been read
        db.dispose()
    except BaseException:  # noqa: BLE001 - reported by the parent
        results.put(("error", os.getpid(), traceback.format_exc()))


def postgres_cpu() -> float:
    """CPU seconds used so far by the processes named postgres on this machine (0 if the server is
    elsewhere): the backends of the worker processes live through the whole real run."""
    snapshot = cpu_snapshot(lambda pid, ppid, comm: "postgres" if comm == "postgres" else None)
    return sum(seconds for _, seconds in snapshot.processes.values())


def real_run(url: str, ids: list[int], today: date, processes: int, batch: int) -> dict:
    context = mp.get_context("spawn")  # nothing inherited: each process builds its own Database
    tasks, results, go, release = context.Queue(), context.Queue(), context.Event(), context.Event()
    pool = [
        context.Process(target=worker, args=(url, today, tasks, results, go, release), daemon=True)
        for _ in range(processes)
    ]
    for process in pool:
        process.start()
    try:
        for start in range(0, len(ids), batch):
            tasks.put(ids[start : start + batch])
        for _ in pool:
            tasks.put(None)
        ready = 0
        while ready < processes:
            kind, _, payload = results.get(timeout=120)
            if kind == "error":
                raise RuntimeError(f"worker failed before the start:\n{payload}")
            ready += 1
        machine0 = machine_cpu()
        server0 = postgres_cpu()
        began = time.perf_counter()
        go.set()
        inactivated, skipped, reasons, worker_cpu, finished = 0, 0, [], 0.0, 0
        last_report = began - (PROGRESS_EVERY - FIRST_PROGRESS)
        while finished < processes:
            try:
                kind, value, payload = results.get(timeout=5)
            except queue.Empty:
                if not all(p.is_alive() for p in pool) and results.empty():
                    raise RuntimeError("a worker process died without reporting") from None
                continue
            if kind == "error":
                raise RuntimeError(f"worker {value} failed:\n{payload}")
            if kind == "batch":
                inactivated += value
                skipped += payload[0]
                reasons += payload[1]
            elif kind == "done":
                worker_cpu += payload
                finished += 1
            now = time.perf_counter()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                rate = inactivated / (now - began)
                left = (len(ids) - inactivated - skipped) / rate if rate else float("nan")
                print(
                    f"  real run: {inactivated} cut in {now - began:.0f} s ({rate:.0f}/s), "
                    f"about {left:.0f} s to go (whole real run ~{now - began + left:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        seconds = time.perf_counter() - began
        machine1 = machine_cpu()
        server1 = postgres_cpu()
    finally:
        release.set()
        for process in pool:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    return {
        "inactivated": inactivated,
        "skipped": skipped,
        "reasons": reasons[:5],
        "seconds": seconds,
        "worker_cpu": worker_cpu,
        "server_cpu": server1 - server0,
        "machine_busy": machine1.busy_not_stolen - machine0.busy_not_stolen,
        "machine_steal": machine1.stolen - machine0.stolen,
        "machine_total": machine1.total - machine0.total,
    }


def candidate_sql() -> str:
    """The candidate query of delinquency.candidates, as plain SQL (ids only)."""
    return (
        "SELECT c.id FROM customers c JOIN ("
        " SELECT customer_id FROM invoices"
        " WHERE status = 'open' AND due_date < %(today)s"
        " GROUP BY customer_id"
        " HAVING min(due_date) < %(cutoff)s"
        " AND sum(coalesce(amount, 0) - amount_paid) >= %(min_cents)s"
        ") o ON o.customer_id = c.id"
        " WHERE c.status = 'active' AND c.auto_block_exempt IS false"
    )


def baseline(url: str, policy: Policy, today: date) -> tuple[int, float]:
    params = {
        "today": today,
        "cutoff": today - timedelta(days=policy.grace_days),
        "min_cents": int(policy.min_overdue_amount * 100),
    }
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SELECT 1").fetchone()
        began = time.perf_counter()
        cursor = conn.execute(
            "UPDATE customers SET status = 'inactive', inactivation_reason = 'delinquency', "
            f"version = version + 1 WHERE id IN ({candidate_sql()})",
            params,
        )
        conn.commit()
        return cursor.rowcount, time.perf_counter() - began


def verify(url: str, db: Database, policy: Policy, today: date, customers: int, delinquent: int, seeded: dict) -> None:
    step = delinquent_step(customers, delinquent)
    with psycopg.connect(psycopg_dsn(url)) as conn:

        def one(sql: str, *params):
            return conn.execute(sql, params).fetchone()[0]

        checks = {
            "inactive customers": (one("SELECT count(*) FROM customers WHERE status <> 'active'"), delinquent),
            "inactive for delinquency, seeded delinquent, version 2": (
                one(
                    "SELECT count(*) FROM customers WHERE status = 'inactive' AND "
                    "inactivation_reason = 'delinquency' AND version = 2 AND id %% %s = 0 AND id <= %s",
                    step,
                    step * delinquent,
                ),
                delinquent,
            ),
            "status_changes rows": (one("SELECT count(*) FROM status_changes"), seeded["history"] + delinquent),
            "status_changes rows from the scheduler": (
                one("SELECT count(*) FROM status_changes WHERE source = 'scheduler'"),
                delinquent,
            ),
            "status_changes from the scheduler, delinquency, version 2": (
                one(
                    "SELECT count(DISTINCT s.customer_id) FROM status_changes s JOIN customers c "
                    "ON c.id = s.customer_id AND c.status = 'inactive' "
                    "WHERE s.source = 'scheduler' AND s.actor = 'scheduler' AND s.event = 'inactivate' "
                    "AND s.reason = 'delinquency' AND s.customer_version = 2"
                ),
                delinquent,
            ),
            "outbox rows": (one("SELECT count(*) FROM outbox_effects"), seeded["outbox"] + 3 * delinquent),
            "outbox rows pending": (one("SELECT count(*) FROM outbox_effects WHERE state = 'pending'"), 3 * delinquent),
            "outbox rows pending, of a scheduler transition": (
                one(
                    "SELECT count(*) FROM outbox_effects o JOIN status_changes s "
                    "ON s.id = o.transition_id AND s.customer_id = o.customer_id "
                    "WHERE o.state = 'pending' AND s.source = 'scheduler' AND o.name IN "
                    "('suspend_services', 'pause_invoicing', 'notify_billing')"
                ),
                3 * delinquent,
            ),
        }
    with db.read() as session:
        checks["candidates on a second dry run"] = (len(delinquency.candidates(session, policy, today)), 0)
    wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
    if wrong:
        raise AssertionError(
            "verification failed: " + "; ".join(f"{k}: {got}, expected {want}" for k, (got, want) in wrong.items())
        )


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--delinquent", type=int, default=100_000)
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 4,
        help="worker processes of the real run (default: the CPU count)",
    )
    parser.add_argument("--batch", type=int, default=200, help="customers per batch (default 200)")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="the business date of the sweep (default 2026-12-01, a Tuesday)",
    )
    add_database_url_argument(parser)
    args = parser.parse_args()
    if min(args.customers, args.delinquent, args.processes, args.batch) < 1:
        parser.error("--customers, --delinquent, --processes and --batch must be positive")
    if args.delinquent > args.customers:
        parser.error("--delinquent cannot exceed --customers")
    return args


def main() -> int:
    args = parse_args()
    today, n, d = args.as_of, args.customers, args.delinquent
    policy = settings_policy()
    print(f"$ {printable_command()}")
    if why := policy.why_not_a_cut_day(today):
        print(f"--as-of {today}: {why}; the sweep would cut nobody", file=sys.stderr)
        return 2
    began = time.perf_counter()
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created

    names = [name]
    db: Database | None = None
    try:
        db = Database(url)
        migrate.upgrade(db.engine)
        db.dispose()
        with psycopg.connect(psycopg_dsn(url)) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
            autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
            buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
        seeded = seed(url, n, d, today)
        base_name, base_url = clone_database(args.database_url, name)
        names.append(base_name)
        print(
            f"\nPostgreSQL {server} (synchronous_commit {sync}, autovacuum {autovacuum}, shared_buffers "
            f"{buffers}); {os.cpu_count()} CPU(s); Python "
            f"{sys.version.split()[0]}; as of {today} ({today:%A}), grace {policy.grace_days} days, "
            f"minimum R$ {policy.min_overdue_amount}, batches of {args.batch}, "
            f"{args.processes} worker process(es)"
        )
        print(
            f"seeded (not measured): {n} customers ({d} delinquent), {seeded['invoices']} invoices, "
            f"{seeded['history']} earlier status_changes and {seeded['outbox']} outbox rows (done) in "
            f"{seeded['seconds']:.1f} s, then VACUUM ANALYZE and a clone for the baseline"
            + (f"; also filled {', '.join(seeded['extra'])}" if seeded["extra"] else ""),
            flush=True,
        )

        ids, one_shot = dry_run(db, policy, today)
        if len(ids) != d:
            raise AssertionError(f"the dry run found {len(ids)} candidates, expected {d}")
        batched, batches, batched_seconds = dry_run_batched(db, policy, today, args.batch)
        if batched != d:
            raise AssertionError(f"run_sweep handed out {batched} candidates, expected {d}")
        db.dispose()
        print(
            f"  dry run: {one_shot:.2f} s in one query, {batched_seconds:.2f} s as {batches} batches",
            file=sys.stderr,
            flush=True,
        )

        # The baseline first, on the clone, so that the real run's WAL and checkpoints do not land on
        # it; a CHECKPOINT (unmeasured) before each so neither pays for the other's dirty pages.
        checkpoint(base_url)
        updated, base_seconds = baseline(base_url, policy, today)
        if updated != d:
            raise AssertionError(f"baseline updated {updated} customers, expected {d}")
        print(f"  baseline: {base_seconds:.2f} s", file=sys.stderr, flush=True)

        checkpoint(url)
        real = real_run(url, ids, today, args.processes, args.batch)
        if real["inactivated"] != d or real["skipped"]:
            raise AssertionError(
                f"real run: {real['inactivated']} cut, {real['skipped']} skipped, e.g. {real['reasons']}"
            )

        verify(url, db, policy, today, n, d, seeded)
        db.dispose()

        rows = [
            ("dry run: `candidates()`, one query", d, one_shot),
            (f"dry run: `run_sweep` handing out {batches} batches of {args.batch}", d, batched_seconds),
            (f"real run: `inactivate_due`, {args.processes} processes, batches of {args.batch}", d, real["seconds"]),
            ("baseline: one set-based `UPDATE customers`", d, base_seconds),
        ]
        print()
        print("| step | customers | seconds | customers/s |")
        print("|---|---:|---:|---:|")
        for step, count, secs in rows:
            print(f"| {step} | {count} | {secs:.2f} | {count / secs:,.0f} |")
        print()
        ratio = real["seconds"] / base_seconds
        print(
            f"ratio real run / baseline time: {ratio:.1f} (baseline/real throughput: {ratio:.1f}x; "
            f"the real run reaches {1 / ratio:.1%} of the bare UPDATE's throughput)"
        )
        other = real["machine_busy"] - real["worker_cpu"] - real["server_cpu"]
        print(
            f"real run CPU: {real['machine_busy']:.0f} of the machine's {real['machine_total']:.0f} "
            f"CPU-seconds busy ({real['machine_busy'] / real['machine_total']:.0%}): worker processes "
            f"{real['worker_cpu']:.0f} s ({real['worker_cpu'] / d * 1e3:.2f} ms/customer), PostgreSQL "
            f"{real['server_cpu']:.0f} s ({real['server_cpu'] / d * 1e3:.2f} ms/customer), other "
            f"processes and the kernel {max(other, 0):.0f} s; stolen by the hypervisor "
            f"{real['machine_steal']:.0f} s"
        )
        print(f"aim: real run under 60 s -> {'met' if real['seconds'] < 60 else 'not met'} ({real['seconds']:.1f} s)")
        print(
            f"\nverified: {d} customers inactive for delinquency (exactly the seeded ones, version 2), {d} "
            f"status_changes rows from the scheduler, {3 * d} pending outbox rows, nothing else changed in "
            f"history or outbox, 0 candidates on a second dry run; total {time.perf_counter() - began:.1f} s"
        )
        return 0
    finally:
        if db is not None:
            db.dispose()
        for each in reversed(names):
            drop_database(args.database_url, each)


if __name__ == "__main__":
    sys.exit(main())
