"""Bulk jobs on SQLite and PostgreSQL: the preview says what the run does, the run writes what
transition_customer writes customer by customer, a batch delivered twice writes nothing twice,
cancellation between batches, a second run refused, bad input refused whole, and the preset that
undoes a day's cuts picks exactly the sweep's cuts of that day."""

import threading
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from tests.conftest import add_invoice, cpf
from tests.support import lock_waiters, wait_for
from workflow.db.models import BulkJob, BulkJobItem, Customer, Invoice, OutboxEffect, StatusChange
from workflow.db.types import utcnow
from workflow.domain.bulk import Conflict, SelectionRefused
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.delinquency import Policy
from workflow.domain.errors import AtivaError, InvalidInput, UnsafeText
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import get_settings
from workflow.usecases import bulk, customers, delinquency, timers, transitions
from workflow.usecases.business_day import provider_today
from workflow.usecases.delinquency import SCHEDULER

ADMIN = transitions.Actor("token:admin", Role.ADMIN)


def new_customer(db, n: int, **fields) -> int:
    with db.write() as session:
        draft = customers.CustomerDraft(f"Cliente {n}", cpf(n), **fields)
        return customers.create_customer(session, draft).id


def inactivate(db, customer_id: int, reason: str, note: str | None = None, *, actor=ADMIN, source=Source.API):
    request = TransitionRequest(reason, note, actor_role=actor.role, automatic=actor is SCHEDULER)
    with db.write() as session:
        transitions.transition_customer(session, customer_id, CustomerEvent.INACTIVATE, request, actor, source)


def seed_world(db, first: int) -> dict[str, int]:
    """Customers in every situation an activation meets, numbered from `first`."""
    ids = {
        "owes": new_customer(db, first),  # cut for delinquency, still owes: refused without force
        "paid": new_customer(db, first + 1),  # cut for delinquency, nothing past due now
        "away": new_customer(db, first + 2),  # inactive at their own request
        "active": new_customer(db, first + 3),  # already active: unchanged
        "strange": new_customer(db, first + 4),  # a status the machine does not know
        "warned": new_customer(db, first + 5),  # owes and was warned: a forced hold starts afresh
    }
    for key in ("owes", "paid", "warned"):
        invoice = add_invoice(db, ids[key], days_overdue=30, amount="120.00")
        inactivate(db, ids[key], "delinquency")
        if key == "paid":
            with db.write() as session:
                session.execute(update(Invoice).where(Invoice.id == invoice).values(status="paid"))
    inactivate(db, ids["away"], "customer_request")
    with db.write() as session:
        session.execute(update(Customer).where(Customer.id == ids["strange"]).values(status="suspended"))
        session.execute(update(Customer).where(Customer.id == ids["warned"]).values(warned_for_due=date(2026, 1, 5)))
    return ids


def run_all(db, job_id: int) -> None:
    view = bulk.job_view(db, job_id)
    for batch in range(view.batches):
        bulk.run_batch(db, job_id, batch)


def items_by_customer(db, job_id: int) -> dict[int, BulkJobItem]:
    with db.read() as session:
        return {
            item.customer_id: item for item in session.scalars(select(BulkJobItem).where(BulkJobItem.job_id == job_id))
        }


