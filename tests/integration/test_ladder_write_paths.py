"""The ladder job's batch path (ladder.advance_batch: one transaction per batch, multi-row writes)
writes exactly what its per-customer path (ladder._step through change_stage, one transaction per
customer) writes, on SQLite and on PostgreSQL (there with RADIUS in the main database, so the
logins' rows move in the same transaction).

Two identical worlds are seeded in one database, sharing one plan (so the logins' groups compare
as they are): customers at every step (none, notice, reduced, notice acknowledged), with and
without a login, exempt, held, cut, owing different amounts for different times. One world goes
through _step customer by customer, the other through advance_batch at once; the customers' rows,
their history rows, their outbox rows (linked to the history row that queued them) and their
logins' FreeRADIUS rows must be equal, customer by customer.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from tests.conftest import add_invoice, cpf
from workflow.db.engine import Database
from workflow.db.models import Customer, Invoice, OutboxEffect, Plan, Service, StatusChange
from workflow.db.types import utcnow
from workflow.domain.delinquency import Ladder, Policy
from workflow.settings import Settings, get_settings
from workflow.usecases import billing, customer_services, customers, ladder
from workflow.usecases.radius import enforcement

TUESDAY = date(2026, 12, 1)
# Every day a cut day, a cent's minimum; notice after 5 days, reduced after 10, the cut after 15.
POLICY = Policy(15, Decimal("0.01"), frozenset(), lambda day: None, Ladder(notice_after_days=5, reduce_after_days=10))


@dataclass(frozen=True)
class Seed:
    """One customer of a world: its step, its debts (days overdue, amount) and what else holds it."""

    stage: str = "none"
    debts: tuple[tuple[int, str], ...] = ()
    logins: int = 1
    snoozed: bool = False
    exempt: bool = False
    held: bool = False
    status: str = "active"


WORLD = [
    Seed(debts=((6, "120.00"),)),  # to notice
    Seed(debts=((12, "80.50"), (3, "80.50"))),  # to reduced at once
    Seed(debts=((6, "45.00"),), logins=0),  # to notice, no login
    Seed(debts=((7, "99.90"),), logins=2),  # to notice, two logins: two session effects
    Seed(stage="notice", debts=((12, "300.00"),)),  # notice -> reduced (leaves the list: Disconnect)
    Seed(stage="notice", debts=((12, "10.00"),), snoozed=True),  # acknowledged notice -> reduced
    Seed(stage="notice"),  # paid: back to the plan (payment_received)
    Seed(stage="reduced", logins=0),  # paid, no login
    Seed(stage="reduced", debts=((13, "59.90"),), exempt=True),  # exempt: back (delinquency)
    Seed(stage="notice", debts=((8, "59.90"),), held=True),  # held: back (delinquency)
    Seed(stage="notice", debts=((8, "59.90"),)),  # stays at notice
    Seed(stage="reduced", debts=((14, "59.90"),)),  # stays at reduced
    Seed(debts=((2, "59.90"),)),  # not yet
    Seed(debts=((6, "59.90"),), held=True),  # held: not moved
    Seed(debts=((6, "59.90"),), exempt=True),  # exempt: not moved
    Seed(debts=((20, "59.90"),), status="inactive"),  # cut: not the ladder's
    Seed(debts=((6, "0.00"),)),  # owes nothing: not moved
]


@pytest.fixture
def used(db) -> Settings:
    get_settings.cache_clear()
    settings = get_settings()
    with db.write_core() as conn:
        enforcement.sync_configuration(conn, settings)
    return settings


def plan(db: Database) -> int:
    now = utcnow()
    with db.write() as session:
        row = Plan(name="Fibra", name_key="fibra", download_kbps=8000, upload_kbps=2000, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return row.id


# An acknowledged notice's snooze, the same instant in both worlds (five hours from the run).
SNOOZED_UNTIL = utcnow() + timedelta(hours=5)


def seed_world(db: Database, world: str, plan_id: int, seeds: list[Seed], first: int) -> list[int]:
    """The customers of `seeds`, their logins named <world>-<index>-<n>; their ids in order."""
    ids = []
    for index, spec in enumerate(seeds):
        with db.write() as session:
            draft = customers.CustomerDraft(
                f"Cliente {world} {index}", cpf(first + index), auto_block_exempt=spec.exempt
            )
            cid = customers.create_customer(session, draft).id
        for n in range(spec.logins):
            with db.write() as session:
                access = customer_services.Access(f"{world}-{index}-{n}", "senha-1", plan_id)
                customer_services.add_service(session, cid, "Fibra", f"svc-{world}-{index}-{n}", access)
        for days, amount in spec.debts:
            add_invoice(db, cid, days_overdue=days, amount=amount, today=TUESDAY)
        with db.write() as session:
            session.execute(
                update(Customer)
                .where(Customer.id == cid)
                .values(
                    status=spec.status,
                    inactivation_reason="delinquency" if spec.status == "inactive" else None,
                    delinquency_stage=spec.stage,
                    notice_snoozed_until=SNOOZED_UNTIL if spec.snoozed else None,
                    forced_hold_until=TUESDAY + timedelta(days=3) if spec.held else None,
                )
            )
        ids.append(cid)
    return ids


def written(db: Database, ids: list[int]) -> dict:
    """Everything the ladder writes for these customers, keyed by their index in the world (ids,
    timestamps and the world's name left out; an outbox row's history row named by its customer
    version, its service by its login)."""
    index = {cid: i for i, cid in enumerate(ids)}
    with db.read() as session:
        conn = session.connection()
        rows = conn.execute(select(Customer.__table__).where(Customer.id.in_(ids)))
        customer_rows = {
            index[r.id]: (r.status, r.delinquency_stage, r.notice_snoozed_until, r.version, r.inactivation_reason)
            for r in rows
        }
        changes = conn.execute(select(StatusChange.__table__).where(StatusChange.customer_id.in_(ids))).all()
        version_of = {c.id: c.customer_version for c in changes}
        history = sorted(
            (
                (
                    index[c.customer_id],
                    *(v for k, v in c._asdict().items() if k not in {"id", "customer_id", "created_at"}),
                )
                for c in changes
            ),
            key=repr,
        )
        services = conn.execute(select(Service.id, Service.login).where(Service.customer_id.in_(ids))).all()
        login_of = {s.id: unworld(s.login) for s in services}
        effects = sorted(
            (
                (
                    index[e.customer_id],
                    e.name,
                    login_of.get(e.service_id),
                    version_of.get(e.transition_id),
                    e.origin,
                    e.state,
                    e.attempts,
                    e.note,
                    e.last_error,
                )
                for e in conn.execute(select(OutboxEffect.__table__).where(OutboxEffect.customer_id.in_(ids)))
            ),
            key=repr,
        )
        radius: dict[str, list] = {}
        if db.engine.dialect.name == "postgresql":
            names = [s.login for s in services]
            radius["radusergroup"] = sorted(
                (unworld(r.username), r.groupname, r.priority)
                for r in conn.execute(
                    text("SELECT username, groupname, priority FROM radusergroup WHERE username = ANY(:names)"),
                    {"names": names},
                )
            )
            radius["radcheck"] = sorted(
                (unworld(r.username), r.attribute, r.op, r.value)
                for r in conn.execute(
                    text("SELECT username, attribute, op, value FROM radcheck WHERE username = ANY(:names)"),
                    {"names": names},
                )
            )
    return {"customers": customer_rows, "history": history, "effects": effects, "radius": radius}


def unworld(login: str) -> str:
    return login.split("-", 1)[1]


def in_index(run: ladder.LadderRun, ids: list[int]) -> tuple:
    index = {cid: i for i, cid in enumerate(ids)}
    return (
        {index[cid]: stage for cid, stage in run.advanced.items()},
        [index[cid] for cid in run.cleared],
        {index[cid]: why for cid, why in run.kept.items()},
    )


def test_the_batch_writes_what_the_per_customer_path_writes(db, used):
    plan_id = plan(db)
    one_by_one = seed_world(db, "a", plan_id, WORLD, 0)
    batched = seed_world(db, "b", plan_id, WORLD, len(WORLD))
    assert written(db, one_by_one) == written(db, batched)  # the same world twice

    reference = ladder.LadderRun()
    for cid in one_by_one:
        one = ladder.advance_one(db, POLICY, cid, TUESDAY, used)
        reference.advanced.update(one.advanced)
        reference.cleared += one.cleared
        reference.kept.update(one.kept)
    run = ladder.advance_batch(db, POLICY, batched, TUESDAY, used)

    assert in_index(run, batched) == in_index(reference, one_by_one)
    # The world moves as the brief's seeds say (a batch that wrote nothing would not pass).
    assert in_index(run, batched)[:2] == (
        {0: "notice", 1: "reduced", 2: "notice", 3: "notice", 4: "reduced", 5: "reduced"},
        [6, 7, 8, 9],
    )
    after_one, after_batch = written(db, one_by_one), written(db, batched)
    assert after_batch == after_one
    # What the comparison covered: history and outbox rows of every mover, session effects per
    # login, the logins' groups moved (on PostgreSQL, where RADIUS lives in the main database).
    assert len(after_batch["history"]) == 10
    assert sum(1 for e in after_batch["effects"] if e[1] == "notify_stage") == 10
    if db.engine.dialect.name == "postgresql":
        # (the session effects of the ladder's history rows; adding the services queued others)
        sessions = sorted((e[0], e[1], e[2]) for e in after_batch["effects"] if e[1].startswith("radius_") and e[3])
        assert sessions == [
            (0, "radius_coa", "0-0"),
            (1, "radius_coa", "1-0"),
            (3, "radius_coa", "3-0"),
            (3, "radius_coa", "3-1"),
            (4, "radius_disconnect", "4-0"),
            (5, "radius_coa", "5-0"),
            (6, "radius_disconnect", "6-0"),
            (8, "radius_coa", "8-0"),
            (9, "radius_disconnect", "9-0"),
        ]
        groups = {login: group for login, group, _ in after_batch["radius"]["radusergroup"]}
        assert groups["0-0"] == f"ativa_plano_{plan_id}_aviso" and groups["1-0"] == f"ativa_plano_{plan_id}_reduzido"
        assert groups["6-0"] == f"ativa_plano_{plan_id}"
    else:
        assert not [e for e in after_batch["effects"] if e[1].startswith("radius_") and e[3]]


def test_a_customer_who_paid_after_the_read_is_skipped_and_the_rest_of_the_batch_moves(db, used):
    plan_id = plan(db)
    seeds = [Seed(debts=((6, "120.00"),)), Seed(debts=((7, "50.00"),)), Seed(stage="notice", debts=((12, "80.00"),))]
    ids = seed_world(db, "c", plan_id, seeds, 40)
    movers = ladder.customers_to_move(db, POLICY, TUESDAY)
    assert movers == ids
    # Between the unlocked read and the batch's lock, the first pays; the third pays too (the
    # payment itself returns it to the plan, so the batch finds nothing to do for it).
    for cid in (ids[0], ids[2]):
        with db.read() as session:
            invoice_id = session.scalars(select(Invoice.id).where(Invoice.customer_id == cid)).one()
        pay(db, cid, invoice_id, f"wh-{cid}")
    before = written(db, ids)

    run = ladder.advance_batch(db, POLICY, movers, TUESDAY, used)
    assert in_index(run, ids) == (
        {1: "notice"},
        [],
        {0: "no longer moves: the rule asks for none at none", 2: "no longer moves: the rule asks for none at none"},
    )
    after = written(db, ids)
    # Only the second customer's step was written; the payers are as their payments left them.
    assert [h for h in after["history"] if h not in before["history"]] == [
        h for h in after["history"] if h[0] == 1 and h[2] == "advance_stage"
    ]
    assert len([h for h in after["history"] if h not in before["history"]]) == 1
    assert after["customers"][0] == before["customers"][0] and after["customers"][0][1] == "none"
    assert after["customers"][2] == before["customers"][2] and after["customers"][2][1] == "none"
    assert after["customers"][1][1:4:2] == ("notice", before["customers"][1][3] + 1)


def test_running_twice_moves_nobody_twice(db, used):
    plan_id = plan(db)
    ids = seed_world(db, "d", plan_id, WORLD, 60)
    first = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert len(first.advanced) == 6 and len(first.cleared) == 4
    written_once = written(db, ids)

    again = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (again.advanced, again.cleared, again.kept) == ({}, [], {})
    # The same batch handed again (a task delivered twice) finds nobody to move under its locks.
    twice = ladder.advance_batch(db, POLICY, sorted(first.advanced) + first.cleared, TUESDAY, used)
    assert (twice.advanced, twice.cleared) == ({}, [])
    assert set(twice.kept) == set(first.advanced) | set(first.cleared)
    assert written(db, ids) == written_once


def pay(db: Database, cid: int, invoice_id: int, webhook_id: str) -> None:
    with db.read() as session:
        external = session.get(Invoice, invoice_id).external_id
    billing.apply_event(
        db,
        billing.InvoiceEvent(webhook_id, "invoice.paid", external, cid, None, None, None, None),
        today=TUESDAY,
    )


def test_a_customer_gone_from_the_batch_is_kept_with_the_per_customer_paths_words(db, used):
    plan_id = plan(db)
    [cid] = seed_world(db, "e", plan_id, [Seed(debts=((6, "120.00"),))], 80)
    missing = cid + 10_000
    run = ladder.advance_batch(db, POLICY, [missing, cid], TUESDAY, used)
    assert (run.advanced, run.kept) == ({cid: "notice"}, ladder.advance_one(db, POLICY, missing, TUESDAY, used).kept)
    assert run.kept == {missing: f"customer {missing} does not exist"}
