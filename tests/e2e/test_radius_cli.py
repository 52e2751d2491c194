"""`ativa radius check LOGIN`: what FreeRADIUS answers for a login, from its tables, with the open
sessions; an unknown login fails in one line; RADIUS off says so. Never the password."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from tests.radius_view_support import (
    FRAMED_IP,
    LOGIN,
    PASSWORD,
    ROUTER_ADDRESS,
    ROUTER_NAME,
    open_session,
    seed_customer_with_login,
)
from workflow.cli import app
from workflow.settings import get_settings


@pytest.fixture
def run(monkeypatch):
    runner = CliRunner()

    def use(db):
        monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
        get_settings.cache_clear()

        def invoke(*args: str):
            return runner.invoke(app, list(args))

        return invoke

    yield use
    get_settings.cache_clear()


@pytest.mark.postgres
def test_check_prints_group_attributes_answer_and_sessions_never_the_password(pg_db, run):
    cli = run(pg_db)
    seeded = seed_customer_with_login(pg_db)
    open_session(pg_db, LOGIN, "sessao-9", datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    group = f"ativa_plano_{seeded.plan_id}"

    shown = cli("radius", "check", LOGIN, "--wide")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert f"login {LOGIN} (service {seeded.service_id}): FreeRADIUS answers Accept" in text
    assert "password check: present" in text
    assert f"group: {group} (priority 1)" in text and "(matches)" in text
    assert "Mikrotik-Rate-Limit" in text and "10000k/50000k" in text and "WISPr-Bandwidth-Max-Down" in text
    assert ROUTER_NAME in text and ROUTER_ADDRESS in text and FRAMED_IP in text
    assert "2026-11-30 12:00:00" in text  # since, in the provider's time zone (São Paulo)
    assert PASSWORD not in shown.output

    data = json.loads(cli("radius", "check", LOGIN, "--json").stdout)
    assert (data["answer"], data["password_set"], data["wanted_group"], data["diverges"]) == (
        "accept",
        True,
        group,
        False,
    )
    assert [g["name"] for g in data["groups"]] == [group]
    assert data["sessions"][0] | {"since": None} == {
        "router_address": ROUTER_ADDRESS,
        "router_name": ROUTER_NAME,
        "framed_ip": FRAMED_IP,
        "since": None,
        "acct_session_id": "sessao-9",
    }
    assert PASSWORD not in json.dumps(data)


@pytest.mark.postgres
def test_a_cancelled_login_is_rejected_and_an_unknown_login_fails_in_one_line(pg_db, run):
    cli = run(pg_db)
    seeded = seed_customer_with_login(pg_db)
    assert cli("services", "cancel", str(seeded.service_id)).exit_code == 0
    data = json.loads(cli("radius", "check", LOGIN, "--json").stdout)
    assert data["answer"] == "reject" and data["groups"][0]["check"][0]["attribute"] == "Auth-Type"
    assert "FreeRADIUS answers Reject" in cli("radius", "check", LOGIN).stdout

    unknown = cli("radius", "check", "ninguem")
    assert unknown.exit_code != 0
    assert unknown.stderr.strip().splitlines() == [
        "error: login 'ninguem' is unknown to Ativa and to FreeRADIUS [not_found]"
    ]


def test_with_radius_off_it_says_so_in_one_line(sqlite_db, run):
    cli = run(sqlite_db)
    seed_customer_with_login(sqlite_db)
    shown = cli("radius", "check", LOGIN)
    assert shown.exit_code == 0 and len(shown.stdout.strip().splitlines()) == 1
    assert shown.stdout.startswith("RADIUS is off")
    assert json.loads(cli("radius", "check", LOGIN, "--json").stdout) == {"login": LOGIN, "radius_mode": "off"}
