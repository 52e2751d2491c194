"""What a freeze stops and what it leaves alone, on SQLite and PostgreSQL: the ladder steps nobody
forward but still clears a stage, a trust unlock's end cuts nobody until the freeze is lifted, the
payment-silence rule on seeded histories, and (PostgreSQL) a freeze recorded while a sweep batch
holds its locks waits for that batch, and the next batch sees it."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import func, select, text, update

from tests.conftest import VALID_CPFS, add_invoice
from tests.freeze_support import flowing_before, seed_payments
from tests.support import wait_for
from workflow.db.engine import Database
from workflow.db.models import Customer, FreezeChange, StatusChange
from workflow.db.types import utcnow
from workflow.domain.delinquency import Ladder, Policy
from workflow.domain.vocabulary import Source
from workflow.settings import Settings, get_settings
from workflow.usecases import customers, delinquency, freeze, freeze_views, ladder, timers

SP = ZoneInfo("America/Sao_Paulo")
TUESDAY = date(2026, 12, 1)
BR = holidays.country_holidays("BR")
# Every day a cut day: the dates below are the ladder's, not the calendar's.
POLICY = Policy(15, Decimal("0.01"), frozenset(), lambda day: None, Ladder(notice_after_days=5, reduce_after_days=10))


def customer(db: Database, n: int, **draft) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n], **draft)).id


def row(db: Database, cid: int) -> Customer:
    with db.read() as session:
        return session.get(Customer, cid)


def events_of(db: Database, cid: int) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(select(StatusChange.event).where(StatusChange.customer_id == cid).order_by(StatusChange.id))
        )


def changes(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(FreezeChange.action).order_by(FreezeChange.id)))


# -- the ladder and the trust unlock --------------------------------------------------------------------


def test_the_ladder_steps_nobody_forward_while_frozen_but_still_clears_a_stage(db):
    get_settings.cache_clear()
    settings = get_settings()
    stepping, leaving = customer(db, 0), customer(db, 1)
    add_invoice(db, stepping, days_overdue=6, today=TUESDAY)
    add_invoice(db, leaving, days_overdue=6, today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, settings).advanced == {stepping: "notice", leaving: "notice"}

    freeze.freeze_cuts(db, "banco fora do ar", None, "user:maria", Source.UI)
    with db.write() as session:  # made exempt behind the ladder's back: the job clears the stage
        session.execute(update(Customer).where(Customer.id == leaving).values(auto_block_exempt=True))
    later = TUESDAY + timedelta(days=5)  # past the reduction's days
    run = ladder.advance_ladder(db, POLICY, later, settings)
    assert run.frozen is not None and run.frozen.reason == "banco fora do ar"
    assert run.advanced == {} and run.cleared == [leaving]
    assert "cuts_frozen" in run.kept[stepping]
    assert (row(db, stepping).delinquency_stage, row(db, leaving).delinquency_stage) == ("notice", "none")
    assert events_of(db, stepping) == ["advance_stage"]  # a refused step writes nothing

    freeze.lift_freeze(db, "user:maria", Source.UI)
    after = ladder.advance_ladder(db, POLICY, later, settings)
    assert after.frozen is None and after.advanced == {stepping: "reduced"}


def test_a_trust_unlock_ending_with_debt_cuts_nobody_while_frozen_and_cuts_after_the_lift(db):
    today = freeze.provider_today()
    cid = customer(db, 2)
    add_invoice(db, cid, days_overdue=30, today=today)
    with db.write() as session:  # a trust unlock whose deadline has just passed
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(trust_unlock_until=utcnow() - timedelta(seconds=1), trust_unlocks_used=1)
        )
    freeze.freeze_cuts(db, "auditoria", None, "cli:root", Source.CLI)

    run = timers.expire_trust_unlocks(db, today)
    assert run.changed == [] and run.frozen is not None and run.frozen.reason == "auditoria"
    kept = row(db, cid)
    assert (kept.status, kept.trust_unlock_until is not None) == ("active", True)  # left running
    assert events_of(db, cid) == []

    freeze.lift_freeze(db, "cli:root", Source.CLI)
    assert timers.expire_trust_unlocks(db, today).changed == [cid]
    cut = row(db, cid)
    assert (cut.status, cut.inactivation_reason, cut.trust_unlock_until) == ("inactive", "delinquency", None)


# -- the payment-silence rule on seeded histories ---------------------------------------------------------

# Monday 2026-11-23 at noon in São Paulo, business hours 08-18. Friday the 20th is a national
# holiday (Consciência Negra) and the weekend before it has no business hours either: the last 24
# business hours are Monday 08-12, Thursday the 19th and Wednesday the 18th, both 08-18. The same
# hours three weeks earlier take in Monday 2 November (Finados): that week is replaced by the fifth.
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=SP)
WEDNESDAY_10H = datetime(2026, 11, 18, 10, 0, tzinfo=SP)


def weekly(counts: tuple[int, ...], at: datetime = WEDNESDAY_10H) -> list[datetime]:
    """`counts[k]` payments at `at`, k + 1 weeks earlier."""
    return [at - timedelta(weeks=k + 1) for k, count in enumerate(counts) for _ in range(count)]


def trip(db: Database, **settings) -> freeze.Freeze | None:
    rule = Settings(**{"business_hours": "08-18", **settings})
    return freeze.trip_on_payment_silence(db, rule, MONDAY_NOON.astimezone(UTC))


@pytest.mark.parametrize("third_week", [25, 0], ids=["every-week-paid", "the-holiday-week-quiet"])
def test_the_window_skips_a_weekend_and_a_holiday_and_trips(db, third_week):
    # Only Wednesdays paid in the weeks before: they count only if the window reached back past
    # the holiday and the weekend to Wednesday. The third week (Finados in its hours) is not
    # compared, however quiet it was.
    seed_payments(db, weekly((25, 25, third_week, 25, 25)))
    tripped = trip(db)
    assert tripped is not None and tripped.automatic and tripped.actor == "scheduler"
    with db.read() as session:
        change = session.scalars(select(FreezeChange)).one()
    assert change.action == "tripped" and "no payment in the last 24 business hour(s)" in change.detail
    assert "25, 25, 25, 25" in change.detail


@pytest.mark.parametrize(
    "times",
    [
        # one payment at night, outside business hours but inside the window: the bank is alive
        [*weekly((25, 25, 25, 25, 25)), datetime(2026, 11, 19, 22, 30, tzinfo=SP)],
        # one on the holiday itself
        [*weekly((25, 25, 25, 25, 25)), datetime(2026, 11, 20, 11, 0, tzinfo=SP)],
        # one week below the minimum: too thin a flow to call silence
        weekly((25, 19, 25, 25, 25)),
        # no history at all: a new provider
        [],
    ],
    ids=["payment-at-night", "payment-on-the-holiday", "a-week-below-the-minimum", "no-history"],
)
def test_no_trip(db, times):
    seed_payments(db, times)
    assert trip(db) is None
    assert changes(db) == []


def test_silence_hours_zero_never_trips(db):
    seed_payments(db, weekly((500, 500, 500, 500, 500)))
    assert trip(db, payment_silence_hours=0) is None
    assert changes(db) == []


def test_a_lower_minimum_makes_a_thin_flow_count(db):
    seed_payments(db, weekly((3, 3, 3, 3, 3)))
    assert trip(db) is None
    assert trip(db, payment_silence_min_events=3) is not None


def test_already_frozen_by_a_person_nothing_new_is_recorded(db):
    seed_payments(db, weekly((25, 25, 25, 25, 25)))
    freeze.freeze_cuts(db, "banco fora do ar", None, "user:maria", Source.UI)
    assert trip(db) is None
    assert changes(db) == ["on"]
    assert freeze_views.current_state(db).reason == "banco fora do ar"  # the person's reason stays


def test_the_sweep_trips_before_cutting_and_says_so(db, monkeypatch):
    today = freeze.provider_today()
    due = customer(db, 3)
    add_invoice(db, due, days_overdue=40, today=today)
    # Payments flowed in the same hours of the weeks before (whole weekdays are business hours by
    # default), none in the last two.
    monkeypatch.setenv("ATIVA_PAYMENT_SILENCE_HOURS", "2")
    monkeypatch.setenv("ATIVA_PAYMENT_SILENCE_MIN_EVENTS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    seed_payments(db, flowing_before(utcnow().astimezone(SP), 3, freeze.business_hours(settings)))
    policy = Policy(15, Decimal("0.01"), frozenset(), lambda day: None)
    try:
        run = delinquency.run_sweep(db, policy, today, 200)
    finally:
        get_settings.cache_clear()
    assert run.tripped is True and run.frozen is not None and run.frozen.automatic
    assert (run.candidates, run.inactivated) == (0, [])
    assert row(db, due).status == "active"
    assert changes(db) == ["tripped"]


# -- the shared lock on PostgreSQL ------------------------------------------------------------------------


@pytest.mark.parametrize("state_row", ["migrated", "wiped"])
def test_a_freeze_waits_for_the_batch_holding_its_locks_and_the_next_batch_sees_it(
    postgres_url, pg_db, monkeypatch, state_row
):
    if state_row == "migrated":  # as the migration leaves it (the fixture's TRUNCATE wiped it)
        with pg_db.write() as session:
            freeze.read_state(session.connection(), TUESDAY, lock="update")
    with pg_db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM cut_freeze")) == (1 if state_row == "migrated" else 0)
    policy = Policy(15, Decimal("0.01"), frozenset(), lambda day: None)
    first = [customer(pg_db, n) for n in range(2)]
    second = [customer(pg_db, n) for n in range(2, 4)]
    for cid in first + second:
        add_invoice(pg_db, cid, days_overdue=30, today=TUESDAY)

    # The first batch stops inside its transaction, after its locks and its freeze check, until
    # the freeze is seen waiting.
    holding, go = threading.Event(), threading.Event()
    original_cut = delinquency._cut

    def cut_when_told(conn, due, today):
        holding.set()
        assert go.wait(60), "never released"
        return original_cut(conn, due, today)

    monkeypatch.setattr(delinquency, "_cut", cut_when_told)
    database = Database(postgres_url, pool_size=4)
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def batch():
        try:
            results["batch"] = delinquency.inactivate_due(database, policy, first, TUESDAY)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def freezing():
        try:
            results["freeze"] = freeze.freeze_cuts(database, "banco fora do ar", None, "user:maria", Source.UI)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    def freeze_is_waiting_for_a_lock() -> bool:
        with pg_db.read() as session:
            return bool(
                session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query ILIKE '%cut_freeze%' AND datname = current_database()"
                    )
                )
            )

    threads = [threading.Thread(target=batch), threading.Thread(target=freezing)]
    try:
        threads[0].start()
        assert holding.wait(60)
        threads[1].start()
        wait_for(freeze_is_waiting_for_a_lock, timeout=30, what="the freeze waiting for the batch's shared lock")
        assert "freeze" not in results  # recorded only once the batch ends
        go.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a thread hung"
    finally:
        go.set()
        database.dispose()
    assert errors == []
    assert sorted(results["batch"].inactivated) == first  # the batch in flight finished its cuts
    with pg_db.read() as session:
        last_cut = session.scalar(select(func.max(StatusChange.created_at)))
    assert results["freeze"].freeze.since >= last_cut  # recorded after the batch committed

    monkeypatch.setattr(delinquency, "_cut", original_cut)
    stopped = delinquency.inactivate_due(pg_db, policy, second, TUESDAY)
    assert stopped.inactivated == [] and set(stopped.skipped) == set(second)
    assert all("frozen" in why for why in stopped.skipped.values())
    assert {row(pg_db, cid).status for cid in second} == {"active"}
