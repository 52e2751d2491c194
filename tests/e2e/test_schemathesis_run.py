"""A bounded schemathesis run against a real `ativa serve`, on SQLite and on PostgreSQL.

Every operation of the OpenAPI document, every check (plus `error_is_problem_json` from
schemathesis_hooks.py), a fixed seed and an example budget that keeps both databases to a couple
of minutes. A few rows are seeded first and offered to the generator as path and query ids, so
requests reach real customers, services, effects and tokens, not only 404s. The only request kept
out is the run revoking its own token (the hooks turn it into revoking a spare one).

On failure the message is schemathesis' own report: the operation, the check, and a curl command
that reproduces the request (the token is filtered out of it).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import update

from tests.conftest import VALID_CNPJ, VALID_CPFS
from tests.pipeline import BILLING_SECRET
from tests.support import Process, free_port, wait_for
from workflow.db.models import OutboxEffect
from workflow.usecases.tokens import create_token

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ROOT = Path(__file__).resolve().parents[2]
SEED = 20261130
# Per operation and phase: both databases take about two minutes together on two cores (the whole
# suite must stay well under CI's 15 minutes; the hostile-input tests cover each field by hand).
MAX_EXAMPLES = 150
HOOKS = "tests.e2e.schemathesis_hooks"


# Schema-valid requests these operations refuse with 422 for a rule no schema can state; the check
# that valid data is accepted stays on for them, with 422 one more acceptable answer.
BUSINESS_RULE_422 = {
    "GET /api/v1/customers": "the cursor must be one the API returned",
    "POST /api/v1/customers": "CPF/CNPJ check digits, e-mail and phone rules",
    "PATCH /api/v1/customers/{customer_id}": "the same field rules, and status changes need a known reason",
    "POST /api/v1/customers/{customer_id}/return-date": "the return date at most a year ahead (one not after "
    "today is the machine's guard: 409)",
    "POST /api/v1/billing/events": "the customer must exist; the amount a decimal with two places; "
    "dates within ten years of today",
    "GET /api/v1/delinquency/preview": "as_of within ten years of today",
    "POST /api/v1/customers/{customer_id}/services": "a login is unique in any case and needs a password and a "
    "plan; the plan must exist and not be retired",
    "PATCH /api/v1/services/{service_id}": "something to change; the plan must exist and not be retired; a "
    "password needs a login",
    "POST /api/v1/plans": "names unique in any letter case",
    "PATCH /api/v1/plans/{plan_id}": "something to change; names unique in any letter case",
    "POST /api/v1/nas": "the address an IP address; name and address unique",
    "PATCH /api/v1/nas/{router_id}": "something to change; the address an IP address; name and address unique",
    "POST /api/v1/delinquency/run": "as_of within ten years of today",
    "POST /api/v1/bulk-jobs": "one of customers, filter or preset; the reason goes with the action; every "
    "entry names a customer; a filter matches someone",
    "PUT /api/v1/freeze": "a reason that is not only blanks; until today or later, within ten years",
}


def _toml_list(values) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def _config(ids: dict[str, list[int]], hooks: str) -> str:
    """Seeded ids and valid documents offered to the generator half of the time."""
    lines = [f'hooks = "{hooks}"', "", "[generation]", 'database = "none"', ""]
    for name, values in {**ids, "documents": [*VALID_CPFS, VALID_CNPJ]}.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml_list(values)}", ""]
    lines += [
        "[parameters]",
        '"path.customer_id" = { dictionary = "customer_ids", probability = 0.5 }',
        '"query.customer_id" = { dictionary = "customer_ids", probability = 0.5 }',
        '"path.service_id" = { dictionary = "service_ids", probability = 0.5 }',
        '"path.effect_id" = { dictionary = "effect_ids", probability = 0.5 }',
        '"path.token_id" = { dictionary = "token_ids", probability = 0.5 }',
        '"path.plan_id" = { dictionary = "plan_ids", probability = 0.5 }',
        '"body.plan_id" = { dictionary = "plan_ids", probability = 0.5 }',
        '"path.router_id" = { dictionary = "router_ids", probability = 0.5 }',
        '"body.document" = { dictionary = "documents", probability = 0.5 }',
        "",
    ]
    for operation, rule in BUSINESS_RULE_422.items():
        lines += [
            f"# {rule}",
            "[[operations]]",
            f'include-name = "{operation}"',
            'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]',
            "",
        ]
    return "\n".join(lines)


def _seed(http: httpx.Client, db) -> dict[str, list[int]]:
    """An active customer with a suspended service (with a RADIUS login) and an active one; an
    inactive customer whose effects include a failed one; two plans and a router. Each endpoint then
    has a row it may act on."""

    def post(path: str, body: dict) -> dict:
        response = http.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    customers = [post("/api/v1/customers", {"name": f"Cliente {n}", "document": VALID_CPFS[n]})["id"] for n in (0, 1)]
    plans = [
        post("/api/v1/plans", {"name": name, "download_kbps": rate, "upload_kbps": rate // 2})["id"]
        for name, rate in (("Fibra 300", 300_000), ("Fibra 600", 600_000))
    ]
    routers = [post("/api/v1/nas", {"name": "bng", "address": "10.0.0.1", "secret": "segredo-do-roteador"})["id"]]
    login = {"login": "cliente.0", "password": "senha-do-cliente", "plan_id": plans[0]}
    services = [
        post(f"/api/v1/customers/{customers[0]}/services", {"name": "Fibra 300", **login})["id"],
        post(f"/api/v1/customers/{customers[0]}/services", {"name": "TV"})["id"],
    ]
    post(f"/api/v1/services/{services[0]}/suspend", {"reason": "obra na rua"})
    moved = post(f"/api/v1/customers/{customers[1]}/inactivate", {"reason": "customer_request"})
    effects = [e["id"] for e in moved["transition"]["effects"]]
    with db.write() as session:  # no worker runs here: one effect failed is what a retry needs
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == effects[0])
            .values(state="failed", last_error="the fake billing system said 500")
        )
    return {
        "customer_ids": customers,
        "service_ids": services,
        "effect_ids": effects,
        "plan_ids": plans,
        "router_ids": routers,
    }


def _failures_report(output: str) -> str:
    """The FAILURES section and the summary, without the progress lines before them."""
    start = output.find("=== FAILURES ===")
    return re.sub(r"\n{3,}", "\n\n", output[output.rfind("\n", 0, start) + 1 :] if start >= 0 else output)


def run_schemathesis(db, workdir: Path, *, hooks: str = HOOKS, max_examples: int = MAX_EXAMPLES):
    """Serve the database, seed it, run schemathesis; its finished process."""
    with db.write() as session:
        own, own_plaintext = create_token(session, "schemathesis", "admin")
        spare, _ = create_token(session, "schemathesis-spare", "operator")
        own_id, spare_id = own.id, spare.id
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "ATIVA_DATA_DIR": str(workdir / "var"),
            "ATIVA_DATABASE_URL": db.url,
            "ATIVA_BILLING_INBOUND_SECRET": BILLING_SECRET,
            "ATIVA_ACCESS_LOG": "false",
        }
    )
    server = Process(
        ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)], env, workdir, workdir / "serve.log"
    )
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {own_plaintext}"}, timeout=30)
    try:
        wait_for(lambda: server.alive() and _healthy(http), what="ativa serve")
        ids = _seed(http, db)
        ids["token_ids"] = [spare_id]
        config = workdir / "schemathesis.toml"
        config.write_text(_config(ids, hooks))
        run_env = {
            **env,
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
            "ATIVA_FUZZ_OWN_TOKEN_ID": str(own_id),
            "ATIVA_FUZZ_SPARE_TOKEN_ID": str(spare_id),
            "ATIVA_FUZZ_BILLING_SECRET": BILLING_SECRET,
        }
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {own_plaintext}",
                "--checks",
                "all",
                "--seed",
                str(SEED),
                "--max-examples",
                str(max_examples),
                "--workers",
                "1",
                # /readyz answers 503 not_ready by design here (this server runs no worker nor scheduler);
                # tests/e2e/test_readiness.py holds it to its document instead.
                "--exclude-path",
                "/readyz",
            ],
            cwd=workdir,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # The run kept its token: a run locked out half-way would pass on 401s alone.
        assert http.get("/api/v1/tokens").status_code == 200
    finally:
        http.close()
        server.stop()
    return run


def test_schemathesis_finds_nothing(db, tmp_path):
    run = run_schemathesis(db, tmp_path)
    assert run.returncode == 0, (
        f"schemathesis found problems on {db.engine.dialect.name}:\n{_failures_report(run.stdout)}{run.stderr[-3000:]}"
    )
    # Every operation of the document was selected and tested, but /readyz (left out on purpose).
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
    assert selected, run.stdout[-3000:]
    chosen, total, tested = map(int, selected.groups())
    assert (chosen, tested) == (total - 1, total - 1) and total > 20, run.stdout[-3000:]


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
