"""The subscribers several benchmarks seed alike: active customers, each with one open invoice and
one active service with a RADIUS login on a plan, and an earlier cut and return with its effects
done (as a live system has: empty history and outbox tables keep the statistics of empty tables,
and the planner then reads them in ways no production database would)."""

from datetime import date

import psycopg

from bench.harness.seeding import insert_select
from workflow.domain.radius import LOGIN_PRIORITY, password_check, plan_group

# An earlier cut and return of every customer, with the effects they made (done).
EARLIER = (
    "(VALUES (2, 'inactivate', 'active', 'inactive', 'delinquency', 60), "
    "(3, 'activate', 'inactive', 'active', 'payment', 50)) "
    "AS h(version, event, from_status, to_status, reason, days_ago)"
)
EARLIER_EFFECTS = (
    "(VALUES ('inactivate', 'suspend_services', false), ('inactivate', 'pause_invoicing', false), "
    "('inactivate', 'notify_billing', false), ('inactivate', 'radius_disconnect', true), "
    "('activate', 'restore_services', false), ('activate', 'resume_invoicing', false), "
    "('activate', 'notify_billing', false), ('activate', 'radius_disconnect', true)) "
    "AS e(event, name, per_service)"
)
SEEDED_VERSION = 3  # after the earlier cut and return


def seed_plan(conn: psycopg.Connection, name: str, download_kbps: int, upload_kbps: int) -> int:
    return conn.execute(
        "INSERT INTO plans (name, name_key, download_kbps, upload_kbps, created_at, updated_at) "
        "VALUES (%s, lower(%s), %s, %s, now(), now()) RETURNING id",
        (name, name, download_kbps, upload_kbps),
    ).fetchone()[0]


def seed_subscribers(
    conn: psycopg.Connection,
    customers: int,
    plan_id: int,
    plan_name: str,
    amount_cents: int,
    due: date,
    extra: list[str],
    version: int = SEEDED_VERSION,
) -> dict[str, int]:
    """Customers 1..N (ids and services' ids alike), one open invoice of `amount_cents` due on
    `due` each, one active service with the login `cliente<N>` on the plan each. Returns counts."""
    series = "generate_series(1, %(n)s) AS g"
    n = {"n": customers}
    counts: dict[str, int] = {}
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
            "status_changed_at": "now() - interval '50 days'",
            "invoicing_enabled": "true",
            "auto_block_exempt": "false",
            "version": str(version),
            "created_at": "now() - interval '90 days'",
            "updated_at": "now()",
        },
        series,
        n,
        extra,
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), %s)", (customers,))
    counts["invoices"] = insert_select(
        conn,
        "invoices",
        {
            "external_id": "'late-' || g",
            "customer_id": "g",
            "amount": str(amount_cents),
            "amount_paid": "0",
            "due_date": "%(due)s",
            "status": "'open'",
            "paid_at": "NULL",
            "created_at": "now()",
            "updated_at": "now()",
        },
        series,
        {**n, "due": due},
        extra,
    )
    counts["services"] = insert_select(
        conn,
        "services",
        {
            "id": "g",
            "customer_id": "g",
            "name": f"'{plan_name}'",
            "external_ref": "'bench-s' || g",
            "status": "'active'",
            "suspension_cause": "NULL",
            "suspended_at": "NULL",
            "cancelled_at": "NULL",
            "login": "'cliente' || g",
            "login_key": "'cliente' || g",
            "radius_password": "'pw-' || md5(g::text)",
            "plan_id": "%(plan)s",
            "created_at": "now() - interval '90 days'",
            "updated_at": "now()",
        },
        series,
        {**n, "plan": plan_id},
        extra,
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('services', 'id'), %s)", (customers,))
    return counts


def seed_earlier_history(conn: psycopg.Connection, customers: int, extra: list[str]) -> tuple[int, int]:
    """The earlier cut and return of customers 1..N and their effects (done): (history rows, effect rows)."""
    history = insert_select(
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
        f"generate_series(1, %(n)s) AS g CROSS JOIN {EARLIER}",
        {"n": customers},
        extra,
    )
    effects = insert_select(
        conn,
        "outbox_effects",
        {
            "transition_id": "s.id",
            "customer_id": "s.customer_id",
            "service_id": "CASE WHEN e.per_service THEN s.customer_id END",
            "origin": "CASE WHEN e.per_service THEN 'effect' ELSE 'transition' END",
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
        f"status_changes s JOIN {EARLIER_EFFECTS} ON e.event = s.event",
        {},
        extra,
    )
    return history, effects


def seed_login_rows(conn: psycopg.Connection, plan_id: int) -> tuple[int, int]:
    """FreeRADIUS's rows of every login (its password, the plan's group), as Ativa writes them:
    (radcheck rows, radusergroup rows). FreeRADIUS's tables must exist (enforcement.prepare)."""
    check = password_check("")
    radcheck = conn.execute(
        "INSERT INTO radcheck (username, attribute, op, value) "
        "SELECT login, %s, %s, radius_password FROM services WHERE login IS NOT NULL ORDER BY id",
        (check.name, check.op),
    ).rowcount
    radusergroup = conn.execute(
        "INSERT INTO radusergroup (username, groupname, priority) "
        "SELECT login, %s, %s FROM services WHERE login IS NOT NULL ORDER BY id",
        (plan_group(plan_id), LOGIN_PRIORITY),
    ).rowcount
    return radcheck, radusergroup