def test_the_preview_says_what_the_run_does(db):
    ids = seed_world(db, 0)
    request = bulk.BulkRequest("activate", "manual", "voltou", customers=list(ids.values()), batch_size=2)
    preview = bulk.create_job(db, request, ADMIN, Source.API)

    assert preview.dry_run and preview.state == "preview"
    assert preview.total == 6 and preview.batches == 3
    said = {item.customer_id: (item.preview, item.preview_rule) for item in bulk.job_view(db, preview.id).items}
    assert said == {
        ids["owes"]: ("refused", "overdue_invoices"),
        ids["paid"]: ("change", None),
        ids["away"]: ("change", None),
        ids["active"]: ("unchanged", "transition_not_allowed"),
        ids["strange"]: ("refused", "unknown_status"),
        ids["warned"]: ("refused", "overdue_invoices"),
    }
    with db.read() as session:  # a dry run changes nobody
        assert (
            session.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.bulk_job_id.is_not(None)))
            == 0
        )

    bulk.confirm_job(db, preview.id, ADMIN)
    run_all(db, preview.id)

    done = bulk.job_view(db, preview.id)
    assert done.state == "done" and done.finished_at is not None
    assert done.progress == bulk.Progress(done=6, total=6)
    assert done.counts == {"pending": 0, "done": 2, "refused": 3, "unchanged": 1, "skipped": 0}
    expected = {"change": "done", "refused": "refused", "unchanged": "unchanged"}
    for item in done.items:
        assert item.outcome == expected[item.preview], item
        assert item.rule == item.preview_rule and item.detail == item.preview_detail
    with db.read() as session:
        statuses = dict(session.execute(select(Customer.id, Customer.status)).tuples().all())
    assert statuses[ids["paid"]] == statuses[ids["away"]] == "active"
    assert statuses[ids["owes"]] == "inactive"


def written(db, ids: dict[str, int], event: str = "activate") -> dict:
    """What the changes of `event` wrote, per customer key (ids, times and the job's number left
    out)."""
    key_of = {cid: key for key, cid in ids.items()}
    with db.read() as session:
        rows = {
            key_of[c.id]: (
                c.status,
                c.inactivation_reason,
                c.forced_hold_until,
                c.warned_for_due,
                c.trust_unlocks_used,
                c.trust_unlock_until,
                c.return_on,
                c.delinquency_stage,
                c.notice_snoozed_until,
                c.version,
            )
            for c in session.scalars(select(Customer).where(Customer.id.in_(ids.values())))
        }
        changes = {
            key_of[h.customer_id]: (
                h.customer_version,
                h.event,
                h.from_status,
                h.to_status,
                h.reason,
                h.note,
                h.forced,
                h.hold_until,
                h.delinquency_stage,
                h.actor,
                h.source,
            )
            for h in session.scalars(
                select(StatusChange).where(StatusChange.customer_id.in_(ids.values()), StatusChange.event == event)
            )
        }
        effects = sorted(
            (key_of[e.customer_id], e.name, e.state, e.origin, e.attempts, e.service_id, e.transition_id is not None)
            for e in session.scalars(
                select(OutboxEffect)
                .join(StatusChange, StatusChange.id == OutboxEffect.transition_id)
                .where(StatusChange.event == event, OutboxEffect.customer_id.in_(ids.values()))
            )
        )
    return {"customers": rows, "history": changes, "outbox": effects}


def test_a_run_writes_what_transition_customer_writes(db):
    by_job = seed_world(db, 0)
    one_by_one = seed_world(db, 10)
    note = "banco falhou: pagamentos do dia 28 não chegaram"
    job = bulk.create_job(
        db,
        bulk.BulkRequest("activate", "manual", note, force=True, customers=list(by_job.values()), batch_size=4),
        ADMIN,
        Source.API,
    )
    bulk.confirm_job(db, job.id, ADMIN)
    run_all(db, job.id)
    request = TransitionRequest("manual", note, force=True, actor_role=Role.ADMIN)
    for customer_id in one_by_one.values():
        with suppress(AtivaError), db.write() as session:  # refused as the job's item is: compared below
            transitions.transition_customer(session, customer_id, CustomerEvent.ACTIVATE, request, ADMIN, Source.API)

    assert written(db, by_job) == written(db, one_by_one)
    assert written(db, by_job)["customers"]["warned"][3] is None  # the forced hold's new warning episode
    with db.read() as session:
        pointed = session.scalars(
            select(StatusChange.bulk_job_id).where(
                StatusChange.customer_id.in_(by_job.values()), StatusChange.event == "activate"
            )
        ).all()
        links = session.execute(
            select(BulkJobItem.transition_id, BulkJobItem.outcome).where(BulkJobItem.job_id == job.id)
        ).all()
        item_points_at = dict(
            session.execute(
                select(BulkJobItem.customer_id, BulkJobItem.transition_id).where(
                    BulkJobItem.job_id == job.id, BulkJobItem.outcome == "done"
                )
            ).all()
        )
        changes_of_the_job = dict(
            session.execute(
                select(StatusChange.customer_id, StatusChange.id).where(StatusChange.bulk_job_id == job.id)
            ).all()
        )
    assert pointed and set(pointed) == {job.id}
    assert all((tid is not None) == (outcome == "done") for tid, outcome in links)
    assert item_points_at and item_points_at == changes_of_the_job  # each item names its customer's row


