"""`ativa sweep` and /api/v1/delinquency on both databases."""

import json
from datetime import date, timedelta

from typer.testing import CliRunner

from tests.conftest import VALID_CPFS, add_invoice
from workflow.cli import app
from workflow.domain.vocabulary import Role
from workflow.settings import get_settings
from workflow.usecases.business_day import provider_today

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
    assert run.json() == {
        "as_of": "2026-12-01",
        "not_a_cut_day": None,
        "candidates": 1,
        "batches": 1,
        "frozen": None,
        "tripped": False,
    }
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


def test_sweep_cli_previews_and_runs_the_collection_ladder_before_the_cuts(db, monkeypatch):
    for name, value in {"NOTICE_AFTER_DAYS": "5", "REDUCE_AFTER_DAYS": "10", "NO_CUT_WEEKDAYS": ""}.items():
        monkeypatch.setenv(f"ATIVA_{name}", value)
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()

    def customer(n: int, days: int) -> int:
        added = runner.invoke(app, ["customers", "add", "--name", f"C{n}", "--document", VALID_CPFS[n], "--json"])
        cid = json.loads(added.stdout)["id"]
        add_invoice(db, cid, days_overdue=days, amount="60.00", today=TUESDAY)
        return cid

    try:
        notice, reduced, cut = customer(0, 7), customer(1, 12), customer(2, 20)
        dry = json.loads(runner.invoke(app, ["sweep", "--dry-run", "--as-of", "2026-12-01", "--json"]).stdout)
        ladder = dry["ladder"]
        assert ladder["counts"] == {
            "to_notice": 1,
            "to_reduced": 2,  # the one due for a cut too: its steps come first, in the same run
            "back_to_plan": 0,
            "at_notice": 0,
            "at_reduced": 0,
            "cuts": 1,
        }
        assert [e["customer_id"] for e in ladder["to_notice"]] == [notice]
        assert [(e["customer_id"], e["stage"], e["days_overdue"]) for e in ladder["to_reduced"]] == [
            (reduced, "none", 12),
            (cut, "none", 20),
        ]
        text = runner.invoke(app, ["sweep", "--dry-run", "--as-of", "2026-12-01"])
        assert text.exit_code == 0 and "Would move to the notice stage: 1" in text.stdout
        assert "At reduced speed now: none" in text.stdout

        real = json.loads(runner.invoke(app, ["sweep", "--as-of", "2026-12-01", "--json"]).stdout)
        assert real["ladder"] == {
            "advanced": {str(notice): "notice", str(reduced): "reduced", str(cut): "reduced"},
            "cleared": [],
            "kept": {},
            "frozen": False,
        }
        assert real["inactivated"] == [cut]
        history = json.loads(runner.invoke(app, ["history", str(cut), "--json"]).stdout)["items"]
        assert [t["event"] for t in history] == ["inactivate", "advance_stage"]  # the step, then the cut
        standing = runner.invoke(app, ["standing", str(reduced)])
        first_cut = max(TUESDAY - timedelta(days=12) + timedelta(days=16), provider_today())  # every day cuts
        assert f"collection ladder: reduced; next cut on {first_cut.isoformat()}" in standing.stdout
        listed = json.loads(runner.invoke(app, ["customers", "list", "--stage", "reduced", "--json"]).stdout)
        assert [c["id"] for c in listed["items"]] == [reduced] and listed["items"][0]["delinquency_stage"] == "reduced"
        table = runner.invoke(app, ["customers", "list", "--stage", "cut"]).stdout
        assert "inactive (delinquency)" in table and "C1" not in table
        assert "active (notice)" in runner.invoke(app, ["customers", "list"]).stdout
        again = runner.invoke(app, ["sweep", "--as-of", "2026-12-01"])
        assert "ladder of 2026-12-01: 0 to notice, 0 to reduced, 0 back to their plan" in again.stdout
    finally:
        get_settings.cache_clear()
