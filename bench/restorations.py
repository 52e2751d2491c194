"""A batch of payments reactivates many customers at once: how soon are they all restored?

    .venv/bin/python bench/restorations.py [--customers 2000] [--per-transaction 1000]
                                           [--concurrency 4] [--profile]
                                           [--database-url URL] [--redis-url redis://127.0.0.1:6379/12]

Set-up: a throwaway PostgreSQL database (created, migrated, dropped), a Redis database index as
the broker (FLUSHDB'd), a loopback receiver for billing and provisioning
(bench/harness/webhooks.py: checks every signature, counts deliveries per webhook-id) and one real
worker, ``python -m workflow worker`` (prefork, --concurrency, no --beat: a lost message stalls
the run and fails it).

Seeding (not measured): --customers delinquent customers, each with one suspended service
(bench/payments.py's seed_delinquent: the product's own inactivation, its effects marked done).

Measured: the customers are activated by billing, --per-transaction of them in one transaction
(as POST /api/v1/billing/events/batch does), their effects published after each commit; the
clock runs from the first commit until every effect is settled (restore_services,
resume_invoicing, notify_billing and the provision_restore calls they make).

Baseline, in the same run: signed webhook calls made one after the other by one httpx client to the
same receiver (what the outbound calls alone cost when made in turn). --latency-ms makes every
answer of the receiver take that long, as a billing or provisioning system across a network does.

Verification: every effect done on its first attempt, one delivery per webhook-id, every
signature valid, no error in the worker log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
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
from bench.harness.processes import (  # noqa: E402
    WorkflowProcess,
    close_broker_connections,
    wait_settled,
    wait_until,
    workflow_environment,
)
from bench.harness.report import printable_command  # noqa: E402
from bench.harness.webhooks import WebhookReceiver  # noqa: E402
from bench.payments import seed_delinquent  # noqa: E402
from bench.radius import start_profiler, stop_profiler, summarize_profile  # noqa: E402
from workflow.db import migrate  # noqa: E402
from workflow.db.engine import Database  # noqa: E402

CPU_CLASSES = ("worker pool", "worker main", "postgres", "redis", "bench process")


def activate_all(db: Database, customers: list[int], per_transaction: int) -> float:
    """Billing activates them, per_transaction customers a transaction; returns the first commit."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from workflow.domain.customer_machine import TransitionRequest
    from workflow.domain.vocabulary import ActivationReason, CustomerEvent, Role, Source
    from workflow.usecases import transitions

    actor = transitions.Actor("billing", Role.BILLING)
    request = TransitionRequest(ActivationReason.PAYMENT_RECEIVED.value, "bench batch", actor_role=Role.BILLING)
    commits: list[float] = []

    def stamp(_session: Session) -> None:
        commits.append(time.time())

    event.listen(Session, "after_commit", stamp, insert=True)
    try:
        for start in range(0, len(customers), per_transaction):
            with db.write() as session:
                for cid in customers[start : start + per_transaction]:
                    transitions.transition_customer(
                        session, cid, CustomerEvent.ACTIVATE, request, actor, Source.BILLING
                    )
    finally:
        event.remove(Session, "after_commit", stamp)
    return commits[0]