def seed_active_world(db, first: int) -> dict[str, int]:
    """Customers in every situation a cut for delinquency by hand meets, numbered from `first`."""
    ids = {
        "owes": new_customer(db, first),  # owes: cut
        "clear": new_customer(db, first + 1),  # nothing past due: refused (no_overdue_invoice)
        "notice": new_customer(db, first + 2),  # at the ladder's notice stage: the cut ends it
        "held": new_customer(db, first + 3),  # a forced activation's hold: a person may cut anyway
        "unlocked": new_customer(db, first + 4),  # on a trust unlock: the cut ends it
        "away": new_customer(db, first + 5),  # already inactive: unchanged
    }
    for key in ("owes", "notice", "held", "unlocked"):
        add_invoice(db, ids[key], days_overdue=20, amount="89.90")
    inactivate(db, ids["away"], "customer_request")
    with db.write() as session:
        session.execute(update(Customer).where(Customer.id == ids["notice"]).values(delinquency_stage="notice"))
        session.execute(
            update(Customer)
            .where(Customer.id == ids["held"])
            .values(forced_hold_until=provider_today() + timedelta(days=5))
        )
        session.execute(
            update(Customer)
            .where(Customer.id == ids["unlocked"])
            .values(trust_unlock_until=utcnow() + timedelta(days=1), trust_unlocks_used=1)
        )
    return ids


def test_a_cut_by_hand_in_bulk_writes_what_transition_customer_writes(db):
    by_job = seed_active_world(db, 0)
    one_by_one = seed_active_world(db, 10)
    job = bulk.create_job(
        db,
        bulk.BulkRequest("inactivate", "delinquency", "inadimplentes de novembro", customers=list(by_job.values())),
        ADMIN,
        Source.API,
    )
    bulk.confirm_job(db, job.id, ADMIN)
    run_all(db, job.id)
    request = TransitionRequest("delinquency", "inadimplentes de novembro", actor_role=Role.ADMIN)
    for customer_id in one_by_one.values():
        with suppress(AtivaError), db.write() as session:
            transitions.transition_customer(session, customer_id, CustomerEvent.INACTIVATE, request, ADMIN, Source.API)

    assert written(db, by_job, "inactivate") == written(db, one_by_one, "inactivate")
    outcomes = {item.customer_id: item.outcome for item in bulk.job_view(db, job.id).items}
    assert [outcomes[by_job[key]] for key in by_job] == ["done", "refused", "done", "done", "done", "unchanged"]


def test_a_batch_delivered_twice_writes_nothing_twice(db):
    ids = [new_customer(db, n) for n in range(4)]
    for customer_id in ids:
        inactivate(db, customer_id, "customer_request")
    job = bulk.create_job(
        db, bulk.BulkRequest("activate", "customer_return", customers=ids, batch_size=2), ADMIN, Source.API
    )
    bulk.confirm_job(db, job.id, ADMIN)

    first = bulk.run_batch(db, job.id, 0)
    again = bulk.run_batch(db, job.id, 0)

    assert len(first.done) == 2 and again.done == [] and again.skipped_why == "the batch has run already"
    with db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.bulk_job_id == job.id))
            == 2
        )
    assert bulk.job_view(db, job.id).state == "running"
    bulk.run_batch(db, job.id, 1)
    assert bulk.job_view(db, job.id).state == "done"
    bulk.run_batch(db, job.id, 1)  # after the end too
    with db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(StatusChange).where(StatusChange.bulk_job_id == job.id))
            == 4
        )


