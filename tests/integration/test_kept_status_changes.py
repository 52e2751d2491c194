"""Changes of the lifecycle that keep the status go through the machine and are recorded like any
transition (issue 11): the end of a trust unlock, the end of a forced activation's hold, a new
return date. Each writes one history row and bumps the version, queues no effect, leaves
status_changed_at alone, and supersedes no billing notification. On SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from tests.conftest import add_invoice
from workflow.db.models import Customer, Invoice, OutboxEffect, StatusChange
from workflow.domain.vocabulary import Effect
from workflow.settings import Settings
from workflow.usecases import billing, effects, timers
from workflow.usecases.business_day import provider_today
from workflow.usecases.effects.descriptions import describe_fast
from workflow.usecases.effects.outcomes import Delivery


def customer_row(api, cid) -> Customer:
    with api.db.read() as session:
        return session.get(Customer, cid)


def count(api, model) -> int:
    with api.db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def latest_change(api, cid) -> dict:
    return api.get(f"/api/v1/customers/{cid}/history").json()["items"][0]


def delinquent(api, n=0) -> int:
    cid = api.new_customer(n)["id"]
    add_invoice(api.db, cid, days_overdue=20)
    assert api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"}).status_code == 200
    return cid


def deadline_passed(api, cid) -> None:
    with api.db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(trust_unlock_until=datetime.now(UTC) - timedelta(seconds=1))
        )


class Recorded:
    """What one kept-status change must have written, checked against the state before it."""

    def __init__(self, api, cid):
        self.api, self.cid = api, cid
        self.before = customer_row(api, cid)
        self.changes, self.effects = count(api, StatusChange), count(api, OutboxEffect)

    def check(self, event: str, reason: str, source: str, actor: str) -> dict:
        after = customer_row(self.api, self.cid)
        change = latest_change(self.api, self.cid)
        assert (change["event"], change["reason"], change["source"], change["actor"]) == (event, reason, source, actor)
        assert change["from_status"] == change["to_status"] == self.before.status == after.status
        assert change["effects"] == [] and change["forced"] is False and change["hold_until"] is None
        assert after.version == self.before.version + 1 == change["customer_version"]
        assert after.status_changed_at == self.before.status_changed_at  # the status did not change
        assert count(self.api, StatusChange) == self.changes + 1
        assert count(self.api, OutboxEffect) == self.effects  # nothing to bring in line, nobody to tell
        return change


def test_the_end_of_a_paid_trust_unlock_is_recorded(api):
    cid = delinquent(api)
    assert api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "trust_unlock", "days": 1}).status_code == 200
    with api.db.write() as session:
        session.execute(update(Invoice).where(Invoice.customer_id == cid).values(status="paid"))
    deadline_passed(api, cid)
    recorded = Recorded(api, cid)
    run = timers.expire_trust_unlocks(api.db, provider_today())
    assert run.changed == [] and run.kept == {cid: "paid during the trust unlock: stays active"}
    change = recorded.check("end_trust_unlock", "trust_unlock", "scheduler", "scheduler")
    assert change["note"] == (
        "Fim do Desbloqueio de confiança; nenhuma fatura vencida em aberto: o cliente continua ativo."
    )
    row = customer_row(api, cid)
    assert (row.status, row.trust_unlock_until, row.trust_unlocks_used) == ("active", None, 0)
    again = Recorded(api, cid)
    assert timers.expire_trust_unlocks(api.db, provider_today()).kept == {}  # nothing left to end
    assert count(api, StatusChange) == again.changes and customer_row(api, cid).version == again.before.version


def test_the_end_of_a_trust_unlock_a_forced_activation_holds_is_recorded(api):
    cid = delinquent(api)
    forced = api.post(
        f"/api/v1/customers/{cid}/activate", json={"reason": "manual", "force": True, "note": "Gerente autorizou"}
    )
    hold = forced.json()["customer"]["forced_hold_until"]
    warned = provider_today() - timedelta(days=20)
    with api.db.write() as session:  # a row carrying both (the machine never lets both stand)
        session.execute(update(Customer).where(Customer.id == cid).values(warned_for_due=warned))
    deadline_passed(api, cid)
    recorded = Recorded(api, cid)
    run = timers.expire_trust_unlocks(api.db, provider_today())
    assert run.changed == [] and "held by a forced activation" in run.kept[cid]
    change = recorded.check("end_trust_unlock", "trust_unlock", "scheduler", "scheduler")
    assert change["note"].startswith("Fim do Desbloqueio de confiança; sem corte")
    row = customer_row(api, cid)
    assert (row.status, row.trust_unlock_until, row.forced_hold_until.isoformat()) == ("active", None, hold)
    assert row.trust_unlocks_used == recorded.before.trust_unlocks_used  # the debt is still there
    assert row.warned_for_due == warned  # the hold did not change: no new warning episode


def test_a_stale_trust_unlock_of_an_inactive_customer_is_ended_and_recorded(api):
    cid = delinquent(api)
    deadline_passed(api, cid)
    recorded = Recorded(api, cid)
    run = timers.expire_trust_unlocks(api.db, provider_today())
    assert (run.changed, run.kept) == ([], {})
    change = recorded.check("end_trust_unlock", "trust_unlock", "scheduler", "scheduler")
    assert change["note"] == "Fim do Desbloqueio de confiança de um cliente que já está inativo."
    row = customer_row(api, cid)
    assert (row.status, row.inactivation_reason, row.trust_unlock_until) == ("inactive", "delinquency", None)


def test_a_payment_that_ends_a_hold_is_recorded_and_the_activation_is_still_notified(api):
    today = provider_today()
    cid = delinquent(api)
    forced = api.post(
        f"/api/v1/customers/{cid}/activate", json={"reason": "manual", "force": True, "note": "Gerente autorizou"}
    ).json()
    with api.db.read() as session:
        (invoice_ref,) = session.scalars(select(Invoice.external_id).where(Invoice.customer_id == cid))
    recorded = Recorded(api, cid)
    outcome = billing.apply_event(
        api.db, billing.InvoiceEvent("pay-hold", "invoice.paid", invoice_ref, cid, None, None, None, None), today=today
    )
    assert outcome.hold_ended is True and not outcome.reactivated
    change = recorded.check("end_forced_hold", "payment_received", "billing", "billing")
    assert "pay-hold" in change["note"] and change["note"].startswith("Fim do prazo sem corte automático")
    assert customer_row(api, cid).forced_hold_until is None

    # Billing still learns of the activation: a change that keeps the status supersedes no notification.
    (notify,) = [e for e in forced["transition"]["effects"] if e["name"] == Effect.NOTIFY_BILLING]
    settings = Settings(database_url=api.db.url, billing_webhook_url="http://127.0.0.1:9/billing")
    with api.db.read() as session:
        delivery = describe_fast(session.connection(), notify["id"], Effect.NOTIFY_BILLING, settings)
    assert isinstance(delivery, Delivery) and delivery.payload["data"]["transition_id"] == forced["transition"]["id"]


def test_a_new_return_date_is_recorded_and_its_refusals_write_nothing(api):
    today = provider_today()
    cid = api.new_customer(0)["id"]
    first, later = today + timedelta(days=10), today + timedelta(days=20)
    api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request", "until": first.isoformat()})

    recorded = Recorded(api, cid)
    moved = api.post(f"/api/v1/customers/{cid}/return-date", json={"until": later.isoformat()})
    assert moved.status_code == 200 and moved.json()["return_on"] == later.isoformat()
    assert moved.json()["version"] == recorded.before.version + 1
    change = recorded.check("reschedule_return", "customer_request", "api", "token:test-admin")
    assert change["note"] == f"Data de retorno alterada de {first:%d/%m/%Y} para {later:%d/%m/%Y}."

    recorded = Recorded(api, cid)
    cleared = api.post(f"/api/v1/customers/{cid}/return-date", json={"until": None})
    assert cleared.status_code == 200 and cleared.json()["return_on"] is None
    assert recorded.check("reschedule_return", "customer_request", "api", "token:test-admin")["note"] == (
        f"Data de retorno de {later:%d/%m/%Y} removida."
    )

    other = delinquent(api, 1)
    unchanged = Recorded(api, other)
    refused = api.post(f"/api/v1/customers/{other}/return-date", json={"until": later.isoformat()})
    assert refused.status_code == 409 and refused.json()["rule"] == "return_date_requires_customer_request"
    assert count(api, StatusChange) == unchanged.changes
    assert customer_row(api, other).version == unchanged.before.version


def test_a_failed_notification_is_sent_again_after_a_change_that_keeps_the_status(api):
    """The notifications reconciler re-sends the latest change of status, not the latest row."""
    today = provider_today()
    cid = api.new_customer(0)["id"]
    left = api.post(
        f"/api/v1/customers/{cid}/inactivate",
        json={"reason": "customer_request", "until": (today + timedelta(days=10)).isoformat()},
    ).json()
    with api.db.write() as session:
        session.execute(update(OutboxEffect).where(OutboxEffect.name == Effect.NOTIFY_BILLING).values(state="failed"))
    api.post(f"/api/v1/customers/{cid}/return-date", json={"until": (today + timedelta(days=20)).isoformat()})
    (again,) = effects.reconcile_notifications(api.db)
    with api.db.read() as session:
        assert session.get(OutboxEffect, again).transition_id == left["transition"]["id"]