def sequential_calls(receiver: WebhookReceiver, count: int) -> float:
    """`count` signed billing calls one after the other: calls/s."""
    from workers.connectors.webhooks import signed_headers

    body = json.dumps({"event": "bench"})
    with httpx.Client() as client:
        client.post(f"{receiver.url}/billing", content=body, headers=signed_headers(receiver.billing_secret, "w", body))
        began = time.perf_counter()
        for n in range(count):
            headers = signed_headers(receiver.billing_secret, f"baseline-{n}", body)
            client.post(f"{receiver.url}/billing", content=body, headers=headers)
        return count / (time.perf_counter() - began)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--per-transaction", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="each webhook answer takes this long (a remote receiver)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the worker's processes (needs py-spy)")
    parser.add_argument("--setting", action="append", default=[], help="NAME=VALUE, an ATIVA_ setting of the worker")
    add_database_url_argument(parser)
    add_redis_url_argument(parser, "redis://127.0.0.1:6379/12")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    print(f"$ {printable_command()}", flush=True)
    r = redis_or_report(args.redis_url)
    if r is None:
        return 2
    created = create_database_or_report(args.database_url)
    if created is None:
        return 2
    name, url = created
    r.flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="ativa_bench_restorations_"))
    receiver = worker = db = conn = None
    ok = False
    try:
        db = Database(url)
        migrate.upgrade(db.engine)
        conn = psycopg.connect(psycopg_dsn(url), autocommit=True)
        receiver = WebhookReceiver(answer_after=args.latency_ms / 1000).start()
        customers = seed_delinquent(db, args.customers, set(), datetime.now(UTC).date())
        conn.execute("UPDATE invoices SET status = 'paid', amount_paid = amount, paid_at = now()")
        conn.execute("VACUUM ANALYZE")
        baseline = sequential_calls(receiver, 2000 if not args.latency_ms else 200)

        os.environ["ATIVA_DATABASE_URL"] = url
        os.environ["ATIVA_BROKER_URL"] = args.redis_url
        os.environ["ATIVA_DATA_DIR"] = str(tmp / "var")
        from workflow.settings import get_settings

        get_settings.cache_clear()
        from workers.app import install_adapters

        install_adapters()
        extra = dict(item.split("=", 1) for item in args.setting)
        env = workflow_environment(
            data_dir=str(tmp / "var"),
            database_url=url,
            broker_url=args.redis_url,
            worker_concurrency=str(args.concurrency),
            **receiver.settings(provisioning=True),
            **extra,
        )
        worker = WorkflowProcess(["worker"], env, tmp / "worker.log")
        wait_until(lambda: " ready." in worker.log_text(), 60, "the worker to start", worker)
        profiler = start_profiler(worker, tmp / "profile") if args.profile else None
        before = cpu_snapshot(worker_classifier(worker.pid))
        first_commit = activate_all(db, customers, args.per_transaction)
        committed = time.time()
        wait_settled(conn, worker, interval=0.05)
        cpu = cpu_delta(before, cpu_snapshot(worker_classifier(worker.pid)), CPU_CLASSES)
        if profiler is not None:
            stop_profiler(profiler)
            summarize_profile(tmp / "profile" / "worker.txt")
        last = conn.execute(
            "SELECT max(completed_at) FROM outbox_effects WHERE completed_at > to_timestamp(%s)", (first_commit - 1,)
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT name, state, attempts, id FROM outbox_effects WHERE completed_at > to_timestamp(%s)",
            (first_commit - 1,),
        ).fetchall()
        seconds = last.timestamp() - first_commit
        received, bad = receiver.received()
        calls = [row for row in rows if row[0] in ("notify_billing", "provision_restore")]
        problems = []
        states = Counter((row[0], row[1], row[2]) for row in rows)
        if any(state != "done" or attempts != 1 for _, state, attempts in states):
            errors = conn.execute(
                "SELECT last_error, count(*) FROM outbox_effects WHERE last_error IS NOT NULL GROUP BY 1"
            ).fetchall()
            problems.append(f"not all done on attempt 1: {states}; errors: {errors}")
        per_id = Counter()
        for (_, webhook_id), n in received.items():
            per_id[webhook_id] += n
        missing = [row[3] for row in calls if per_id.get(f"effect_{row[3]}", 0) != 1]
        if missing:
            problems.append(f"{len(missing)} call(s) not delivered exactly once: {missing[:10]}")
        if bad:
            problems.append(f"{len(bad)} bad signature(s)")
        if worker.errors():
            problems.append(f"worker log: {worker.errors()[0]}")
        print()
        print("| measure | value |")
        print("|---|---:|")
        print(f"| customers activated | {len(customers)} ({args.per_transaction} a transaction) |")
        print(f"| effects settled | {len(rows)} ({len(calls)} webhook calls) |")
        print(f"| activating (API side) s | {committed - first_commit:.2f} |")
        print(f"| first commit → every effect settled s | {seconds:.2f} |")
        print(f"| restorations/s | {len(customers) / seconds:.1f} |")
        print(f"| webhook calls/s in the run | {len(calls) / seconds:.1f} |")
        print(f"| baseline: sequential webhook calls/s, one client | {baseline:.1f} |")
        print(f"\nratio webhook calls/s in the run / sequential baseline: {len(calls) / seconds / baseline:.2f}")
        if cpu.get("_total"):
            print("\n| process | CPU ms per restoration |\n|---|---:|")
            for key in CPU_CLASSES:
                print(f"| {key} | {1000 * cpu[key] / len(customers):.2f} |")
            print(f"| machine busy | {100 * cpu['_busy'] / cpu['_total']:.0f} % |")
        print(f"\nstates: {dict(states)}")
        if problems:
            print("VERIFICATION FAILED:\n  - " + "\n  - ".join(problems))
        else:
            print("verified: every effect done on attempt 1, every call delivered once, signatures valid")
        ok = not problems
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop()
            if not ok:
                print(f"\nworker log tail:\n{worker.tail(25)}", file=sys.stderr)
        if receiver is not None:
            receiver.stop()
        if conn is not None:
            conn.close()
        if db is not None:
            db.dispose()
        close_broker_connections()
        drop_database(args.database_url, name)
        r.flushdb()


if __name__ == "__main__":
    sys.exit(main())