def test_cancel_between_batches_leaves_the_rest_skipped(db):
    ids = [new_customer(db, n) for n in range(5)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "contract_termination", customers=ids, batch_size=2), ADMIN, Source.API
    )
    bulk.confirm_job(db, job.id, ADMIN)
    bulk.run_batch(db, job.id, 0)

    cancelled = bulk.cancel_job(db, job.id, ADMIN)
    late = bulk.run_batch(db, job.id, 1)  # delivered after the cancellation

    assert cancelled.state == "cancelled" and cancelled.cancelled_by == ADMIN.name
    assert cancelled.counts["done"] == 2 and cancelled.counts["skipped"] == 3 and cancelled.counts["pending"] == 0
    assert late.done == [] and late.skipped_why == "the job is cancelled"
    with db.read() as session:
        inactive = session.scalar(select(func.count()).select_from(Customer).where(Customer.status == "inactive"))
    assert inactive == 2
    with pytest.raises(Conflict, match="cancelled"):
        bulk.cancel_job(db, job.id, ADMIN)


def test_a_second_run_is_refused_with_the_counts(db):
    ids = [new_customer(db, n) for n in range(2)]
    job = bulk.create_job(db, bulk.BulkRequest("inactivate", "customer_request", customers=ids), ADMIN, Source.API)
    bulk.confirm_job(db, job.id, ADMIN)
    with pytest.raises(Conflict, match="queued"):
        bulk.confirm_job(db, job.id, ADMIN)
    run_all(db, job.id)
    with pytest.raises(Conflict, match=r"is done \(2 done\)"):
        bulk.confirm_job(db, job.id, ADMIN)
    with db.read() as session:
        assert session.scalar(select(BulkJob.state).where(BulkJob.id == job.id)) == "done"


def test_lists_by_reference_and_document_fold_duplicates(db):
    first = new_customer(db, 0, external_ref="ERP-1")
    second = new_customer(db, 1, external_ref="ERP-2")
    by_ref = bulk.create_job(
        db,
        bulk.BulkRequest("inactivate", "other", "teste", customers=["ERP-2", "ERP-1", "ERP-2"], match="external_ref"),
        ADMIN,
        Source.API,
    )
    assert [(i.position, i.customer_id, i.given) for i in by_ref.items] == [(1, second, "ERP-2"), (2, first, "ERP-1")]
    formatted = f"{cpf(0)[:3]}.{cpf(0)[3:6]}.{cpf(0)[6:9]}-{cpf(0)[9:]}"
    by_document = bulk.create_job(
        db,
        bulk.BulkRequest("inactivate", "other", "teste", customers=[formatted, cpf(0), cpf(1)], match="document"),
        ADMIN,
        Source.API,
    )
    assert [i.customer_id for i in by_document.items] == [first, second]


@pytest.mark.parametrize(
    ("customers", "match", "error", "words"),
    [
        ([1, 999_999], None, SelectionRefused, "#2 999999"),
        ([1, "ERP-1"], None, SelectionRefused, "mixes integer ids and strings"),
        (["ERP-1"], None, SelectionRefused, "ambiguous without `match`"),
        ([2**63], None, SelectionRefused, "#1 9223372036854775808"),
        ([1, True], None, SelectionRefused, "#2 True"),
        (["ERP-\x00"], "external_ref", SelectionRefused, "#1"),
        (["123.456.789-00"], "document", SelectionRefused, "valid CPF or CNPJ"),
        ([1], "id", None, None),
        ([" 1 ", "1"], "id", None, None),  # a CSV's ids, folded
        (["1", "x1"], "id", SelectionRefused, "#2 'x1'"),
        ([1], "external_ref", SelectionRefused, "takes strings"),
    ],
)
def test_bad_lists_are_refused_whole(db, customers, match, error, words):
    new_customer(db, 0, external_ref="ERP-1")
    request = bulk.BulkRequest("inactivate", "customer_request", customers=customers, match=match)
    if error is None:
        assert bulk.create_job(db, request, ADMIN, Source.API).total == 1
        return
    with pytest.raises(error, match=words):
        bulk.create_job(db, request, ADMIN, Source.API)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_unknown_entries_are_all_named(db):
    known = new_customer(db, 0)
    with pytest.raises(SelectionRefused) as refused:
        bulk.create_job(db, bulk.BulkRequest("activate", "manual", customers=[known, 70, known, 71]), ADMIN, Source.API)
    assert refused.value.entries == [{"position": 2, "value": 70}, {"position": 4, "value": 71}]


