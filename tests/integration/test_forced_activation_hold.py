"""A forced activation holds the automatic cuts until its hold date (issue 10), on SQLite and
PostgreSQL: the sweep, the preview, trust-unlock expiry, warnings, standing and payments."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from tests.conftest import add_invoice
from workflow.db.models import Customer, Invoice, OutboxEffect
from workflow.domain.delinquency import Policy
from workflow.domain.vocabulary import Role
from workflow.usecases import billing, delinquency, timers
from workflow.usecases.business_day import provider_today

# Every day a cut day: the dates below are the rule's, not the calendar's.
POLICY = Policy(15, Decimal("0.01"), frozenset(), lambda day: None)
DEFAULT_HOLD_DAYS = 10  # ATIVA_FORCED_ACTIVATION_HOLD_DAYS' default


def cut_for_delinquency(api, n=0) -> int:
    cid = api.new_customer(n)["id"]
    add_invoice(api.db, cid, days_overdue=20)
    response = api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"})
    assert response.status_code == 200, response.text
    return cid


def force(api, cid, **extra):
    return api.post(
        f"/api/v1/customers/{cid}/activate",
        role=Role.OPERATOR,
        json={"reason": "manual", "force": True, "note": "Gerente autorizou", **extra},
    )


def customer_row(api, cid) -> Customer:
    with api.db.read() as session:
        return session.get(Customer, cid)


def refused(response, rule):
    assert response.status_code == 409 and response.json()["code"] == "guard_failed", response.text
    assert response.json()["rule"] == rule, response.text


def test_the_same_days_sweep_leaves_a_forced_activation_alone_until_the_hold_date(api):
    """The reported case: forced activation, then the day's sweep cut him again 19 s later."""
    today = provider_today()
    cid = cut_for_delinquency(api)
    response = force(api, cid)
    assert response.status_code == 200, response.text
    hold = today + timedelta(days=DEFAULT_HOLD_DAYS)
    body = response.json()
    assert body["customer"]["forced_hold_until"] == hold.isoformat()
    assert (body["transition"]["forced"], body["transition"]["hold_until"]) == (True, hold.isoformat())
    assert api.get(f"/api/v1/customers/{cid}/history").json()["items"][0]["hold_until"] == hold.isoformat()

    run = delinquency.run_sweep(api.db, POLICY, today, batch_size=10)
    assert (run.candidates, run.inactivated) == (0, [])
    # Listed by an earlier run, then forced before its batch ran: the re-check under lock skips it.
    batch = delinquency.inactivate_due(api.db, POLICY, [cid], today)
    assert batch.skipped == {cid: f"held by a forced activation through {hold.isoformat()}"}
    assert delinquency.run_sweep(api.db, POLICY, hold, batch_size=10).inactivated == []  # held through that day
    assert customer_row(api, cid).status == "active"

    after = delinquency.run_sweep(api.db, POLICY, hold + timedelta(days=1), batch_size=10)
    assert after.inactivated == [cid]
    row = customer_row(api, cid)
    assert (row.status, row.inactivation_reason, row.forced_hold_until) == ("inactive", "delinquency", None)


def test_the_hold_date_can_be_chosen_within_limits_and_only_with_force(api):
    today = provider_today()
    cid = cut_for_delinquency(api)
    later = (today + timedelta(days=30)).isoformat()
    refused(
        api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "manual", "hold_until": later}),
        "overdue_invoices",
    )
    refused(force(api, cid, hold_until=today.isoformat()), "hold_not_in_future")
    refused(force(api, cid, hold_until=(today + timedelta(days=91)).isoformat()), "hold_too_long")
    refused(
        api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "trust_unlock", "days": 2, "hold_until": later}),
        "hold_requires_forced_activation",
    )
    assert customer_row(api, cid).status == "inactive"
    ok = force(api, cid, hold_until=later)
    assert ok.status_code == 200 and ok.json()["customer"]["forced_hold_until"] == later
    # A customer with nothing past due needs no force: a hold would override nothing.
    paid_up = api.new_customer(1)["id"]
    api.post(f"/api/v1/customers/{paid_up}/inactivate", json={"reason": "other", "note": "teste"})
    refused(force(api, paid_up, hold_until=later), "hold_requires_forced_activation")
    plain = force(api, paid_up)
    assert plain.status_code == 200 and plain.json()["customer"]["forced_hold_until"] is None
    assert plain.json()["transition"]["hold_until"] is None


