"""Trust unlock, scheduled return, standing and warnings, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import holidays
from sqlalchemy import select, update

from tests.conftest import add_invoice
from workflow.db.models import Customer, Invoice, OutboxEffect
from workflow.domain.delinquency import Policy, parse_weekdays
from workflow.domain.vocabulary import Role
from workflow.usecases import timers
from workflow.usecases.business_day import provider_today

TUESDAY = date(2026, 12, 1)
POLICY = Policy(15, Decimal("0.01"), parse_weekdays("sat,sun"), holidays.country_holidays("BR").get)


def delinquent(api, n=0) -> int:
    cid = api.new_customer(n)["id"]
    add_invoice(api.db, cid, days_overdue=20)
    response = api.post(f"/api/v1/customers/{cid}/inactivate", json={"reason": "delinquency"})
    assert response.status_code == 200, response.text
    return cid


def customer_row(api, cid) -> Customer:
    with api.db.read() as session:
        return session.get(Customer, cid)


def trust(api, cid, days=2, role=Role.OPERATOR):
    return api.post(f"/api/v1/customers/{cid}/activate", role=role, json={"reason": "trust_unlock", "days": days})


def test_trust_unlock_activates_until_a_deadline(api):
    cid = delinquent(api)
    response = trust(api, cid, days=2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer"]["status"] == "active" and body["transition"]["reason"] == "trust_unlock"
    until = datetime.fromisoformat(body["customer"]["trust_unlock_until"])
    assert abs((until - datetime.now(UTC)) - timedelta(days=2)) < timedelta(minutes=1)
    assert body["customer"]["trust_unlocks_used"] == 1
    assert [e["name"] for e in body["transition"]["effects"]] == [
        "restore_services",
        "resume_invoicing",
        "notify_billing",
    ]


def _refused(response, rule):
    assert response.status_code == 409 and response.json()["code"] == "guard_failed", response.text
    assert response.json()["rule"] == rule


def test_trust_unlock_refusals_name_their_rule(api):
    cid = delinquent(api)
    _refused(trust(api, cid, days=4), "trust_unlock_too_long")
    _refused(
        api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "trust_unlock"}), "trust_unlock_days_required"
    )
    _refused(
        api.post(f"/api/v1/customers/{cid}/activate", json={"reason": "manual", "days": 2}),
        "days_only_for_trust_unlock",
    )
    other = api.new_customer(1)["id"]
    api.post(f"/api/v1/customers/{other}/inactivate", json={"reason": "customer_request"})
    _refused(trust(api, other), "trust_unlock_not_delinquent")
    assert customer_row(api, cid).status == "inactive"


def test_expiry_unpaid_cuts_again_and_a_second_unlock_is_refused(api):
    cid = delinquent(api)
    trust(api, cid, days=1)
    with api.db.write() as session:  # the deadline passes
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(trust_unlock_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    run = timers.expire_trust_unlocks(api.db, provider_today())
    assert run.changed == [cid]
    latest = api.get(f"/api/v1/customers/{cid}/history").json()["items"][0]
    assert (latest["event"], latest["reason"], latest["source"]) == ("inactivate", "delinquency", "scheduler")
    assert latest["note"] == "Fim do Desbloqueio de confiança com fatura ainda vencida."
    assert customer_row(api, cid).trust_unlock_until is None
    _refused(trust(api, cid), "trust_unlock_used")
    standing = api.get(f"/api/v1/customers/{cid}/standing").json()
    assert standing["trust_unlock"]["allowed"] is False and "limit 1" in standing["trust_unlock"]["why_not"]
    assert standing["trust_unlock"]["rule"] == "trust_unlock_used"
    assert timers.expire_trust_unlocks(api.db, provider_today()).changed == []  # idempotent


def test_expiry_after_payment_keeps_the_customer_active(api):
    cid = delinquent(api)
    trust(api, cid, days=1)
    with api.db.write() as session:
        session.execute(update(Invoice).where(Invoice.customer_id == cid).values(status="paid"))
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values(trust_unlock_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    run = timers.expire_trust_unlocks(api.db, provider_today())
    assert run.changed == [] and "stays active" in run.kept[cid]
    row = customer_row(api, cid)
    assert (row.status, row.trust_unlock_until, row.trust_unlocks_used) == ("active", None, 0)


def test_suspension_with_a_return_date(api):
    cid = api.new_customer(0)["id"]
    today = provider_today()
    tomorrow = today + timedelta(days=1)
    bad = api.post(
        f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request", "until": today.isoformat()}
    )
    _refused(bad, "return_date_not_in_future")
    bad = api.post(
        f"/api/v1/customers/{cid}/inactivate", json={"reason": "contract_termination", "until": tomorrow.isoformat()}
    )
    _refused(bad, "return_date_requires_customer_request")
    ok = api.post(
        f"/api/v1/customers/{cid}/inactivate", json={"reason": "customer_request", "until": tomorrow.isoformat()}
    )
    assert ok.json()["customer"]["return_on"] == tomorrow.isoformat()
    standing = api.get(f"/api/v1/customers/{cid}/standing").json()
    assert standing["next_action"] == {"action": "activate", "on": tomorrow.isoformat(), "why": "scheduled return"}

    assert timers.return_suspended(api.db, today).changed == []
    assert timers.return_suspended(api.db, tomorrow).changed == [cid]
    latest = api.get(f"/api/v1/customers/{cid}/history").json()["items"][0]
    assert (latest["reason"], latest["source"]) == ("customer_return", "scheduler")
    assert latest["note"] == f"Retorno programado para {tomorrow.strftime('%d/%m/%Y')}."
    assert customer_row(api, cid).return_on is None
    assert timers.return_suspended(api.db, tomorrow).changed == []


def test_the_return_date_can_be_changed_or_cleared(api):
    cid = api.new_customer(0)["id"]
    today = provider_today()
    api.post(
        f"/api/v1/customers/{cid}/inactivate",
        json={"reason": "customer_request", "until": (today + timedelta(days=10)).isoformat()},
    )
    later = (today + timedelta(days=20)).isoformat()
    changed = api.post(f"/api/v1/customers/{cid}/return-date", json={"until": later})
    assert changed.status_code == 200 and changed.json()["return_on"] == later
    # The machine's rule, the same refusal as an inactivation with that date (issue 11: one rule, one error).
    _refused(
        api.post(f"/api/v1/customers/{cid}/return-date", json={"until": today.isoformat()}), "return_date_not_in_future"
    )
    assert customer_row(api, cid).return_on.isoformat() == later
    cleared = api.post(f"/api/v1/customers/{cid}/return-date", json={"until": None})
    assert cleared.json()["return_on"] is None
    assert timers.return_suspended(api.db, today + timedelta(days=30)).changed == []
    assert api.post(f"/api/v1/customers/{cid}/return-date", role=Role.VIEWER, json={"until": None}).status_code == 403
    active = api.new_customer(1)["id"]
    refused = api.post(f"/api/v1/customers/{active}/return-date", json={"until": later})
    assert refused.status_code == 409 and refused.json()["code"] == "transition_not_allowed"


def test_standing_explains_an_active_customer_heading_for_a_cut(api):
    cid = api.new_customer(0)["id"]
    add_invoice(api.db, cid, days_overdue=5, amount="80.00")
    add_invoice(api.db, cid, days_overdue=-3, amount="80.00")  # not due yet: not in the answer
    standing = api.get(f"/api/v1/customers/{cid}/standing", role=Role.VIEWER).json()
    assert (standing["status"], standing["inactivation_reason"]) == ("active", None)
    assert standing["overdue"]["total"] == "80.00" and standing["overdue"]["days_overdue"] == 5
    assert [i["days_overdue"] for i in standing["overdue"]["invoices"]] == [5]
    action = standing["next_action"]
    assert action["action"] == "inactivate"
    cut = date.fromisoformat(action["on"])
    assert cut >= provider_today() + timedelta(days=11)  # 15 days of grace, then the next cut day
    assert date.fromisoformat(action["warning_on"]) == max(provider_today(), cut - timedelta(days=5))
    assert standing["trust_unlock"] == {
        "max_days": 3,
        "uses_left": 1,
        "allowed": False,
        "why_not": "the customer is active",
        "rule": "already_active",
    }
    delinquent_id = delinquent(api, 1)
    inactive = api.get(f"/api/v1/customers/{delinquent_id}/standing").json()
    assert inactive["trust_unlock"]["allowed"] is True
    assert inactive["next_action"]["action"] == "activate" and inactive["next_action"]["on"] is None
    assert api.get("/api/v1/customers/99999/standing").json()["code"] == "not_found"


def test_one_warning_per_episode_before_the_cut(api):
    cid = api.new_customer(0)["id"]
    # Due 13 days before Tuesday 2026-12-01: the cut would be Friday 2026-12-04, 3 days away.
    add_invoice(api.db, cid, days_overdue=13, today=TUESDAY)
    far = api.new_customer(1)["id"]
    add_invoice(api.db, far, days_overdue=2, today=TUESDAY)
    assert timers.queue_warnings(api.db, POLICY, TUESDAY, warning_days=5) == [cid]
    assert timers.queue_warnings(api.db, POLICY, TUESDAY, warning_days=5) == []  # once per episode
    with api.db.read() as session:
        warnings = session.scalars(select(OutboxEffect).where(OutboxEffect.name == "warn_billing")).all()
        assert [(w.customer_id, w.state, w.origin) for w in warnings] == [(cid, "pending", "scheduler")]
    # A new debt after the old one is paid is a new episode.
    with api.db.write() as session:
        session.execute(update(Invoice).where(Invoice.customer_id == cid).values(status="paid"))
    add_invoice(api.db, cid, days_overdue=14, today=TUESDAY + timedelta(days=20))
    # 20 days later: the new episode of `cid`, and `far`, whose own cut is now close too.
    assert timers.queue_warnings(api.db, POLICY, TUESDAY + timedelta(days=20), warning_days=5) == [cid, far]
