"""`ativa plans`, `ativa nas` and `ativa services add --login`, in-process (CliRunner) on both
databases: what they write, one-line refusals with a non-zero exit, secrets never printed."""

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import VALID_CPFS
from workflow.cli import app
from workflow.db import radius_tables as rt
from workflow.db.models import Plan, Router, Service
from workflow.settings import get_settings

SECRET = "segredo-do-roteador"
PASSWORD = "s3nha-do-cliente"


@pytest.fixture
def run(db, monkeypatch):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = runner.invoke(app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr, result.exception)
        return result

    yield invoke
    get_settings.cache_clear()


def refused(result, message: str) -> None:
    assert result.exit_code != 0, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
    assert result.stdout == ""


def count(db, model) -> int:
    with db.read() as session:
        return len(session.scalars(select(model)).all())


def test_plans_are_added_and_listed(run, db):
    added = json.loads(
        run("plans", "add", "--name", "Fibra 300", "--download", "300000", "--upload", "150000", "--json").stdout
    )
    assert (added["name"], added["download_kbps"], added["upload_kbps"]) == ("Fibra 300", 300000, 150000)
    assert added["radius_group"] == f"ativa_plano_{added['id']}"
    text = run("plans", "add", "--name", "Fibra 600", "--download", "600000", "--upload", "300000").stdout
    assert "plan 2 'Fibra 600' added" in text
    listed = json.loads(run("plans", "list", "--json").stdout)["items"]
    assert [p["name"] for p in listed] == ["Fibra 300", "Fibra 600"] and listed[0]["in_use"] == 0
    assert "Fibra 300" in run("plans", "list").stdout
    assert "ativa_plano_1" in run("plans", "list", "--wide").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--name", "Zero", "--download", "0", "--upload", "1000"], "'--download'"),
        (["--name", "Demais", "--download", "10000001", "--upload", "1000"], "10 Gbit/s"),
        (["--name", "FIBRA 300", "--download", "1000", "--upload", "1000"], "already exists"),
        (["--name", "Fi\x00bra", "--download", "1000", "--upload", "1000"], "U+0000"),
        (["--name", "Sem upload", "--download", "1000"], "'--upload'"),
    ],
)
def test_bad_plans_are_refused_in_one_line(run, db, args, message):
    run("plans", "add", "--name", "Fibra 300", "--download", "300000", "--upload", "150000")
    refused(run("plans", "add", *args, ok=False), message)
    assert count(db, Plan) == 1


def test_routers_are_added_listed_and_removed_without_showing_the_secret(run, db):
    added = run(
        "nas", "add", "--name", "bng-centro", "--address", "10.0.0.1", "--vendor", "generic", "--coa-port", "1700",
        "--secret-stdin", "--json", input=f"{SECRET}\n",
    )  # fmt: skip
    router = json.loads(added.stdout)
    assert (router["address"], router["vendor"], router["coa_port"]) == ("10.0.0.1", "generic", 1700)
    assert SECRET not in added.output
    with db.read() as session:
        assert session.scalars(select(Router.secret)).one() == SECRET
    listed = run("nas", "list", "--json")
    table = run("nas", "list")
    assert SECRET not in listed.output and SECRET not in table.output and "bng-centro" in table.stdout
    assert [r["name"] for r in json.loads(listed.stdout)["items"]] == ["bng-centro"]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            assert conn.execute(select(rt.nas.c.nasname, rt.nas.c.secret)).all() == [("10.0.0.1", SECRET)]
    assert "router 1 'bng-centro' removed" in run("nas", "remove", "1").stdout
    assert count(db, Router) == 0
    refused(run("nas", "remove", "1", ok=False), "router 1 does not exist")


