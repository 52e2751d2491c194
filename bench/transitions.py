"""Throughput of customer transitions on PostgreSQL: the real service vs. the same SQL on raw psycopg.

    .venv/bin/python bench/transitions.py [--threads 8] [--transitions-per-thread N]
                                          [--rounds R] [--database-url URL]

--database-url (default: $ATIVA_BENCH_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
is an *admin* URL: the script creates a throwaway database ``ativa_bench_<random>`` on that server,
migrates it with workflow.db.migrate.upgrade, and drops it (WITH (FORCE)) when it ends, even on error.

Two paths, each with --threads threads, every thread alternating inactivate/activate on its own
customer (fresh customers for every run, so no two threads ever wait on the same row lock):

* baseline ("raw driver"): one psycopg 3 connection per thread, no ORM, the same work as the
  service in plain statements: BEGIN; SELECT ... FOR UPDATE; overdue-invoice count; UPDATE customers;
  INSERT status_changes RETURNING id; INSERT outbox_effects (3 rows); COMMIT. (The service, on
  PostgreSQL, writes the update and both inserts in one statement.)
* service: ``with db.write() as session: transitions.transition_customer(...)``, the code the API
  and the CLI run.

Both get an unmeasured warm-up run (connections opened, statements prepared, code paths warm),
then the measured runs alternate baseline, service, baseline, service, ... (--rounds each) so that
noise from a shared machine hits both; the table reports each path's median round (by throughput).
At the end the script checks, for every customer it touched, that the history alternates, that
versions follow on, and that each transition left exactly its three outbox rows: a benchmark that
silently did nothing would fail here instead of printing a flattering number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

# Runnable as a plain script from the repository root or from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.customers import REASONS, REQUESTS, event_for, fresh_cpfs
from bench.harness.database import (
    add_database_url_argument,
    create_database_or_report,
    drop_database,
    psycopg_dsn,
    server_version,
)
from bench.harness.processes import ThreadsStartingTogether
from bench.harness.report import printable_command
from workflow.db import migrate
from workflow.db.engine import Database
from workflow.db.types import utcnow
from workflow.domain.customer_machine import EFFECTS
from workflow.domain.vocabulary import (
    CustomerEvent,
    CustomerStatus,
    EffectState,
    InvoiceStatus,
    Role,
    Source,
)
from workflow.usecases import transitions
from workflow.usecases.business_day import provider_today
from workflow.usecases.customers import CustomerDraft, create_customer

ACTOR = transitions.Actor("bench", Role.OPERATOR)
WARMUP_TRANSITIONS = 6  # per thread, per path; even, so customers end active

# Thread i's k-th transition (k from 0): event_for(k), with its reason and the status it leads to.
PLAN = {
    CustomerEvent.INACTIVATE: (REASONS[CustomerEvent.INACTIVATE], CustomerStatus.INACTIVE),
    CustomerEvent.ACTIVATE: (REASONS[CustomerEvent.ACTIVATE], CustomerStatus.ACTIVE),
}


def seed_customers(db: Database, count: int, cpfs: set[str]) -> list[int]:
    """`count` new active customers with fresh valid CPFs, through the real create_customer."""
    new_cpfs = fresh_cpfs(cpfs)
    ids = []
    with db.write() as session:
        for cpf in (next(new_cpfs) for _ in range(count)):
            customer = create_customer(session, CustomerDraft(name=f"Bench {len(cpfs)}", document=cpf))
            ids.append(customer.id)
    return ids


# --------------------------------------------------------------------------------------------
# The two paths: a Worker makes one transition per call and is owned by one thread
# --------------------------------------------------------------------------------------------


class ServiceWorker:
    """The real thing: a unit of work from Database.write() around transition_customer."""

    def __init__(self, db: Database):
        self.db = db

    def __call__(self, customer_id: int, event: CustomerEvent) -> None:
        with self.db.write() as session:
            transitions.transition_customer(session, customer_id, event, REQUESTS[event], ACTOR, Source.API)

    def close(self) -> None:
        pass


CUSTOMER_COLUMNS = (
    "id, name, document, document_type, email, phone, external_ref, status, inactivation_reason, "
    "status_changed_at, invoicing_enabled, version, created_at, updated_at"
)
SQL_LOCK = f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = %s FOR UPDATE"
# After the lock, as the service does: a statement that waited for the lock would see old invoices.
SQL_OVERDUE = "SELECT count(*) FROM invoices WHERE customer_id = %s AND status = %s AND due_date < %s"
SQL_UPDATE = (
    "UPDATE customers SET status = %s, inactivation_reason = %s, status_changed_at = %s, "
    "updated_at = %s, version = version + 1 WHERE id = %s"
)
SQL_HISTORY = (
    "INSERT INTO status_changes (customer_id, customer_version, event, from_status, to_status, "
    "reason, note, forced, actor, source, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
SQL_OUTBOX = (
    "INSERT INTO outbox_effects (transition_id, customer_id, service_id, origin, name, state, "
    "attempts, last_error, note, created_at, next_attempt_at, claimed_until, published_at, "
    "completed_at, relay_count, relay_after) VALUES "
    + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * 3)
    + " RETURNING id"
)


class RawWorker:
    """The same statements through psycopg 3 directly: the floor the service could reach."""

    def __init__(self, url: str):
        # autocommit off: psycopg sends BEGIN before the first statement, as under SQLAlchemy.
        self.conn = psycopg.connect(psycopg_dsn(url))

    def __call__(self, customer_id: int, event: CustomerEvent) -> None:
        conn = self.conn
        try:
            row = conn.execute(SQL_LOCK, (customer_id,)).fetchone()
            if row is None:
                raise LookupError(f"customer {customer_id} does not exist")
            from_status, version = row[7], row[11]
            conn.execute(SQL_OVERDUE, (customer_id, InvoiceStatus.OPEN.value, provider_today())).fetchone()
            reason, to_status = PLAN[event]
            expected_from = CustomerStatus.ACTIVE if event is CustomerEvent.INACTIVATE else CustomerStatus.INACTIVE
            if from_status != expected_from:
                raise RuntimeError(f"customer {customer_id} is {from_status}, cannot {event}")
            now = utcnow()
            inactivation_reason = reason if event is CustomerEvent.INACTIVATE else None
            conn.execute(SQL_UPDATE, (to_status.value, inactivation_reason, now, now, customer_id))
            change_id = conn.execute(
                SQL_HISTORY,
                (
                    customer_id,
                    version + 1,
                    event.value,
                    from_status,
                    to_status.value,
                    reason,
                    None,
                    False,
                    ACTOR.name,
                    Source.API.value,
                    now,
                ),
            ).fetchone()[0]
            params = []
            for effect in EFFECTS[event]:
                params += [
                    change_id,
                    customer_id,
                    None,
                    "transition",
                    effect.value,
                    EffectState.PENDING.value,
                    0,
                    None,
                    None,
                    now,
                    now,
                    None,
                    None,
                    None,
                    0,
                    None,
                ]
            conn.execute(SQL_OUTBOX, params).fetchall()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------------------------
# Running and measuring
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    path: str
    transitions: int
    seconds: float
    latencies: list[float] = field(repr=False)
    cpu_seconds: float = 0.0  # CPU time of this (client) process during the run, all threads

    @property
    def cpu_us_per_transition(self) -> float:
        return self.cpu_seconds / self.transitions * 1e6

    @property
    def throughput(self) -> float:
        return self.transitions / self.seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        ordered = sorted(self.latencies)
        rank = max(1, -(-len(ordered) * q // 100))  # ceil
        return ordered[int(rank) - 1] * 1000


def run(path: str, workers: list[Callable], customers: list[int], per_thread: int) -> RunResult:
    """Every worker (thread) alternates inactivate/activate on its own customer; all start together."""
    threads = len(workers)
    starts = [0.0] * threads
    ends = [0.0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def body(i: int) -> None:
        work, cid, mine = workers[i], customers[i], latencies[i]
        clock = time.perf_counter
        starts[i] = clock()
        for k in range(per_thread):
            t0 = clock()
            work(cid, event_for(k))
            mine.append(clock() - t0)
        ends[i] = clock()

    pool = ThreadsStartingTogether(threads, body, name=path).start()
    pool.release()
    cpu = time.process_time()
    pool.join()
    cpu = time.process_time() - cpu
    return RunResult(path, threads * per_thread, max(ends) - min(starts), [x for xs in latencies for x in xs], cpu)


def median_round(results: list[RunResult]) -> RunResult:
    """The round whose throughput is the median (the lower one for an even count)."""
    ordered = sorted(results, key=lambda r: r.throughput)
    return ordered[(len(ordered) - 1) // 2]


# --------------------------------------------------------------------------------------------
# Checking the work was real
# --------------------------------------------------------------------------------------------


def verify(url: str, customers: list[int], per_customer: int, label: str) -> int:
    """History alternates, versions follow on, 3 outbox rows per transition with the right names.

    Returns the number of transitions checked. Raises AssertionError on any mismatch.
    """
    checked = 0
    with psycopg.connect(psycopg_dsn(url)) as conn:
        for cid in customers:
            status, version, reason = conn.execute(
                "SELECT status, version, inactivation_reason FROM customers WHERE id = %s", (cid,)
            ).fetchone()
            history = conn.execute(
                "SELECT id, customer_version, event, from_status, to_status, reason, actor, source "
                "FROM status_changes WHERE customer_id = %s ORDER BY customer_version",
                (cid,),
            ).fetchall()
            assert len(history) == per_customer, (
                f"{label}: customer {cid} has {len(history)} history rows, expected {per_customer}"
            )
            for k, (_, cversion, event, from_s, to_s, why, actor, source) in enumerate(history):
                expected = event_for(k)
                why_expected, to_expected = PLAN[expected]
                from_expected = (
                    CustomerStatus.ACTIVE if expected is CustomerEvent.INACTIVATE else CustomerStatus.INACTIVE
                )
                assert (cversion, event, from_s, to_s, why, actor, source) == (
                    k + 2,
                    expected.value,
                    from_expected.value,
                    to_expected.value,
                    why_expected,
                    ACTOR.name,
                    Source.API.value,
                ), f"{label}: customer {cid} history row {k} is {history[k]!r}"
            # An even number of transitions brings the customer back where it started.
            final = event_for(per_customer - 1)
            assert status == PLAN[final][1].value and version == per_customer + 1, (
                f"{label}: customer {cid} ended {status!r} at version {version}"
            )
            if final is CustomerEvent.ACTIVATE:
                assert reason is None, f"{label}: customer {cid} kept reason {reason!r}"
            outbox = conn.execute(
                "SELECT o.transition_id, s.event, o.name, o.state FROM outbox_effects o "
                "JOIN status_changes s ON s.id = o.transition_id "
                "WHERE o.customer_id = %s ORDER BY o.transition_id, o.id",
                (cid,),
            ).fetchall()
            assert len(outbox) == 3 * per_customer, (
                f"{label}: customer {cid} has {len(outbox)} outbox rows, expected {3 * per_customer}"
            )
            by_change: dict[int, list[str]] = {}
            for change_id, event, name, state in outbox:
                assert state == EffectState.PENDING.value, f"{label}: outbox row in state {state!r}"
                by_change.setdefault(change_id, []).append((event, name))
            assert sorted(by_change) == [row[0] for row in history], (
                f"{label}: customer {cid}: outbox rows do not point at its history rows"
            )
            for rows in by_change.values():
                event = CustomerEvent(rows[0][0])
                assert [name for _, name in rows] == [e.value for e in EFFECTS[event]], (
                    f"{label}: customer {cid}: effects {rows!r}"
                )
            checked += len(history)
    return checked


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--transitions-per-thread",
        type=int,
        default=150,
        help="per measured run; rounded up to an even number so customers end active (default 150)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="measured runs of each path, alternated; the median one is reported (default 3)",
    )
    add_database_url_argument(parser)
    args = parser.parse_args()
    if args.threads < 1 or args.transitions_per_thread < 1 or args.rounds < 1:
        parser.error("--threads, --transitions-per-thread and --rounds must be positive")
    args.transitions_per_thread += args.transitions_per_thread % 2
    return args


def main() -> int:
    args = parse_args()
    threads, per_thread = args.threads, args.transitions_per_thread
    print(f"$ {printable_command()}")
    began = time.perf_counter()

    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created

    db: Database | None = None
    raw_workers: list[RawWorker] = []
    try:
        db = Database(url)
        migrate.upgrade(db.engine)
        server = server_version(url)
        print(
            f"\nPostgreSQL {server}, database {name}; {os.cpu_count()} CPU(s); Python "
            f"{sys.version.split()[0]}; {threads} threads x {per_thread} transitions per run, "
            f"{args.rounds} measured round(s) per path + 1 warm-up\n"
        )

        cpfs: set[str] = set()
        plan = ["baseline", "service"] * args.rounds
        customers = {
            "warmup-baseline": seed_customers(db, threads, cpfs),
            "warmup-service": seed_customers(db, threads, cpfs),
        }
        for n, path in enumerate(plan):
            customers[f"{path}-{n // 2}"] = seed_customers(db, threads, cpfs)

        raw_workers = [RawWorker(url) for _ in range(threads)]
        service_workers = [ServiceWorker(db) for _ in range(threads)]
        workers = {"baseline": raw_workers, "service": service_workers}

        run("baseline", raw_workers, customers["warmup-baseline"], WARMUP_TRANSITIONS)
        run("service", service_workers, customers["warmup-service"], WARMUP_TRANSITIONS)

        results: dict[str, list[RunResult]] = {"baseline": [], "service": []}
        for n, path in enumerate(plan):
            result = run(path, workers[path], customers[f"{path}-{n // 2}"], per_thread)
            results[path].append(result)
            print(
                f"  round {n // 2 + 1} {path:<8} {result.throughput:8.1f} transitions/s  "
                f"p50 {result.percentile(50):6.2f} ms  p99 {result.percentile(99):6.2f} ms  "
                f"client CPU {result.cpu_us_per_transition:5.0f} us/transition",
                flush=True,
            )

        for worker in raw_workers:
            worker.close()
        raw_workers = []
        db.dispose()

        checked = {"baseline": 0, "service": 0}
        for key, ids in customers.items():
            per_customer = WARMUP_TRANSITIONS if key.startswith("warmup") else per_thread
            path = key.split("-")[1] if key.startswith("warmup") else key.split("-")[0]
            checked[path] += verify(url, ids, per_customer, key)

        labels = {"baseline": "baseline (raw psycopg 3)", "service": "service (transition_customer)"}
        chosen = {path: median_round(results[path]) for path in results}
        print()
        print("| path | transitions | seconds | transitions/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for path in ("baseline", "service"):
            r = chosen[path]
            print(
                f"| {labels[path]} | {r.transitions} | {r.seconds:.2f} | {r.throughput:.1f} | "
                f"{r.percentile(50):.2f} | {r.percentile(99):.2f} |"
            )
        ratio = chosen["service"].throughput / chosen["baseline"].throughput
        print()
        print(f"ratio service/baseline throughput: {ratio:.2f} (aim >= 0.5)")
        print(
            f"\nverified: {checked['service']} service and {checked['baseline']} baseline transitions "
            "(warm-up included): history alternates, versions follow on, 3 outbox rows each; "
            f"total {time.perf_counter() - began:.1f} s"
        )
        return 0
    finally:
        for worker in raw_workers:
            worker.close()
        if db is not None:
            db.dispose()
        drop_database(args.database_url, name)


if __name__ == "__main__":
    sys.exit(main())
