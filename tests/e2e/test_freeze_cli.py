"""`ativa freeze on|off|status` and what `ativa sweep` says while a freeze holds, on both databases."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from tests.conftest import add_invoice
from tests.freeze_support import flowing_before, seed_payments
from workflow.cli import app
from workflow.cli.session import CLI_ACTOR
from workflow.settings import get_settings
from workflow.usecases import freeze
from workflow.usecases.business_day import provider_today


@pytest.fixture
def ativa(db, monkeypatch):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    yield run
    get_settings.cache_clear()


def _json(result) -> dict:
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_freeze_on_status_and_off(ativa):
    assert ativa("freeze", "status").stdout.strip() == "automatic cuts are not frozen"
    last_day = (provider_today() + timedelta(days=3)).isoformat()
    on = ativa("freeze", "on", "--reason", "Banco X sem retorno", "--until", last_day)
    assert on.exit_code == 0 and "automatic cuts are FROZEN: Banco X sem retorno" in on.stdout
    assert f"through {last_day}" in on.stdout and CLI_ACTOR.name in on.stdout

    state = _json(ativa("freeze", "status", "--json"))
    assert (state["holds"], state["reason"], state["until"], state["actor"], state["source"]) == (
        True,
        "Banco X sem retorno",
        last_day,
        CLI_ACTOR.name,
        "cli",
    )
    assert [c["action"] for c in state["history"]] == ["on"]

    off = _json(ativa("freeze", "off", "--note", "banco voltou", "--json"))
    assert (off["lifted"], off["holds"]) == (True, False)
    assert (off["history"][0]["action"], off["history"][0]["reason"]) == ("off", "banco voltou")
    again = ativa("freeze", "off")
    assert again.exit_code == 0 and "nothing to lift" in again.stdout
    assert len(_json(ativa("freeze", "status", "--json"))["history"]) == 2


YESTERDAY = "<yesterday>"  # replaced when the test runs


@pytest.mark.parametrize(
    "args, exit_code, words",
    [
        (("freeze", "on"), 2, "--reason"),
        (("freeze", "on", "--reason", "banco\x00fora"), 2, "control characters"),
        (("freeze", "on", "--reason", "x" * 501), 2, "at most 500"),
        (("freeze", "on", "--reason", "ok", "--until", "01/12/2026"), 2, "not a date like"),
        (("freeze", "on", "--reason", "ok", "--until", YESTERDAY), 1, "before today"),
        (("freeze", "on", "--reason", "ok", "--until", "0001-01-01"), 1, "outside the accepted dates"),
        (("freeze", "on", "--reason", "   "), 1, "needs a reason"),
        (("freeze", "off", "--note", "a\x07b"), 2, "control characters"),
    ],
)
def test_bad_input_is_one_line_and_records_nothing(ativa, args, exit_code, words):
    yesterday = (provider_today() - timedelta(days=1)).isoformat()
    result = ativa(*(yesterday if arg == YESTERDAY else arg for arg in args))
    assert result.exit_code == exit_code, result.stdout + result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _json(ativa("freeze", "status", "--json"))["history"] == []


def test_the_sweep_cuts_nobody_while_frozen_and_says_so(ativa, db):
    today = provider_today()
    customer = _json(ativa("customers", "add", "--name", "Zé", "--document", "52998224725", "--json"))["id"]
    add_invoice(db, customer, days_overdue=40, amount="75.50", today=today)
    assert ativa("freeze", "on", "--reason", "auditoria").exit_code == 0

    dry = _json(ativa("sweep", "--dry-run", "--json"))
    assert dry["frozen"]["reason"] == "auditoria" and dry["frozen"]["automatic"] is False
    assert [c["customer_id"] for c in dry["candidates"]] == [customer]  # who would be cut without it
    dry_text = ativa("sweep", "--dry-run")
    assert f"nobody would be cut on {today}: automatic cuts are frozen: auditoria" in dry_text.stdout

    run = _json(ativa("sweep", "--json"))
    assert (run["inactivated"], run["candidates"], run["tripped"]) == ([], 0, False)
    assert run["frozen"]["actor"] == CLI_ACTOR.name and run["frozen"]["source"] == "cli"
    assert run["ladder"]["frozen"] is True
    text = ativa("sweep")
    assert text.exit_code == 0
    assert f"sweep of {today}: nobody cut, automatic cuts are frozen: auditoria" in text.stdout
    assert _json(ativa("customers", "show", str(customer), "--json"))["status"] == "active"

    assert ativa("freeze", "off").exit_code == 0
    after = _json(ativa("sweep", "--json"))
    assert after["frozen"] is None and after["ladder"]["frozen"] is False
    if after["not_a_cut_day"] is None:  # today may be a weekend or a holiday
        assert after["inactivated"] == [customer]


def test_the_sweep_trips_the_freeze_on_a_payment_silence_and_says_so(ativa, db):
    """Payments that flowed in the same hours of earlier weeks and stopped: `ativa sweep` freezes the
    cuts itself before anything moves (the ladder asks first), cuts nobody and reports `tripped`."""
    settings = get_settings()
    today = provider_today()
    customer = _json(ativa("customers", "add", "--name", "Zé", "--document", "52998224725", "--json"))["id"]
    add_invoice(db, customer, days_overdue=40, amount="75.50", today=today)
    now = datetime.now(ZoneInfo(settings.timezone))
    calendar = freeze.business_hours(settings)
    seed_payments(
        db, flowing_before(now, settings.payment_silence_hours + 1, calendar) * settings.payment_silence_min_events
    )

    run = _json(ativa("sweep", "--json"))
    assert run["tripped"] is True and run["frozen"]["automatic"] is True
    assert run["frozen"]["reason"] == "payment_silence" and run["frozen"]["actor"] == "scheduler"
    assert (run["inactivated"], run["candidates"], run["ladder"]["frozen"]) == ([], 0, True)
    again = _json(ativa("sweep", "--json"))  # frozen already: this run tripped nothing
    assert again["tripped"] is False and again["frozen"]["automatic"] is True