def test_other_bad_requests(db):
    new_customer(db, 0)
    with pytest.raises(UnsafeText):
        bulk.create_job(db, bulk.BulkRequest("activate", "manual", "nul\x00", customers=[1]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="matches no customer"):
        bulk.create_job(
            db, bulk.BulkRequest("activate", "manual", filter=bulk.BulkFilter(status="inactive")), ADMIN, Source.API
        )
    with pytest.raises(InvalidInput, match="does not go with activate"):
        bulk.create_job(db, bulk.BulkRequest("activate", "delinquency", customers=[1]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="a trust unlock is given one customer at a time"):
        bulk.create_job(db, bulk.BulkRequest("activate", "trust_unlock", customers=[1]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="reason 'other' needs a note"):
        bulk.create_job(db, bulk.BulkRequest("inactivate", "other", " ", customers=[1]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="reason 'other' needs a note"):  # before anything is read
        bulk.create_job(db, bulk.BulkRequest("inactivate", "other", customers=[10**9]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="force applies only to activation"):
        bulk.create_job(db, bulk.BulkRequest("inactivate", "other", "x", force=True, customers=[1]), ADMIN, Source.API)
    with pytest.raises(InvalidInput, match="exactly one"):
        bulk.create_job(
            db,
            bulk.BulkRequest("activate", "manual", customers=[1], filter=bulk.BulkFilter(status="active")),
            ADMIN,
            Source.API,
        )
    with pytest.raises(InvalidInput, match="needs a note"):
        bulk.create_job(db, bulk.BulkRequest(None, preset="undo_cuts", preset_date=provider_today()), ADMIN, Source.API)


def test_filters(db):
    cut = new_customer(db, 0)
    away = new_customer(db, 1)
    new_customer(db, 2)
    add_invoice(db, cut, days_overdue=30)
    inactivate(db, cut, "delinquency", actor=SCHEDULER, source=Source.SCHEDULER)
    inactivate(db, away, "customer_request")

    def chosen(**criteria) -> list[int]:
        job = bulk.create_job(
            db, bulk.BulkRequest("activate", "manual", "x", filter=bulk.BulkFilter(**criteria)), ADMIN, Source.API
        )
        return [item.customer_id for item in job.items]

    assert chosen(status="inactive") == [cut, away]
    assert chosen(inactivation_reason="delinquency") == [cut]
    assert chosen(source="scheduler") == [cut]
    assert chosen(cut_date=provider_today(get_settings().timezone)) == [cut, away]
    # The source is the latest change's: a cut by the sweep, then a return by hand, is the API's.
    returned = new_customer(db, 3)
    add_invoice(db, returned, days_overdue=30)
    inactivate(db, returned, "delinquency", actor=SCHEDULER, source=Source.SCHEDULER)
    with db.write() as session:
        forced = TransitionRequest("manual", "voltou", force=True, actor_role=Role.ADMIN)
        transitions.transition_customer(session, returned, CustomerEvent.ACTIVATE, forced, ADMIN, Source.API)
    assert chosen(source="scheduler") == [cut]
    assert chosen(source="api") == [away, returned]


def test_undo_cuts_picks_exactly_the_sweeps_cuts_of_the_day(db):
    today = provider_today(get_settings().timezone)
    swept = [new_customer(db, n) for n in range(3)]
    by_hand = new_customer(db, 3)  # cut for delinquency by a person: not the sweep's
    changed_since = new_customer(db, 4)  # the sweep's cut, then a change: not still inactive from it
    yesterday = new_customer(db, 5)  # the sweep's cut of another day
    for customer_id in [*swept, by_hand, changed_since, yesterday]:
        add_invoice(db, customer_id, days_overdue=30)
    inactivate(db, by_hand, "delinquency")
    # The sweep's own batch cut (grace of 15 days, any amount, any day).
    policy = Policy(15, Decimal("0.01"), frozenset(), lambda day: None)
    cut = delinquency.inactivate_due(db, policy, [*swept, changed_since, yesterday], today)
    assert sorted(cut.inactivated) == sorted([*swept, changed_since, yesterday])
    with db.write() as session:  # yesterday's cut, in the provider's yesterday
        session.execute(
            update(StatusChange)
            .where(StatusChange.customer_id == yesterday)
            .values(created_at=utcnow() - timedelta(days=1))
        )
    with db.write() as session:  # a later change: a trust unlock, ended (inactive again, not from the cut)
        unlock = TransitionRequest("trust_unlock", None, actor_role=Role.ADMIN, days=1)
        transitions.transition_customer(session, changed_since, CustomerEvent.ACTIVATE, unlock, ADMIN, Source.API)
        session.execute(update(Customer).where(Customer.id == changed_since).values(status="inactive"))

    note = "o banco não enviou os pagamentos"
    job = bulk.create_job(
        db, bulk.BulkRequest(None, note=note, preset="undo_cuts", preset_date=today), ADMIN, Source.API
    )

    assert [item.customer_id for item in job.items] == swept
    assert (job.action, job.reason, job.force, job.selection) == (
        "activate",
        "manual",
        True,
        {"preset": "undo_cuts", "date": today.isoformat()},
    )
    assert {item.preview for item in job.items} == {"change"}
    bulk.confirm_job(db, job.id, ADMIN)
    run_all(db, job.id)
    with db.read() as session:
        rows = session.execute(select(Customer.status, Customer.forced_hold_until).where(Customer.id.in_(swept))).all()
        history = session.execute(
            select(StatusChange.reason, StatusChange.forced, StatusChange.note, StatusChange.bulk_job_id).where(
                StatusChange.customer_id.in_(swept), StatusChange.event == "activate"
            )
        ).all()
    hold_days = get_settings().forced_activation_hold_days
    assert rows == [("active", today + timedelta(days=hold_days) if hold_days else None)] * 3
    assert history == [("manual", True, note, job.id)] * 3


def test_undo_cuts_takes_the_cuts_at_the_end_of_a_trust_unlock_too(db):
    """A trust unlock that ends with an invoice still past due is cut the way the sweep cuts
    (inactivate, scheduler, delinquency): a bank-failure day wants those customers back too."""
    today = provider_today(get_settings().timezone)
    unlocked = new_customer(db, 0)
    add_invoice(db, unlocked, days_overdue=30)
    inactivate(db, unlocked, "delinquency")
    with db.write() as session:
        unlock = TransitionRequest("trust_unlock", None, actor_role=Role.ADMIN, days=1)
        transitions.transition_customer(session, unlocked, CustomerEvent.ACTIVATE, unlock, ADMIN, Source.API)
        session.execute(
            update(Customer).where(Customer.id == unlocked).values(trust_unlock_until=utcnow() - timedelta(minutes=1))
        )
    assert timers.expire_trust_unlocks(db, today).changed == [unlocked]

    job = bulk.create_job(
        db, bulk.BulkRequest(None, note="o banco falhou", preset="undo_cuts", preset_date=today), ADMIN, Source.API
    )
    assert [item.customer_id for item in job.items] == [unlocked]


def test_undo_cuts_counts_a_cut_by_the_providers_day_not_utcs(db):
    timezone = "America/Sao_Paulo"  # UTC-3: 23:30 there is 02:30 UTC of the next day
    day = date(2026, 11, 27)
    late, early = new_customer(db, 0), new_customer(db, 1)
    for customer_id in (late, early):
        add_invoice(db, customer_id, days_overdue=30)
        inactivate(db, customer_id, "delinquency", actor=SCHEDULER, source=Source.SCHEDULER)
    at = {
        late: datetime(2026, 11, 28, 2, 30, tzinfo=UTC),  # 27/11 23:30 local
        early: datetime(2026, 11, 28, 3, 30, tzinfo=UTC),  # 28/11 00:30 local
    }
    with db.write() as session:
        for customer_id, moment in at.items():
            session.execute(
                update(StatusChange).where(StatusChange.customer_id == customer_id).values(created_at=moment)
            )
    with db.read() as session:
        conn = session.connection()
        assert bulk.sweep_cuts_of(conn, day, timezone) == [late]
        assert bulk.sweep_cuts_of(conn, day + timedelta(days=1), timezone) == [early]


def test_list_and_pages(db):
    ids = [new_customer(db, n) for n in range(5)]
    first = bulk.create_job(db, bulk.BulkRequest("inactivate", "customer_request", customers=ids), ADMIN, Source.API)
    second = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "customer_request", customers=ids[:2]), ADMIN, Source.API
    )
    page = bulk.job_view(db, first.id, items_offset=3, items_limit=10)
    assert [item.position for item in page.items] == [4, 5]
    assert [job.id for job in bulk.list_jobs(db)] == [second.id, first.id]
    assert bulk.list_jobs(db)[1].preview_counts == {"change": 5, "refused": 0, "unchanged": 0}
    assert isinstance(first.created_at, datetime)


def test_stalled_jobs_have_their_pending_batches_queued_again(db):
    ids = [new_customer(db, n) for n in range(3)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "customer_request", customers=ids, batch_size=1), ADMIN, Source.API
    )
    idle = bulk.create_job(db, bulk.BulkRequest("inactivate", "customer_request", customers=ids), ADMIN, Source.API)
    bulk.confirm_job(db, job.id, ADMIN)
    bulk.run_batch(db, job.id, 1)
    handed: list[tuple[int, int]] = []

    def redispatch() -> dict[int, list[int]]:
        return bulk.redispatch_stalled(db, timedelta(minutes=5), lambda job_id, batch: handed.append((job_id, batch)))

    assert redispatch() == {} and handed == []  # progress a moment ago
    long_ago = utcnow() - timedelta(minutes=10)
    with db.write() as session:
        session.execute(update(BulkJob).values(dispatched_at=long_ago))
        session.execute(update(BulkJobItem).values(updated_at=long_ago))

    assert redispatch() == {job.id: [0, 2]}  # the preview (idle) is not confirmed: not queued
    assert handed == [(job.id, 0), (job.id, 2)]
    assert redispatch() == {}  # just queued again: given time before the next try
    assert idle.state == "preview"


def test_a_job_that_stays_stalled_is_queued_again_less_and_less_often(db):
    ids = [new_customer(db, n) for n in range(2)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "customer_request", customers=ids, batch_size=1), ADMIN, Source.API
    )
    bulk.confirm_job(db, job.id, ADMIN)
    now = utcnow()

    def stalled(*, since_minutes: int, handed_out_minutes_ago: int) -> dict[int, list[int]]:
        with db.write() as session:
            session.execute(update(BulkJob).values(confirmed_at=now - timedelta(minutes=since_minutes)))
            session.execute(update(BulkJobItem).values(updated_at=now - timedelta(minutes=since_minutes)))
            session.execute(update(BulkJob).values(dispatched_at=now - timedelta(minutes=handed_out_minutes_ago)))
        return bulk.redispatch_stalled(db, timedelta(minutes=5), lambda *batch: None)

    # Last handed out when it had been stalled 50 minutes: the next try waits 50 minutes, not 5.
    assert stalled(since_minutes=60, handed_out_minutes_ago=10) == {}
    # Handed out 49 minutes ago, stalled 51 minutes then: not yet; 51 minutes ago (stalled 49): due.
    assert stalled(since_minutes=100, handed_out_minutes_ago=49) == {}
    assert stalled(since_minutes=100, handed_out_minutes_ago=51) == {job.id: [0, 1]}
    # Handed out when stalled for 5 minutes (the first try): 5 minutes later it is due again.
    assert stalled(since_minutes=20, handed_out_minutes_ago=15) == {job.id: [0, 1]}
    # The wait stops growing: after a day stalled, it is at most 64 stall periods.
    assert stalled(since_minutes=24 * 60 + 321, handed_out_minutes_ago=321) == {job.id: [0, 1]}
    assert stalled(since_minutes=24 * 60 + 319, handed_out_minutes_ago=319) == {}


def strand_running(db, job_id: int) -> None:
    """The job as a worker dying between its last batch's commit and finish_if_complete leaves it."""
    with db.write() as session:
        session.execute(update(BulkJob).where(BulkJob.id == job_id).values(state="running", finished_at=None))


def test_a_running_job_whose_batches_all_ran_is_finished_by_the_stall_check(db):
    ids = [new_customer(db, n) for n in range(2)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "customer_request", customers=ids, batch_size=1), ADMIN, Source.API
    )
    bulk.confirm_job(db, job.id, ADMIN)
    run_all(db, job.id)
    strand_running(db, job.id)
    long_ago = utcnow() - timedelta(minutes=10)
    with db.write() as session:
        session.execute(update(BulkJob).values(dispatched_at=long_ago))
        session.execute(update(BulkJobItem).values(updated_at=long_ago))
    handed: list[tuple[int, int]] = []

    assert bulk.redispatch_stalled(db, timedelta(minutes=5), lambda *queued: handed.append(queued)) == {}
    assert handed == []
    finished = bulk.job_view(db, job.id)
    assert finished.state == "done" and finished.finished_at is not None
    assert finished.counts["done"] == 2


