"""What the browser tests share: Debian's chromium through Playwright, `ativa serve` as a real
process with an operator, a viewer and an admin (Server), screenshots and signing in."""

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import REQUIRE_SERVICES, VALID_CPFS
from tests.support import ATIVA, free_port, start_serve, wait_healthy
from workflow.db.engine import Database
from workflow.usecases.business_day import provider_today

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# The machine is shared with workers and benchmarks: generous waits, never fixed sleeps.
expect.set_options(timeout=15_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))
PASSWORDS = {"maria": "maria-opera-2026", "vitor": "vitor-consulta-2026", "ana": "ana-admin-2026"}
EFFECTS_TIMEOUT_MS = 30_000

if REQUIRE_SERVICES and not Path(CHROMIUM).exists():
    raise RuntimeError(
        f"ATIVA_REQUIRE_SERVICES=1 but there is no browser at {CHROMIUM} (.ci/run installs Debian's chromium)"
    )
# Each browser test module marks itself with it.
NO_BROWSER = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


class Server:
    """`ativa serve` in a folder of its own, plus what the tests seed through the API."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"

    def start(self):
        # No cut on a weekday that is not today, so "Executar inadimplência agora" cuts today.
        other_day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(provider_today().weekday() + 3) % 7]
        self.process = start_serve(self.folder, self.port, self.log, env_extra={"ATIVA_NO_CUT_WEEKDAYS": other_day})
        wait_healthy(self.base, self.process, self.log)
        lines = self.log.read_text().splitlines()
        token_line = next(i for i, line in enumerate(lines) if "admin token" in line)
        self.token = lines[token_line + 1].strip()
        for username, role in (("maria", "operator"), ("vitor", "viewer"), ("ana", "admin")):
            self.cli(
                "users",
                "create",
                "--username",
                username,
                "--role",
                role,
                "--password-stdin",
                stdin=PASSWORDS[username] + "\n",
            )
        self.db = Database(f"sqlite:///{self.folder / 'var' / 'ativa.db'}")
        return self

    def cli(self, *args: str, stdin: str = ""):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
        done = subprocess.run(
            [str(ATIVA), *args], cwd=self.folder, env=env, input=stdin, text=True, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def api(self, method: str, path: str, **kw):
        response = httpx.request(
            method, f"{self.base}{path}", timeout=10, headers={"Authorization": f"Bearer {self.token}"}, **kw
        )
        assert response.status_code < 300, response.text
        return response.json()

    def customer_with_services(self, n: int, name: str, ref: str, document: str | None = None) -> int:
        customer = self.api(
            "POST",
            "/api/v1/customers",
            json={
                "name": name,
                "document": document or VALID_CPFS[n],
                "external_ref": ref,
                "email": f"{ref.lower()}@exemplo.com.br",
            },
        )
        for plan in ("Fibra 500 Mega", "Telefone fixo"):
            self.api("POST", f"/api/v1/customers/{customer['id']}/services", json={"name": plan})
        return customer["id"]


def shot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def sign_in(page, server, username):
    page.goto(f"{server.base}/entrar")
    page.get_by_label("Usuário").fill(username)
    page.get_by_label("Senha").fill(PASSWORDS[username])
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Clientes")).to_be_visible()