@pytest.mark.parametrize(
    "args, secret, message",
    [
        (["--address", "roteador.local"], SECRET, "must be an IP address"),
        (["--address", "10.0.0.1"], "curto7!", "secret must be 8 to 128"),
        (["--address", "10.0.0.1"], "", "secret must be 8 to 128"),
        (["--address", "10.0.0.1", "--coa-port", "0"], SECRET, "'--coa-port'"),
        (["--address", "10.0.0.1", "--vendor", "cisco"], SECRET, "'--vendor'"),
        (["--address", "10.0.0.9", "--name", "BNG-NORTE"], SECRET, "already exists"),
        (["--address", "10.0.0.2"], SECRET, "already exists"),
    ],
)
def test_bad_routers_are_refused_without_echoing_the_secret(run, db, args, secret, message):
    run("nas", "add", "--name", "bng-norte", "--address", "10.0.0.2", "--secret-stdin", input=f"{SECRET}\n")
    if "--name" not in args:
        args = ["--name", "bng-sul", *args]
    result = run("nas", "add", *args, "--secret-stdin", input=f"{secret}\n", ok=False)
    refused(result, message)
    if secret:
        assert secret not in result.output
    assert count(db, Router) == 1


def test_a_router_secret_needs_a_terminal_or_stdin(run, db):
    refused(run("nas", "add", "--name", "bng", "--address", "10.0.0.1", input="", ok=False), "--secret-stdin")
    assert count(db, Router) == 0


def _customer(run) -> str:
    run("customers", "add", "--name", "Ana", "--document", VALID_CPFS[0], "--external-ref", "IXC-1")
    run("plans", "add", "--name", "Fibra 300", "--download", "300000", "--upload", "150000")
    return "IXC-1"


def test_a_service_gets_a_login_and_plan(run, db):
    customer = _customer(run)
    added = run(
        "services", "add", customer, "--name", "Internet", "--login", "ana.silva", "--plan", "1", "--password-stdin",
        "--json", input=f"{PASSWORD}\n",
    )  # fmt: skip
    service = json.loads(added.stdout)
    assert (service["login"], service["plan_id"], service["radius_group"]) == ("ana.silva", 1, "ativa_plano_1")
    assert PASSWORD not in added.output
    listed = run("services", "list", customer, "--json")
    assert PASSWORD not in listed.output
    text = run("services", "add", customer, "--name", "IPTV", "--plan", "1").stdout
    assert "service 2 'IPTV' added to customer 1" in text
    with db.read() as session:
        assert session.scalars(select(Service.radius_password).where(Service.id == 1)).one() == PASSWORD
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            assert conn.execute(select(rt.radcheck.c.username, rt.radcheck.c.value)).all() == [("ana.silva", PASSWORD)]
            assert conn.execute(select(rt.radusergroup.c.groupname)).scalars().all() == ["ativa_plano_1"]


@pytest.mark.parametrize(
    "args, password, message",
    [
        (["--login", "ana silva", "--plan", "1"], PASSWORD, "login must be 1 to 64 characters"),
        (["--login", "ANA.SILVA", "--plan", "1"], PASSWORD, "already taken"),
        (["--login", "bruno"], PASSWORD, "needs a password and a plan_id"),
        (["--login", "bruno", "--plan", "99"], PASSWORD, "plan 99 does not exist"),
        (["--login", "bruno", "--plan", "1"], "", "password must be 1 to 128"),
        (["--login", "bruno", "--plan", "1"], "senha\x1bruim", "U+001B"),
        (["--plan", "1"], PASSWORD, "--password-stdin needs --login"),
    ],
)
def test_bad_access_is_refused_in_one_line(run, db, args, password, message):
    customer = _customer(run)
    run(
        "services", "add", customer, "--name", "Internet", "--login", "ana.silva", "--plan", "1", "--password-stdin",
        input=f"{PASSWORD}\n",
    )  # fmt: skip
    result = run(
        "services", "add", customer, "--name", "Outro", *args, "--password-stdin", input=f"{password}\n", ok=False
    )
    refused(result, message)
    if password and password != PASSWORD:
        assert password not in result.output
    assert count(db, Service) == 1