def test_the_first_batch_does_not_hold_the_jobs_row_while_it_runs(pg_db):
    db = pg_db
    ids = [new_customer(db, n) for n in range(2)]
    job = bulk.create_job(db, bulk.BulkRequest("inactivate", "customer_request", customers=ids), ADMIN, Source.API)
    bulk.confirm_job(db, job.id, ADMIN)
    holder = db.engine.connect()
    holder.begin()
    holder.execute(select(Customer.id).where(Customer.id == ids[1]).with_for_update())  # the batch waits on it
    results: dict[str, object] = {}
    batch = threading.Thread(target=lambda: results.update(batch=bulk.run_batch(db, job.id, 0)))
    batch.start()
    try:
        wait_for(lambda: lock_waiters(db) == 1, what="the first batch waiting for a customer's lock")
        with db.engine.connect() as other:  # the job's row is free: NOWAIT would raise otherwise
            state = other.execute(
                select(BulkJob.state).where(BulkJob.id == job.id).with_for_update(nowait=True)
            ).scalar_one()
            other.rollback()
        assert state == "running"
    finally:
        holder.rollback()
        holder.close()
        batch.join(30)
    assert results["batch"].done == ids


def test_a_cancellation_waits_for_the_batch_under_way_and_skips_the_rest(pg_db):
    db = pg_db
    ids = [new_customer(db, n) for n in range(4)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "customer_request", customers=ids, batch_size=2), ADMIN, Source.API
    )
    bulk.confirm_job(db, job.id, ADMIN)
    holder = db.engine.connect()
    holder.begin()
    holder.execute(select(Customer.id).where(Customer.id == ids[1]).with_for_update())  # batch 0 waits on it
    results: dict[str, object] = {}
    batch = threading.Thread(target=lambda: results.update(batch=bulk.run_batch(db, job.id, 0)))
    batch.start()
    wait_for(lambda: lock_waiters(db) == 1, what="the batch waiting for a customer's lock")
    cancel = threading.Thread(target=lambda: results.update(cancel=bulk.cancel_job(db, job.id, ADMIN)))
    cancel.start()
    wait_for(lambda: lock_waiters(db) == 2, what="the cancellation waiting for the batch's items")
    holder.rollback()
    holder.close()
    batch.join(30)
    cancel.join(30)

    assert results["batch"].done == ids[:2]
    view = results["cancel"]
    assert view.state == "cancelled"
    assert [(item.customer_id, item.outcome) for item in view.items] == [
        (ids[0], "done"),
        (ids[1], "done"),
        (ids[2], "skipped"),
        (ids[3], "skipped"),
    ]
    assert bulk.run_batch(db, job.id, 1).done == []
