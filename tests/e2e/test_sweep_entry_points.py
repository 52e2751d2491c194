"""`ativa sweep` and /api/v1/delinquency on both databases."""

import json
from datetime import date

from typer.testing import CliRunner

from tests.conftest import add_invoice
from workflow.cli import app
from workflow.domain.vocabulary import Role
from workflow.settings import get_settings

TUESDAY = date(2026, 12, 1)


def test_preview_and_run_over_the_api(api):
    due = api.new_customer(0, external_ref="ERP-1")["id"]
    fresh = api.new_customer(1)["id"]
    add_invoice(api.db, due, days_overdue=30, amount="120.00", today=TUESDAY)
    add_invoice(api.db, fresh, days_overdue=3, amount="120.00", today=TUESDAY)

    preview = api.get("/api/v1/delinquency/preview", role=Role.VIEWER, params={"as_of": "2026-12-01"})
    assert preview.status_code == 200
    body = preview.json()
    assert (body["as_of"], body["cut_day"], body["not_a_cut_day"]) == ("2026-12-01", True, None)
    assert body["candidates"] == [
        {
            "customer_id": due,
            "name": "Cliente 0",
            "external_ref": "ERP-1",
            "overdue_total": "120.00",
            "oldest_due": "2026-11-01",
            "days_overdue": 30,
            "overdue_invoices": 1,
        }
    ]
    holiday = api.get("/api/v1/delinquency/preview", params={"as_of": "2026-11-20"}).json()
    assert holiday["cut_day"] is False and "holiday" in holiday["not_a_cut_day"]
    assert api.get("/api/v1/delinquency/preview", params={"as_of": "yesterday"}).json()["code"] == "validation_error"

    assert api.post("/api/v1/delinquency/run", role=Role.OPERATOR, json={}).status_code == 403
    run = api.post("/api/v1/delinquency/run", json={"as_of": "2026-12-01"})
    assert run.status_code == 202
    assert run.json() == {"as_of": "2026-12-01", "not_a_cut_day": None, "candidates": 1, "batches": 1}
    skipped = api.post("/api/v1/delinquency/run", json={"as_of": "2026-12-05"}).json()
    assert skipped["candidates"] == 0 and "sat" in skipped["not_a_cut_day"]


def test_sweep_cli_dry_run_then_real_run(db, monkeypatch):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        cid = json.loads(
            runner.invoke(app, ["customers", "add", "--name", "Zé", "--document", "52998224725", "--json"]).stdout
        )["id"]
        add_invoice(db, cid, days_overdue=40, amount="75.50", today=TUESDAY)

        dry = json.loads(runner.invoke(app, ["sweep", "--dry-run", "--as-of", "2026-12-01", "--json"]).stdout)
        assert [(c["customer_id"], c["overdue_total"], c["days_overdue"]) for c in dry["candidates"]] == [
            (cid, "75.50", 40)
        ]
        shown = json.loads(runner.invoke(app, ["customers", "show", str(cid), "--json"]).stdout)
        assert shown["status"] == "active"  # a dry run changes nothing

        holiday = runner.invoke(app, ["sweep", "--as-of", "2026-12-25"])
        assert holiday.exit_code == 0 and "holiday" in holiday.stdout

        real = json.loads(runner.invoke(app, ["sweep", "--as-of", "2026-12-01", "--json"]).stdout)
        assert real["inactivated"] == [cid]
        history = json.loads(runner.invoke(app, ["history", str(cid), "--json"]).stdout)["items"]
        assert (history[0]["reason"], history[0]["source"]) == ("delinquency", "scheduler")

        bad = runner.invoke(app, ["sweep", "--as-of", "01/12/2026"])
        assert bad.exit_code == 2 and "not a date" in bad.stderr
    finally:
        get_settings.cache_clear()


def test_standing_trust_unlock_and_return_date_in_the_cli(db, monkeypatch):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from workflow.usecases.business_day import provider_today

    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        cid = json.loads(
            runner.invoke(app, ["customers", "add", "--name", "Ana", "--document", "11144477735", "--json"]).stdout
        )["id"]
        add_invoice(db, cid, days_overdue=25)
        runner.invoke(app, ["inactivate", str(cid), "--reason", "delinquency"])
        text = runner.invoke(app, ["standing", str(cid)]).stdout
        assert "inactive (delinquency)" in text and "trust unlock: allowed" in text
        unlocked = json.loads(
            runner.invoke(app, ["activate", str(cid), "--reason", "trust_unlock", "--days", "2", "--json"]).stdout
        )
        assert unlocked["customer"]["trust_unlock_until"] is not None
        standing = json.loads(runner.invoke(app, ["standing", str(cid), "--json"]).stdout)
        assert standing["next_action"]["action"] == "inactivate" and standing["trust_unlock"]["allowed"] is False
        # The end of the unlock in the provider's time zone, named (the JSON keeps UTC).
        ends = datetime.fromisoformat(standing["next_action"]["at"]).astimezone(ZoneInfo("America/Sao_Paulo"))
        text = runner.invoke(app, ["standing", str(cid)], env={"COLUMNS": "200"}).stdout
        assert f"next automatic action: inactivate {ends:%Y-%m-%d %H:%M:%S} America/Sao_Paulo (" in text

        other = json.loads(
            runner.invoke(app, ["customers", "add", "--name", "Bia", "--document", "39053344705", "--json"]).stdout
        )["id"]
        back = (provider_today() + timedelta(days=7)).isoformat()
        runner.invoke(app, ["inactivate", str(other), "--reason", "customer_request", "--until", back])
        later = (provider_today() + timedelta(days=9)).isoformat()
        moved = json.loads(runner.invoke(app, ["return-date", str(other), "--until", later, "--json"]).stdout)
        assert moved["return_on"] == later
        cleared = json.loads(runner.invoke(app, ["return-date", str(other), "--clear", "--json"]).stdout)
        assert cleared["return_on"] is None
        both = runner.invoke(app, ["return-date", str(other)])
        assert both.exit_code == 2 and "--until DATE or --clear" in both.stderr
    finally:
        get_settings.cache_clear()
