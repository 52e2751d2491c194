"""The collection ladder's hourly job at scale on PostgreSQL: N customers moved to the notice stage,
against the sweep cutting as many.

    .venv/bin/python bench/ladder.py [--customers 20000] [--batch 200] [--as-of 2026-12-01]
                                     [--database-url URL]

--database-url (default: $ATIVA_BENCH_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
is an *admin* URL: the script creates two throwaway databases ``ativa_bench_<random>`` on that
server (one for each path), migrates them with workflow.db.migrate.upgrade, seeds them and drops
them (WITH (FORCE)) when it ends, even on error.

Settings (built here, not read from the environment: ATIVA_* variables of this shell change
nothing but the database URL): ATIVA_NOTICE_AFTER_DAYS=3, ATIVA_REDUCE_AFTER_DAYS=7,
ATIVA_GRACE_DAYS=15, the other defaults (minimum R$ 0.01, no cuts on sat/sun, national holidays);
RADIUS in the same database (FreeRADIUS's tables created and filled with the groups by
``enforcement.prepare``, as ``ativa db upgrade`` does).

Seeding (reported, not measured), set-based SQL through psycopg, the same for both databases but
the invoices' age: one plan (``Fibra 300``); --customers active customers, each with one active
service with a login (``cliente<N>``), a password and the plan; the login's FreeRADIUS rows (one
``Cleartext-Password`` radcheck row, one radusergroup row in the plan's group ``ativa_plano_<id>``,
what ``rows.write_logins`` writes); one open invoice of R$ 99.90 due 5 days before --as-of in the
ladder's database (past the notice stage's 3 days, short of the reduction's 7), 30 days before in
the sweep's (past the 15-day grace); and an earlier cut and return per customer (two status_changes
rows, their eight outbox rows done) as a live system has: with the history and outbox tables empty
PostgreSQL keeps the statistics of empty tables and plans the foreign-key checks as scans (see
bench/sweep.py). Then VACUUM ANALYZE.

Measured, one after the other in this process (a CHECKPOINT, unmeasured, before each):

1. baseline: the sweep's set-based cut path, ``delinquency.run_sweep(db, policy, today, --batch)``
   with no dispatcher, so it cuts here batch by batch as one worker would: the due ids in one
   query, then ``inactivate_due`` per batch, one transaction per batch that locks the batch's rows,
   re-checks the rule in one statement and writes every cut with multi-row statements (customers,
   history rows, three outbox rows each). The logins move to the blocked group later, when a
   worker carries out the cut's ``suspend_services`` effect: not part of this step.
2. the ladder: ``ladder.advance_ladder(db, policy, today, settings)``, what the hourly task
   ``workers.tasks.ladder`` runs: the candidates read and weighed in chunks without a lock, then
   the movers handed to ``advance_batch`` in batches of --batch (ATIVA_SWEEP_BATCH_SIZE), one
   transaction per batch: the batch's rows locked in id order, their overdue invoices in one
   statement, ``Policy.stage_due`` asked for each and the machine's ADVANCE_STAGE decided once per
   group of customers alike, then multi-row writes (the customers, a history row and a
   ``notify_stage`` outbox row each), their active logins moved to ``ativa_plano_<id>_aviso``
   (radcheck and radusergroup rows replaced under the logins' locks) and one ``radius_coa`` effect
   per live session, with ``services_changed_many``. The unlocked read alone
   (``ladder.customers_to_move``) is timed as well, before, for reference.

No publisher is installed (no broker, no worker): the effect ids recorded for publish-after-commit
are dropped, and the effects stay pending, as in bench/sweep.py. Client CPU is this process's CPU
time over the step; PostgreSQL's is the CPU time of the processes named postgres on this machine
(0 when the server is elsewhere).

Verified before the table is printed (a run that silently did nothing fails): the sweep cut every
customer (inactive for delinquency, one scheduler history row each, three pending outbox rows each,
nobody left on a second dry run); the ladder moved every customer to notice and no further (active,
stage notice, version bumped once), one history row each (advance_stage, delinquency, scheduler,
stage notice), one pending ``notify_stage`` outbox row of that history row each, one pending
``radius_coa`` row of that history row for the customer's service each, every login with exactly
one radusergroup row, in ``ativa_plano_<id>_aviso``, and one radcheck row; nothing else written to
history or outbox; nobody left to move on a second run.

The default (20,000 customers) takes about 35 s on 2 cores, of which the ladder about 13 (seeding
both databases about 11 s, the sweep about 6 s); ``--customers 200`` about 5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.cpu import cpu_snapshot, machine_cpu
from bench.harness.database import (
    add_database_url_argument,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
)
from bench.harness.report import printable_command
from bench.harness.subscribers import SEEDED_VERSION, seed_earlier_history, seed_login_rows, seed_plan, seed_subscribers
from workflow.db import migrate
from workflow.db.engine import Database
from workflow.domain.delinquency import Policy
from workflow.domain.radius import Profile, plan_group
from workflow.settings import Settings
from workflow.usecases import delinquency, ladder
from workflow.usecases.radius.enforcement import prepare

NOTICE_AFTER_DAYS, REDUCE_AFTER_DAYS, GRACE_DAYS = 3, 7, 15
LADDER_DAYS_LATE = 5  # notice (past 3 days), not reduced (7)
SWEEP_DAYS_LATE = 30  # past the grace
AMOUNT_CENTS = 9990  # R$ 99.90
PLAN_NAME, DOWNLOAD_KBPS, UPLOAD_KBPS = "Fibra 300", 300_000, 150_000


def bench_settings(url: str, batch: int) -> Settings:
    """The ladder's settings of the brief; nothing read from this shell's ATIVA_* variables."""
    settings = Settings.model_construct(
        database_url=url,
        sweep_batch_size=batch,  # the ladder's batches are the sweep's size
        notice_after_days=NOTICE_AFTER_DAYS,
        reduce_after_days=REDUCE_AFTER_DAYS,
        grace_days=GRACE_DAYS,
    )
    if problems := settings.ladder.problems(settings.grace_days):
        raise RuntimeError(f"the bench's ladder is wrong: {problems}")
    return settings


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def seed(url: str, settings: Settings, customers: int, due: date) -> dict:
    """Plan, customers, services with logins, one open invoice due on `due` each, earlier history;
    FreeRADIUS's tables and groups (enforcement.prepare) and the logins' rows. Returns counts, the
    plan's id, the extra columns filled and the seconds taken."""
    began = time.perf_counter()
    extra: list[str] = []
    counts: dict = {}
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        plan_id = seed_plan(conn, PLAN_NAME, DOWNLOAD_KBPS, UPLOAD_KBPS)
        counts |= seed_subscribers(conn, customers, plan_id, PLAN_NAME, AMOUNT_CENTS, due, extra, SEEDED_VERSION)
        counts["history"], counts["outbox"] = seed_earlier_history(conn, customers, extra)
        conn.commit()
    db = Database(url)
    try:
        prepare(db, settings)  # FreeRADIUS's tables in this database, the plan's groups (and _aviso)
    finally:
        db.dispose()
    with psycopg.connect(psycopg_dsn(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        counts["radcheck"], counts["radusergroup"] = seed_login_rows(conn, plan_id)
        conn.commit()
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute(
            "VACUUM (ANALYZE) customers, invoices, services, status_changes, outbox_effects, radcheck, radusergroup"
        )
    counts |= {"plan_id": plan_id, "extra": extra, "seconds": time.perf_counter() - began}
    return counts


def checkpoint(url: str) -> None:
    """Unmeasured: flush the seeding's dirty pages so that no step pays for them."""
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def postgres_cpu() -> float:
    """CPU seconds used so far by the processes named postgres on this machine (0 if the server is
    elsewhere); the step's backend lives through it (the Database's pool keeps its connection)."""
    snapshot = cpu_snapshot(lambda pid, ppid, comm: "postgres" if comm == "postgres" else None)
    return sum(seconds for _, seconds in snapshot.processes.values())


def measured(step):
    """Run `step()`: (its result, seconds, client CPU s, PostgreSQL CPU s, machine busy share)."""
    machine0, server0, cpu0 = machine_cpu(), postgres_cpu(), time.process_time()
    began = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - began
    cpu1, server1, machine1 = time.process_time(), postgres_cpu(), machine_cpu()
    total = machine1.total - machine0.total
    busy = (machine1.busy_not_stolen - machine0.busy_not_stolen) / total if total else float("nan")
    return result, seconds, cpu1 - cpu0, server1 - server0, busy


def warm(db: Database) -> None:
    """One connection opened before the clock starts."""
    with db.read() as session:
        session.connection().exec_driver_sql("SELECT 1")


# --------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------


def failed(checks: dict[str, tuple[int, int]]) -> None:
    wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
    if wrong:
        raise AssertionError(
            "verification failed: " + "; ".join(f"{k}: {got}, expected {want}" for k, (got, want) in wrong.items())
        )


def verify_sweep(url: str, db: Database, policy: Policy, today: date, n: int, seeded: dict) -> None:
    with psycopg.connect(psycopg_dsn(url)) as conn:

        def one(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        checks = {
            "customers inactive for delinquency, version bumped once": (
                one(
                    "SELECT count(*) FROM customers WHERE status = 'inactive' "
                    "AND inactivation_reason = 'delinquency' AND version = %s",
                    SEEDED_VERSION + 1,
                ),
                n,
            ),
            "status_changes rows": (one("SELECT count(*) FROM status_changes"), seeded["history"] + n),
            "customers with one scheduler cut": (
                one(
                    "SELECT count(DISTINCT customer_id) FROM status_changes WHERE source = 'scheduler' "
                    "AND event = 'inactivate' AND reason = 'delinquency' AND customer_version = %s",
                    SEEDED_VERSION + 1,
                ),
                n,
            ),
            "outbox rows": (one("SELECT count(*) FROM outbox_effects"), seeded["outbox"] + 3 * n),
            "pending outbox rows of a scheduler cut": (
                one(
                    "SELECT count(*) FROM outbox_effects o JOIN status_changes s "
                    "ON s.id = o.transition_id AND s.customer_id = o.customer_id "
                    "WHERE o.state = 'pending' AND s.source = 'scheduler' AND o.name IN "
                    "('suspend_services', 'pause_invoicing', 'notify_billing')"
                ),
                3 * n,
            ),
        }
    with db.read() as session:
        checks["candidates on a second dry run"] = (len(delinquency.candidates(session, policy, today)), 0)
    failed(checks)


def verify_ladder(url: str, db: Database, policy: Policy, today: date, n: int, seeded: dict) -> None:
    notice_group = plan_group(seeded["plan_id"], Profile.NOTICE)
    with psycopg.connect(psycopg_dsn(url)) as conn:

        def one(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        checks = {
            "customers active at notice, version bumped once": (
                one(
                    "SELECT count(*) FROM customers WHERE status = 'active' AND delinquency_stage = 'notice' "
                    "AND notice_snoozed_until IS NULL AND version = %s",
                    SEEDED_VERSION + 1,
                ),
                n,
            ),
            "status_changes rows": (one("SELECT count(*) FROM status_changes"), seeded["history"] + n),
            "customers with one step to notice": (
                one(
                    "SELECT count(DISTINCT customer_id) FROM status_changes WHERE source = 'scheduler' "
                    "AND actor = 'scheduler' AND event = 'advance_stage' AND reason = 'delinquency' "
                    "AND delinquency_stage = 'notice' AND from_status = 'active' AND to_status = 'active' "
                    "AND customer_version = %s",
                    SEEDED_VERSION + 1,
                ),
                n,
            ),
            "outbox rows": (one("SELECT count(*) FROM outbox_effects"), seeded["outbox"] + 2 * n),
            "pending notify_stage rows of a step": (
                one(
                    "SELECT count(DISTINCT o.customer_id) FROM outbox_effects o JOIN status_changes s "
                    "ON s.id = o.transition_id AND s.customer_id = o.customer_id "
                    "WHERE o.state = 'pending' AND o.name = 'notify_stage' AND s.event = 'advance_stage'"
                ),
                n,
            ),
            "pending radius_coa rows of a step, for the customer's service": (
                one(
                    "SELECT count(DISTINCT o.service_id) FROM outbox_effects o JOIN status_changes s "
                    "ON s.id = o.transition_id AND s.customer_id = o.customer_id "
                    "JOIN services v ON v.id = o.service_id AND v.customer_id = o.customer_id "
                    "WHERE o.state = 'pending' AND o.name = 'radius_coa' AND s.event = 'advance_stage'"
                ),
                n,
            ),
            f"logins in {notice_group}": (
                one("SELECT count(DISTINCT username) FROM radusergroup WHERE groupname = %s", notice_group),
                n,
            ),
            "radusergroup rows": (one("SELECT count(*) FROM radusergroup"), n),
            "radcheck rows, one per login": (
                one(
                    "SELECT count(*) FROM radcheck c JOIN services v ON v.login = c.username "
                    "AND c.value = v.radius_password AND c.attribute = 'Cleartext-Password'"
                ),
                n,
            ),
            "radcheck rows": (one("SELECT count(*) FROM radcheck"), n),
        }
    checks["customers to move on a second run"] = (len(ladder.customers_to_move(db, policy, today)), 0)
    failed(checks)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000, help="customers moved by each path (default 20,000)")
    parser.add_argument("--batch", type=int, default=200, help="customers per batch, sweep and ladder (default 200)")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="the business date of both runs (default 2026-12-01, a Tuesday)",
    )
    add_database_url_argument(parser)
    args = parser.parse_args()
    if min(args.customers, args.batch) < 1:
        parser.error("--customers and --batch must be positive")
    return args


def main() -> int:
    args = parse_args()
    today, n = args.as_of, args.customers
    print(f"$ {printable_command()}", flush=True)
    began = time.perf_counter()
    names: list[str] = []
    dbs: list[Database] = []
    try:
        urls = {}
        for path in ("sweep", "ladder"):
            created = create_database_or_report(args.database_url)
            if created is None:
                return 2
            names.append(created[0])
            urls[path] = created[1]
        settings = {path: bench_settings(url, args.batch) for path, url in urls.items()}
        policy = delinquency.policy_from(settings["ladder"])
        if why := policy.why_not_a_cut_day(today):
            print(f"--as-of {today}: {why}; the sweep would cut nobody", file=sys.stderr)
            return 2
        seeded = {}
        for path, days_late in (("sweep", SWEEP_DAYS_LATE), ("ladder", LADDER_DAYS_LATE)):
            db = Database(urls[path])
            migrate.upgrade(db.engine)
            db.dispose()
            seeded[path] = seed(urls[path], settings[path], n, today - timedelta(days=days_late))
        with psycopg.connect(psycopg_dsn(urls["ladder"])) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
            autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
        extra = sorted({e for s in seeded.values() for e in s["extra"]})
        load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
        print(
            f"\nPostgreSQL {server} (synchronous_commit {sync}, autovacuum {autovacuum}); {os.cpu_count()} CPU(s); "
            f"Python {sys.version.split()[0]}; as of {today} ({today:%A}); ladder notice after "
            f"{NOTICE_AFTER_DAYS} days, reduce after {REDUCE_AFTER_DAYS}, cut after {GRACE_DAYS}; RADIUS in "
            f"the same database; load average before the runs {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print(
            f"seeded (not measured), in each of two databases: {n} customers, services with a login, "
            f"overdue invoices ({SWEEP_DAYS_LATE} days late for the sweep, {LADDER_DAYS_LATE} for the ladder), "
            f"{seeded['ladder']['radcheck']} radcheck + {seeded['ladder']['radusergroup']} radusergroup rows, "
            f"{seeded['ladder']['history']} earlier status_changes and {seeded['ladder']['outbox']} outbox rows "
            f"(done); {seeded['sweep']['seconds'] + seeded['ladder']['seconds']:.1f} s"
            + (f"; also filled {', '.join(extra)}" if extra else ""),
            flush=True,
        )

        # 1. Baseline: the sweep's cut path, in this process.
        db = Database(urls["sweep"])
        dbs.append(db)
        checkpoint(urls["sweep"])
        warm(db)
        sweep_run, sweep_s, sweep_cpu, sweep_pg, sweep_busy = measured(
            lambda: delinquency.run_sweep(db, policy, today, args.batch)
        )
        if sorted(sweep_run.inactivated) != list(range(1, n + 1)) or sweep_run.skipped:
            raise AssertionError(
                f"sweep: {len(sweep_run.inactivated)} cut, {len(sweep_run.skipped)} skipped, e.g. "
                f"{list(sweep_run.skipped.items())[:3]}"
            )
        verify_sweep(urls["sweep"], db, policy, today, n, seeded["sweep"])
        db.dispose()
        print(f"  sweep: {n} cut in {sweep_s:.2f} s", file=sys.stderr, flush=True)

        # 2. The ladder: the unlocked read alone (reference), then the hourly job.
        db = Database(urls["ladder"])
        dbs.append(db)
        checkpoint(urls["ladder"])
        warm(db)
        movers, read_s, read_cpu, read_pg, _ = measured(lambda: ladder.customers_to_move(db, policy, today))
        if len(movers) != n:
            raise AssertionError(f"ladder: {len(movers)} customers to move, expected {n}")
        run, ladder_s, ladder_cpu, ladder_pg, ladder_busy = measured(
            lambda: ladder.advance_ladder(db, policy, today, settings["ladder"])
        )
        if run.advanced != dict.fromkeys(range(1, n + 1), "notice") or run.cleared or run.kept:
            raise AssertionError(
                f"ladder: {len(run.advanced)} advanced ({set(run.advanced.values())}), {len(run.cleared)} cleared, "
                f"{len(run.kept)} kept, e.g. {list(run.kept.items())[:3]}"
            )
        verify_ladder(urls["ladder"], db, policy, today, n, seeded["ladder"])
        db.dispose()
        print(f"  ladder: {n} to notice in {ladder_s:.2f} s", file=sys.stderr, flush=True)

        rows = [
            (
                f"baseline: sweep's cut path, `run_sweep` → `inactivate_due`, batches of {args.batch}",
                sweep_s,
                sweep_cpu,
                sweep_pg,
            ),
            (
                f"ladder: `advance_ladder` → `advance_batch`, batches of {args.batch}, to notice",
                ladder_s,
                ladder_cpu,
                ladder_pg,
            ),
            ("of which the unlocked read (`customers_to_move`), timed alone", read_s, read_cpu, read_pg),
        ]
        print()
        print(
            "| path | customers | seconds | customers/s | client CPU s | client CPU ms/customer "
            "| PostgreSQL CPU ms/customer |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for what, seconds, cpu, pg in rows:
            print(
                f"| {what} | {n} | {seconds:.2f} | {n / seconds:,.0f} | {cpu:.2f} | {1000 * cpu / n:.2f} | "
                f"{1000 * pg / n:.2f} |"
            )
        print()
        print(
            f"ratio ladder / sweep time: {ladder_s / sweep_s:.1f} (the ladder moves customers at "
            f"{sweep_s / ladder_s:.1%} of the sweep's rate)"
        )
        print(f"machine busy (all {os.cpu_count()} CPUs): sweep {sweep_busy:.0%}, ladder {ladder_busy:.0%}")
        print(
            f"\nverified: sweep cut {n} customers (inactive for delinquency, one scheduler history row and three "
            f"pending outbox rows each); ladder moved {n} customers to notice (one advance_stage history row, "
            f"one notify_stage and one radius_coa pending outbox row each, every login only in "
            f"{plan_group(seeded['ladder']['plan_id'], Profile.NOTICE)} with its radcheck row); nothing else "
            f"written; nobody left on a second run of either; total {time.perf_counter() - began:.1f} s"
        )
        return 0
    finally:
        for db in dbs:
            db.dispose()
        for name in reversed(names):
            drop_database(args.database_url, name)


if __name__ == "__main__":
    sys.exit(main())
