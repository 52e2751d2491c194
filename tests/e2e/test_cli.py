"""The `ativa` command, in-process (CliRunner) on both databases and as a real console script."""

import json
import os
import re
import subprocess
import sys
from datetime import UTC, date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import VALID_CPFS, add_invoice
from workflow.cli import app
from workflow.domain.customer_machine import mermaid_diagram
from workflow.domain.vocabulary import Role, Source
from workflow.settings import get_settings
from workflow.usecases import bulk, customers, transitions
from workflow.usecases.tokens import authenticate

ROOT = Path(__file__).resolve().parents[2]
TUESDAY = date(2026, 12, 1)
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
    created = as_json(
        cli(
            "customers",
            "add",
            "--name",
            "Ana",
            "--document",
            "529.982.247-25",
            "--email",
            "ana@example.com",
            "--external-ref",
            "IXC-42",
            "--json",
        )
    )
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
    edited = as_json(
        cli(
            "customers",
            "edit",
            cid,
            "--name",
            "Beatriz",
            "--status",
            "inactive",
            "--reason",
            "contract_termination",
            "--version",
            "1",
            "--json",
        )
    )
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

    from workflow.usecases.business_day import provider_today

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
    assert dry["candidates"] == [] and [(c["customer_id"], c["held_until"]) for c in dry["skipped"]] == [
        (int(cid), hold)
    ]


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
    block = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
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
        (
            "ATIVA_FORCED_ACTIVATION_HOLD_DAYS",
            "91",
            "ATIVA_FORCED_ACTIVATION_HOLD_DAYS: must be at most 90",
        ),
        ("ATIVA_WORKER_POOL", "bogus", "invalid configuration: ATIVA_WORKER_POOL"),
        ("ATIVA_WORKER_CONCURRENCY", "0", "invalid configuration: ATIVA_WORKER_CONCURRENCY"),
    ],
)
def test_bad_configuration_is_one_line_not_a_traceback(tmp_path, variable, value, message):
    result = _run_console(["customers", "list"], {variable: value}, tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_client_ip_header_without_trusted_proxies_stops_the_service_in_one_line(tmp_path):
    result = _run_console(["serve"], {"ATIVA_NOTICE_CLIENT_IP_HEADER": "X-Forwarded-For"}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: invalid configuration: ATIVA_NOTICE_CLIENT_IP_HEADER is set but ATIVA_NOTICE_TRUSTED_PROXIES is "
        "empty: list the reverse proxies whose header /aviso may believe, or unset the header"
    )
    assert not (tmp_path / "var").exists()


LADDER_MESSAGE = "invalid configuration: the collection ladder (ATIVA_NOTICE_AFTER_DAYS, ATIVA_REDUCE_AFTER_DAYS, "


@pytest.mark.parametrize(
    "variables, message",
    [
        (
            {"ATIVA_REDUCE_AFTER_DAYS": "20", "ATIVA_GRACE_DAYS": "15"},
            "the reduction (20 days) must come before the cut (15 days of grace)",
        ),
        (
            {"ATIVA_NOTICE_AFTER_DAYS": "8", "ATIVA_REDUCE_AFTER_DAYS": "8"},
            "the notice (8 days) must come before the reduction (8 days)",
        ),
        ({"ATIVA_REDUCED_RATE_PERCENT": "0"}, "the reduced rate must be 1 to 99 percent of the plan's, not 0"),
        ({"ATIVA_REDUCED_RATE_PERCENT": "100"}, "the reduced rate must be 1 to 99 percent of the plan's, not 100"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["worker"], ["beat"], ["customers", "list"]])
def test_a_bad_ladder_stops_the_service_at_start_in_one_line(tmp_path, command, variables, message):
    result = _run_console(command, variables, tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"error: {LADDER_MESSAGE}ATIVA_REDUCED_RATE_PERCENT, ATIVA_GRACE_DAYS) is wrong: {message}"
    )
    assert result.stdout == ""
    assert not (tmp_path / "var").exists()  # stopped before touching anything


@pytest.mark.parametrize("command", [["serve"], ["customers", "list"]])
def test_both_reduced_rates_stop_the_service_at_start_in_one_line(tmp_path, command):
    result = _run_console(command, {"ATIVA_REDUCED_RATE_PERCENT": "40", "ATIVA_REDUCED_RATE_KBPS": "1000"}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: invalid configuration: set ATIVA_REDUCED_RATE_PERCENT or ATIVA_REDUCED_RATE_KBPS, not both"
    )


def test_an_ambiguous_customer_argument_is_refused(cli):
    first = as_json(
        cli("customers", "add", "--name", "A", "--document", VALID_CPFS[0], "--external-ref", "2", "--json")
    )
    second = as_json(cli("customers", "add", "--name", "B", "--document", VALID_CPFS[1], "--json"))
    assert (first["id"], second["id"]) == (1, 2)
    refused = cli("inactivate", "2", "--reason", "customer_request", ok=False)
    assert refused.exit_code == 1 and "id:2 or ref:2" in refused.stderr
    assert as_json(cli("customers", "show", "ref:2", "--json"))["id"] == 1
    assert as_json(cli("customers", "show", "id:2", "--json"))["id"] == 2
    assert as_json(cli("customers", "show", "1", "--json"))["id"] == 1  # not ambiguous


def test_web_users_are_created_listed_repassworded_and_disabled(cli, db):
    from workflow.db.models import WebSession
    from workflow.usecases import users

    runner = CliRunner()
    created = runner.invoke(
        app,
        ["users", "create", "--username", "Maria", "--role", "operator", "--password-stdin"],
        input="uma-senha-longa\n",
    )
    assert created.exit_code == 0 and "user 1 'maria' (operator) created" in created.stdout
    with db.write() as session:
        signed = users.sign_in(session, "maria", "uma-senha-longa", None, max_failures=5, lockout_seconds=60)
        assert signed.user and signed.user.password_hash.startswith("$argon2id$")
        users.open_session(session, signed.user, 1)
    listed = cli("users", "list", "--json").stdout
    assert json.loads(listed)[0]["username"] == "maria" and "argon2" not in listed

    short = runner.invoke(
        app, ["users", "create", "--username", "joao", "--role", "viewer", "--password-stdin"], input="curta\n"
    )
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    billing = runner.invoke(
        app,
        ["users", "create", "--username", "joao", "--role", "billing", "--password-stdin"],
        input="uma-senha-longa\n",
    )
    assert billing.exit_code == 1 and "is for API tokens" in billing.stderr
    no_tty = runner.invoke(app, ["users", "create", "--username", "joao", "--role", "viewer"], input="")
    assert no_tty.exit_code == 1 and "--password-stdin" in no_tty.stderr
    twice = runner.invoke(
        app,
        ["users", "create", "--username", "maria", "--role", "viewer", "--password-stdin"],
        input="uma-senha-longa\n",
    )
    assert twice.exit_code == 1 and "already exists" in twice.stderr

    changed = runner.invoke(app, ["users", "password", "maria", "--password-stdin"], input="outra-senha-longa\n")
    assert changed.exit_code == 0
    with db.write() as session:
        assert session.query(WebSession).count() == 0  # sessions ended with the old password
        assert users.sign_in(session, "maria", "uma-senha-longa", None, max_failures=5, lockout_seconds=60).user is None
        assert users.sign_in(session, "maria", "outra-senha-longa", None, max_failures=5, lockout_seconds=60).user
    cli("users", "disable", "maria")
    with db.write() as session:
        assert (
            users.sign_in(session, "maria", "outra-senha-longa", None, max_failures=5, lockout_seconds=60).user is None
        )


# -- usage errors: one line, exit 2, for every command ---------------------------------------------

TOO_BIG_ID = "2147483648"  # ids are 32-bit integers on PostgreSQL
BAD_INVOCATIONS = [
    (["--bogus"], "No such option"),
    (["nosuch"], "No such command"),
    (["serve", "--port", "-1"], "'--port'"),  # not 0: without the check, that would serve forever
    (["serve", "--port", "65536"], "'--port'"),
    (["serve", "--host", "local\nhost"], "'--host'"),
    (["worker", "--pool", "bogus"], "'--pool'"),
    (["worker", "--concurrency", "-1"], "'--concurrency'"),
    (["worker", "--concurrency", "many"], "'--concurrency'"),
    (["beat", "--bogus"], "No such option"),
    (["db", "upgrade", "extra"], "unexpected extra argument"),
    (["diagram", "--bogus"], "No such option"),
    (["tokens", "create", "--name", "erp", "--role", "root"], "'--role'"),
    (["tokens", "create", "--name", "e\x00rp", "--role", "admin"], "U+0000"),
    (["tokens", "create", "--name", "e" * 101, "--role", "admin"], "at most 100"),
    (["tokens", "revoke", TOO_BIG_ID], "2147483647"),
    (["tokens", "revoke", "0"], "greater than or equal to 1"),
    (["tokens", "list", "--wide", "extra"], "unexpected extra argument"),
    (["users", "create", "--username", "maria", "--role", "root"], "'--role'"),
    (["users", "create", "--username", "ma\x1bria", "--role", "viewer"], "U+001B"),
    (["users", "password", "maria\x00"], "U+0000"),
    (["users", "disable", "maria\r"], "U+000D"),
    (["customers", "add", "--name", "Ana\x00", "--document", VALID_CPFS[0]], "'--name'"),
    (["customers", "add", "--name", "A" * 201, "--document", VALID_CPFS[0]], "at most 200"),
    (["customers", "add", "--name", "Jos\udce9", "--document", VALID_CPFS[0]], "U+DCE9"),  # argv not UTF-8
    (["customers", "add", "--name", "Ana", "--document", VALID_CPFS[0], "--email", "a\n@example.com"], "'--email'"),
    (["customers", "add", "--name", "Ana", "--document", VALID_CPFS[0], "--external-ref", "R" * 101], "at most 100"),
    (["customers", "add", "--name", "Ana"], "'--document'"),
    (["customers", "list", "--status", "deleted"], "'--status'"),
    (["customers", "list", "--limit", "0"], "'--limit'"),
    (["customers", "list", "--limit", "201"], "'--limit'"),
    (["customers", "list", "--q", "a\x00"], "'--q'"),
    (["customers", "show", "1\x00"], "U+0000"),
    (["customers", "edit", "1", "--status", "paused"], "'--status'"),
    (["customers", "edit", "1", "--reason", "vacation"], "'--reason'"),
    (["customers", "edit", "1", "--version", TOO_BIG_ID], "'--version'"),
    (["customers", "edit", "1", "--note", "n" * 2001], "at most 2000"),
    (["inactivate", "1", "--reason", "vacation"], "'--reason'"),
    (["inactivate", "1", "--reason", "customer_request", "--until", "2026-02-30"], "not a date"),
    (["inactivate", "1", "--reason", "customer_request", "--until", "01/12/2026"], "not a date"),
    (["inactivate", "1", "--reason", "other", "--note", "a\x00b"], "'--note'"),
    (["activate", "1", "--reason", "manual", "--days", "0"], "'--days'"),
    (["activate", "1", "--reason", "trust_unlock", "--days", "366"], "'--days'"),
    (["return-date", "1", "--until", "tomorrow"], "not a date"),
    (["return-date", "1"], "--until DATE or --clear"),
    (["standing", "1\x1b[2J"], "U+001B"),
    (["history", "1", "--bogus"], "No such option"),
    (["services", "add", "1", "--name", "S" * 201], "at most 200"),
    (["services", "suspend", TOO_BIG_ID, "--reason", "manutenção"], "2147483647"),
    (["services", "suspend", "1", "--reason", "a\x00"], "'--reason'"),
    (["services", "resume", "0"], "greater than or equal to 1"),
    (["services", "cancel", "abc"], "valid integer"),
    (["effects", "list", "--state", "nope"], "'nope' is not one of"),
    (["effects", "list", "--limit", "-5"], "'--limit'"),
    (["effects", "list", "--customer", "a\x00"], "'--customer'"),
    (["effects", "retry", "99999999999"], "2147483647"),
    (["sweep", "--bogus"], "No such option"),
]


@pytest.mark.parametrize("args, message", BAD_INVOCATIONS, ids=[" ".join(a)[:60] for a, _ in BAD_INVOCATIONS])
def test_a_usage_error_is_one_line_and_exit_2(cli, args, message):
    result = cli(*args, ok=False)
    assert result.exit_code == 2, (result.output, result.stderr, result.exception)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output + result.stderr and result.stdout == ""


def test_no_arguments_still_prints_the_help():
    result = CliRunner().invoke(app, ["tokens"])
    assert "create" in result.output and "revoke" in result.output and "error:" not in result.output


def test_an_unexpected_failure_is_one_line_unless_ativa_debug(tmp_path):
    (tmp_path / "junk.db").write_bytes(os.urandom(4096))  # not an SQLite file
    broken = {"ATIVA_DATABASE_URL": f"sqlite:///{tmp_path / 'junk.db'}"}
    result = _run_console(["customers", "list"], broken, tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: unexpected DatabaseError:") and "ATIVA_DEBUG=1" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr

    debug = _run_console(["customers", "list"], {**broken, "ATIVA_DEBUG": "1"}, tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "file is not a database" in debug.stderr


# -- tables at 80 columns, times in the provider's zone -------------------------------------------


def _fits_80(text: str) -> str:
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long, too_long
    assert "…" not in text
    return text


def test_tables_fit_80_columns_with_times_in_the_provider_zone(cli, db, monkeypatch):
    from datetime import datetime

    from sqlalchemy import update

    from workflow.db.models import OutboxEffect, StatusChange

    monkeypatch.setenv("COLUMNS", "80")
    maria = as_json(
        cli(
            "customers",
            "add",
            "--name",
            "Maria Aparecida dos Santos Oliveira [/]",
            "--document",
            VALID_CPFS[0],
            "--external-ref",
            "IXC-000123-ABCDEF",
            "--email",
            "maria.aparecida@example.com",
            "--json",
        )
    )["id"]
    vale = as_json(
        cli(
            "customers",
            "add",
            "--name",
            "Provedor de Internet Comunicações do Vale Ltda",
            "--document",
            "11.222.333/0001-81",
            "--external-ref",
            "ERP-998877",
            "--json",
        )
    )["id"]
    service = as_json(
        cli(
            "services",
            "add",
            str(maria),
            "--name",
            "Fibra 500 Mega com Wi-Fi 6",
            "--external-ref",
            "SVC-000123-0001",
            "--json",
        )
    )["id"]
    cli("services", "suspend", str(service), "--reason", "Equipamento em manutenção no endereço do cliente")
    cli(
        "inactivate",
        str(maria),
        "--reason",
        "contract_termination",
        "--note",
        "cliente mudou de cidade\ne pediu o encerramento do contrato",
    )  # a note may have line breaks
    cli("tokens", "create", "--name", "erp-integration", "--role", "billing")
    add_invoice(db, vale, days_overdue=40, amount="1234.56", today=TUESDAY)
    # 15:04:05 UTC is 12:04:05 in São Paulo (UTC-3 all year since 2019).
    when = datetime(2026, 3, 10, 15, 4, 5, tzinfo=UTC)
    with db.write() as session:
        session.execute(update(StatusChange).values(created_at=when))
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.name == "notify_billing")
            .values(state="failed", attempts=8, last_error="HTTP 502 from billing: upstream timeout")
        )
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.name == "suspend_services")
            .values(state="done", attempts=1, completed_at=when.replace(second=9))
        )

    history = _fits_80(cli("history", str(maria)).stdout)
    assert "America/Sao_Paulo" in history and "2026-03-10" in history and "12:04:05" in history
    assert "15:04:05" not in history
    for whole in (
        "inactivate",
        "active → inactive",
        "contract_termination",
        "suspend_services: done at",
        "12:04:09",
        "notify_billing: failed",
        "upstream",
        "timeout",
        "note: cliente mudou de",
        "e pediu o encerramento",
    ):
        assert whole in history, whole
    assert as_json(cli("history", str(maria), "--json"))["items"][0]["created_at"].startswith("2026-03-10T15:04:05")

    wide = cli("history", str(maria), "--wide").stdout
    assert "2026-03-10 12:04:05   inactivate   active → inactive   contract_termination" in wide
    assert all(header in wide for header in ("from → to", "note", "actor", "source"))
    assert max(len(line) for line in wide.splitlines()) > 80

    listed = _fits_80(cli("customers", "list").stdout)
    for whole in (
        "Oliveira [/]",
        "52998224725",
        "IXC-000123-ABCDEF",
        "inactive",
        "(contract_termination)",
        "11222333000181",
        "ERP-998877",
        "active",
    ):
        assert whole in listed, whole
    assert "external_ref" in cli("customers", "list", "--wide").stdout
    assert [c["id"] for c in as_json(cli("customers", "list", "--status", "inactive", "--json"))["items"]] == [maria]

    shown = _fits_80(cli("customers", "show", str(maria)).stdout)
    created = as_json(cli("customers", "show", str(maria), "--json"))["created_at"]
    assert re.search(rf"created_at +{_sao_paulo(created)}", shown) and "America/Sao_Paulo" in shown

    services = _fits_80(cli("services", "list", str(maria)).stdout)
    for whole in ("SVC-000123-0001", "suspended", "manual", "manutenção"):
        assert whole in services, whole

    effects = _fits_80(cli("effects", "list").stdout)
    for whole in (
        "America/Sao_Paulo",
        "suspend_services",
        "2026-03-10",
        "12:04:09",
        "notify_billing",
        "failed",
        "upstream",
        "pause_invoicing",
        "pending",
    ):
        assert whole in effects, whole

    tokens = _fits_80(cli("tokens", "list").stdout)
    token_created = as_json(cli("tokens", "list", "--json"))[0]["created_at"]
    assert "erp-integration" in tokens and "billing" in tokens and _sao_paulo(token_created) in tokens

    users_table = _fits_80(cli("users", "list").stdout)
    assert "America/Sao_Paulo" in users_table and "last sign-in" in users_table

    sweep = _fits_80(cli("sweep", "--dry-run", "--as-of", "2026-12-01").stdout)
    for whole in ("Provedor", "ERP-998877", "1234.56", "2026-10-22", "40"):
        assert whole in sweep, whole

    _fits_80(cli("standing", str(vale)).stdout)


def _sao_paulo(iso: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(iso).astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%Y-%m-%d %H:%M:%S")


def test_history_names_the_bulk_job_of_a_change(cli, db):
    with db.write() as session:
        customer = customers.create_customer(session, customers.CustomerDraft("Ana", VALID_CPFS[0])).id
    admin = transitions.Actor("token:admin", Role.ADMIN)
    job = bulk.create_job(db, bulk.BulkRequest("inactivate", "other", "obra", customers=[customer]), admin, Source.API)
    bulk.confirm_job(db, job.id, admin)
    bulk.run_batch(db, job.id, 0)

    assert as_json(cli("history", str(customer), "--json"))["items"][0]["bulk_job_id"] == job.id
    assert f"api (bulk job {job.id})" in cli("history", str(customer), "--wide").stdout