def test_patch_sets_the_hold_with_the_status_change(api):
    today = provider_today()
    cid = cut_for_delinquency(api)
    hold = (today + timedelta(days=20)).isoformat()
    alone = api.patch(f"/api/v1/customers/{cid}", json={"hold_until": hold})
    assert alone.status_code == 422 and "hold_until" in alone.json()["detail"]
    unforced = api.patch(f"/api/v1/customers/{cid}", json={"status": "active", "reason": "manual", "hold_until": hold})
    refused(unforced, "overdue_invoices")
    saved = api.patch(
        f"/api/v1/customers/{cid}",
        role=Role.OPERATOR,
        json={"status": "active", "reason": "manual", "force": True, "note": "Gerente autorizou", "hold_until": hold},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["customer"]["forced_hold_until"] == hold
    assert saved.json()["transition"]["hold_until"] == hold
    # Already active: a hold date with no status change is refused, never dropped silently.
    later = (today + timedelta(days=30)).isoformat()
    same = api.patch(f"/api/v1/customers/{cid}", json={"status": "active", "hold_until": later})
    assert same.status_code == 409 and same.json()["code"] == "transition_not_allowed", same.text
    assert api.get(f"/api/v1/customers/{cid}").json()["forced_hold_until"] == hold


def test_a_payment_that_clears_the_debts_ends_the_hold(api):
    today = provider_today()
    cid = api.new_customer(0)["id"]
    first = add_invoice(api.db, cid, days_overdue=40)
    second = add_invoice(api.db, cid, days_overdue=20)
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"})
    force(api, cid)
    with api.db.read() as session:
        first_ref, second_ref = (session.get(Invoice, i).external_id for i in (first, second))

    def pay(webhook_id, invoice_ref):
        return billing.apply_event(
            api.db,
            billing.InvoiceEvent(webhook_id, "invoice.paid", invoice_ref, cid, None, None, None, None),
            today=today,
        )

    assert pay("pay-1", first_ref).hold_ended is False  # one invoice still past due: the hold stands
    assert customer_row(api, cid).forced_hold_until == today + timedelta(days=DEFAULT_HOLD_DAYS)
    outcome = pay("pay-2", second_ref)
    assert outcome.hold_ended is True and not outcome.reactivated
    row = customer_row(api, cid)
    assert (row.status, row.forced_hold_until) == ("active", None)
    assert api.get(f"/api/v1/customers/{cid}/standing").json()["forced_hold"] is None
    # A new debt follows the normal rule again: due 16 days later, cut that day.
    add_invoice(api.db, cid, days_overdue=-1)
    due_day = today + timedelta(days=1 + 16)
    assert delinquency.run_sweep(api.db, POLICY, due_day, batch_size=10).inactivated == [cid]


def test_the_preview_lists_held_customers_as_skipped_with_the_date(api):
    today = provider_today()
    held = cut_for_delinquency(api, 0)
    force(api, held)
    due = api.new_customer(1)["id"]
    add_invoice(api.db, due, days_overdue=20)
    hold = today + timedelta(days=DEFAULT_HOLD_DAYS)

    preview = api.get("/api/v1/delinquency/preview", role=Role.VIEWER).json()
    assert [c["customer_id"] for c in preview["candidates"]] == [due]
    (skipped,) = preview["skipped"]
    assert (skipped["customer_id"], skipped["held_until"], skipped["reason"]) == (
        held,
        hold.isoformat(),
        "forced_activation_hold",
    )
    assert skipped["overdue_total"] == "99.90"
    later = api.get("/api/v1/delinquency/preview", params={"as_of": (hold + timedelta(days=1)).isoformat()}).json()
    assert sorted(c["customer_id"] for c in later["candidates"]) == [held, due] and later["skipped"] == []


def test_standing_shows_the_hold_and_when_the_rule_applies_again(api):
    today = provider_today()
    cid = cut_for_delinquency(api)
    hold = today + timedelta(days=DEFAULT_HOLD_DAYS)
    force(api, cid)
    standing = api.get(f"/api/v1/customers/{cid}/standing").json()
    assert standing["forced_hold"] == {
        "until": hold.isoformat(),
        "normal_rule_from": (hold + timedelta(days=1)).isoformat(),
    }
    action = standing["next_action"]
    assert action["action"] == "inactivate" and date.fromisoformat(action["on"]) > hold
    assert action["why"].startswith(f"held by a forced activation through {hold.isoformat()}")


def test_trust_unlock_expiry_does_not_cut_a_held_customer(api):
    """The machine never lets both stand (each activation clears the other's field); should a row
    carry both, the person's decision wins over the deadline."""
    today = provider_today()
    cid = cut_for_delinquency(api)
    force(api, cid)
    with api.db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(trust_unlock_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    run = timers.expire_trust_unlocks(api.db, today)
    assert run.changed == [] and "held by a forced activation" in run.kept[cid]
    row = customer_row(api, cid)
    assert (row.status, row.trust_unlock_until) == ("active", None)
    # The hold ends: the sweep cuts as usual.
    day_after = today + timedelta(days=DEFAULT_HOLD_DAYS + 1)
    assert delinquency.run_sweep(api.db, POLICY, day_after, batch_size=10).inactivated == [cid]


def test_the_warning_announces_the_cut_at_the_holds_end(api):
    today = provider_today()
    cid = api.new_customer(0)["id"]
    add_invoice(api.db, cid, days_overdue=20)
    assert timers.queue_warnings(api.db, POLICY, today, warning_days=5) == [cid]  # before the first cut
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"})
    force(api, cid)
    assert customer_row(api, cid).warned_for_due is None  # the hold moved the cut: a new warning is due
    hold = today + timedelta(days=DEFAULT_HOLD_DAYS)
    assert timers.queue_warnings(api.db, POLICY, today, warning_days=5) == []  # the cut is 11 days away
    assert timers.queue_warnings(api.db, POLICY, hold - timedelta(days=4), warning_days=5) == [cid]
    assert timers.queue_warnings(api.db, POLICY, hold - timedelta(days=3), warning_days=5) == []  # once
    with api.db.read() as session:
        warnings = list(
            session.scalars(
                select(OutboxEffect.id).where(OutboxEffect.name == "warn_billing").order_by(OutboxEffect.id)
            )
        )
    assert len(warnings) == 2

    # The warning tells the billing system the cut that comes after the hold.
    from tests.pipeline import BILLING_SECRET, WebhookReceiver
    from workers.connectors import webhooks
    from workflow.settings import Settings
    from workflow.usecases import effects

    receiver = WebhookReceiver().start()
    try:
        settings = Settings(
            database_url=api.db.url,
            no_cut_weekdays="",
            billing_webhook_url=f"{receiver.url}/billing",
            billing_webhook_secret=BILLING_SECRET,
        )
        result = effects.carry_out_effect(api.db, warnings[-1], settings, lambda d: webhooks.deliver(d, settings))
        assert result.state == "done"
        (sent,) = receiver.at("/billing")
    finally:
        receiver.stop()
    oldest = today - timedelta(days=20)
    assert sent.verified and sent.body["type"] == "customer.delinquency_warning"
    projected = date.fromisoformat(sent.body["data"]["projected_cut"])
    assert projected > hold and projected == delinquency.policy_from(settings).projected_cut(oldest, today, hold)
