"""The `ativa` command, in-process (CliRunner) on both databases and as a real console script."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import VALID_CPFS, add_invoice
from workflow.cli import app
from workflow.domain.customer_machine import mermaid_diagram
from workflow.services.tokens import authenticate
from workflow.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
ATIVA = Path(sys.executable).with_name("ativa")


@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr, result.exception)
        return result

    yield run
    get_settings.cache_clear()


def as_json(result) -> dict:
    return json.loads(result.stdout)


def test_tokens_create_prints_the_token_alone_on_the_last_line(cli, db):
    result = cli("tokens", "create", "--name", "ura-bot", "--role", "operator")
    token = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ativa_[A-Za-z0-9_-]{40,}", token)
    with db.read() as session:
        record = authenticate(session, token)
        assert (record.name, record.role) == ("ura-bot", "operator")

    listed = cli("tokens", "list", "--json").stdout
    assert token not in listed and "ura-bot" in listed
    token_id = json.loads(listed)[0]["id"]
    cli("tokens", "revoke", str(token_id))
    with db.read() as session:
        assert authenticate(session, token) is None


def test_customer_lifecycle_through_the_cli(cli):
    created = as_json(cli("customers", "add", "--name", "Ana", "--document", "529.982.247-25",
                          "--email", "ana@example.com", "--external-ref", "IXC-42", "--json"))
    assert (created["document"], created["document_type"], created["status"]) == ("52998224725", "cpf", "active")

    service = as_json(cli("services", "add", "IXC-42", "--name", "Fibra 300M", "--json"))
    assert service["status"] == "active"
    assert [s["name"] for s in as_json(cli("services", "list", "IXC-42", "--json"))["items"]] == ["Fibra 300M"]

    result = as_json(cli("inactivate", "IXC-42", "--reason", "customer_request", "--note", "férias", "--json"))
    assert result["customer"]["status"] == "inactive"
    assert result["transition"]["source"] == "cli"
    assert result["transition"]["actor"].startswith("cli:")

    refused = cli("inactivate", str(created["id"]), "--reason", "customer_request", ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.strip().startswith("error: ")
    assert "already inactive" in refused.stderr and "[transition_not_allowed]" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    cli("activate", str(created["id"]), "--reason", "customer_return")
    history = as_json(cli("history", "IXC-42", "--json"))["items"]
    assert [(h["event"], h["reason"], h["note"]) for h in history] == [
        ("activate", "customer_return", None),
        ("inactivate", "customer_request", "férias"),
    ]
    assert [e["name"] for e in history[0]["effects"]] == ["restore_services", "resume_invoicing", "notify_billing"]
    assert "History of customer" in cli("history", "IXC-42").stdout

    shown = as_json(cli("customers", "show", "IXC-42", "--json"))
    assert shown["version"] == 3
    listed = as_json(cli("customers", "list", "--q", "529.982", "--json"))
    assert [c["id"] for c in listed["items"]] == [created["id"]]


def test_edit_performs_the_transition_and_respects_the_version(cli):
    cid = str(as_json(cli("customers", "add", "--name", "Bia", "--document", VALID_CPFS[1], "--json"))["id"])
    edited = as_json(cli("customers", "edit", cid, "--name", "Beatriz", "--status", "inactive",
                         "--reason", "contract_termination", "--version", "1", "--json"))
    assert (edited["name"], edited["status"], edited["version"]) == ("Beatriz", "inactive", 2)
    stale = cli("customers", "edit", cid, "--name", "B", "--version", "1", ok=False)
    assert stale.exit_code == 1 and "[stale_version]" in stale.stderr


def test_forced_activation_of_a_delinquent_customer(cli, db):
    cid = as_json(cli("customers", "add", "--name", "Caio", "--document", VALID_CPFS[2], "--json"))["id"]
    add_invoice(db, cid, days_overdue=10)
    cli("inactivate", str(cid), "--reason", "delinquency")
    refused = cli("activate", str(cid), "--reason", "payment_received", ok=False)
    assert "overdue_invoices" in refused.stderr and "[guard_failed]" in refused.stderr
    forced = as_json(cli("activate", str(cid), "--reason", "manual", "--force", "--note", "acordo", "--json"))
    assert forced["transition"]["forced"] is True


def test_forced_activation_with_a_hold_date_and_standing(cli, db):
    from datetime import timedelta

    from workflow.services.clock import provider_today

    hold = (provider_today() + timedelta(days=20)).isoformat()
    cid = str(as_json(cli("customers", "add", "--name", "Davi", "--document", VALID_CPFS[3], "--json"))["id"])
    add_invoice(db, int(cid), days_overdue=20)
    cli("inactivate", cid, "--reason", "delinquency")
    unforced = cli("activate", cid, "--reason", "manual", "--hold-until", hold, ok=False)
    assert unforced.exit_code == 1 and "[guard_failed]" in unforced.stderr
    bad = cli("activate", cid, "--reason", "manual", "--force", "--note", "x", "--hold-until", "15/12/2026", ok=False)
    assert bad.exit_code == 2 and "--hold-until" in bad.stderr
    done = cli("activate", cid, "--reason", "manual", "--force", "--note", "Gerente autorizou", "--hold-until", hold)
    assert f"no automatic cut through {hold}" in done.stdout
    assert as_json(cli("customers", "show", cid, "--json"))["forced_hold_until"] == hold
    standing = cli("standing", cid).stdout
    assert f"no automatic cut through {hold}" in standing
    dry = as_json(cli("sweep", "--dry-run", "--json"))
    assert dry["candidates"] == [] and [(c["customer_id"], c["held_until"]) for c in dry["skipped"]] == [(int(cid), hold)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["customers", "add", "--name", "X", "--document", "123.456.789-00"], "check digits"),
        (["customers", "show", "999"], "[not_found]"),
        (["inactivate", "999", "--reason", "customer_request"], "[not_found]"),
        (["customers", "list", "--cursor", "garbage"], "[validation_error]"),
        (["tokens", "revoke", "999"], "[not_found]"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(cli, args, message):
    result = cli(*args, ok=False)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr


def test_unknown_reason_is_a_usage_error(cli):
    result = cli("inactivate", "1", "--reason", "vacation", ok=False)
    assert result.exit_code == 2
    assert "customer_request" in result.output + result.stderr


def test_diagram_matches_the_readme():
    printed = CliRunner().invoke(app, ["diagram"]).stdout
    assert printed == mermaid_diagram()
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block, "README.md has no mermaid block"
    assert block.group(1) == printed


def _run_console(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env.update(env_extra)
    return subprocess.run([str(ATIVA), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_console_script_on_an_unreachable_database_fails_in_one_line(tmp_path):
    result = _run_console(
        ["customers", "list"], {"ATIVA_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/none"}, tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: database error:")
    assert "Traceback" not in result.stderr


def test_console_script_bootstraps_the_embedded_database(tmp_path):
    result = _run_console(["tokens", "create", "--name", "first", "--role", "admin"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ativa_")
    assert (tmp_path / "var" / "ativa.db").exists()  # ATIVA_DATA_DIR defaults to ./var


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("ATIVA_PORT", "abc", "invalid configuration: ATIVA_PORT"),
        ("ATIVA_TIMEZONE", "Mars/Base", "unknown time zone"),
        ("ATIVA_DATABASE_URL", "nonsense", "invalid ATIVA_DATABASE_URL"),
        ("ATIVA_FORCED_ACTIVATION_HOLD_DAYS", "91", "ATIVA_FORCED_ACTIVATION_HOLD_DAYS: Value error, must be at most 90"),
    ],
)
def test_bad_configuration_is_one_line_not_a_traceback(tmp_path, variable, value, message):
    result = _run_console(["customers", "list"], {variable: value}, tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_ambiguous_customer_argument_is_refused(cli):
    first = as_json(cli("customers", "add", "--name", "A", "--document", VALID_CPFS[0], "--external-ref", "2", "--json"))
    second = as_json(cli("customers", "add", "--name", "B", "--document", VALID_CPFS[1], "--json"))
    assert (first["id"], second["id"]) == (1, 2)
    refused = cli("inactivate", "2", "--reason", "customer_request", ok=False)
    assert refused.exit_code == 1 and "id:2 or ref:2" in refused.stderr
    assert as_json(cli("customers", "show", "ref:2", "--json"))["id"] == 1
    assert as_json(cli("customers", "show", "id:2", "--json"))["id"] == 2
    assert as_json(cli("customers", "show", "1", "--json"))["id"] == 1  # not ambiguous


def test_web_users_are_created_listed_repassworded_and_disabled(cli, db):
    from workflow.db.models import WebSession
    from workflow.services import users

    runner = CliRunner()
    created = runner.invoke(app, ["users", "create", "--username", "Maria", "--role", "operator",
                                  "--password-stdin"], input="uma-senha-longa\n")
    assert created.exit_code == 0 and "user 1 'maria' (operator) created" in created.stdout
    with db.write() as session:
        signed = users.sign_in(session, "maria", "uma-senha-longa", None, max_failures=5, lockout_seconds=60)
        assert signed.user and signed.user.password_hash.startswith("$argon2id$")
        users.open_session(session, signed.user, 1)
    listed = cli("users", "list", "--json").stdout
    assert json.loads(listed)[0]["username"] == "maria" and "argon2" not in listed

    short = runner.invoke(app, ["users", "create", "--username", "joao", "--role", "viewer",
                                "--password-stdin"], input="curta\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    billing = runner.invoke(app, ["users", "create", "--username", "joao", "--role", "billing",
                                  "--password-stdin"], input="uma-senha-longa\n")
    assert billing.exit_code == 1 and "is for API tokens" in billing.stderr
    no_tty = runner.invoke(app, ["users", "create", "--username", "joao", "--role", "viewer"], input="")
    assert no_tty.exit_code == 1 and "--password-stdin" in no_tty.stderr
    twice = runner.invoke(app, ["users", "create", "--username", "maria", "--role", "viewer",
                                "--password-stdin"], input="uma-senha-longa\n")
    assert twice.exit_code == 1 and "already exists" in twice.stderr

    changed = runner.invoke(app, ["users", "password", "maria", "--password-stdin"], input="outra-senha-longa\n")
    assert changed.exit_code == 0
    with db.write() as session:
        assert session.query(WebSession).count() == 0  # sessions ended with the old password
        assert users.sign_in(session, "maria", "uma-senha-longa", None, max_failures=5, lockout_seconds=60).user is None
        assert users.sign_in(session, "maria", "outra-senha-longa", None, max_failures=5, lockout_seconds=60).user
    cli("users", "disable", "maria")
    with db.write() as session:
        assert users.sign_in(session, "maria", "outra-senha-longa", None, max_failures=5, lockout_seconds=60).user is None
