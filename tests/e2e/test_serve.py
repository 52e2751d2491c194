"""`ativa serve` as a real process on a real port: first start, token printed once, API over HTTP,
and the worker it starts beside itself carries out the effects (the `make run` path)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ATIVA = Path(sys.executable).with_name("ativa")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cwd: Path, port: int, log: Path, *extra: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(env_extra or {})
    with log.open("a") as out:
        # Its own session, so the test can reap the worker child too whatever happens.
        return subprocess.Popen(
            [str(ATIVA), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("ativa serve did not become healthy")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server alone: it must stop its worker itself."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    finally:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.2)
        leftover = _group_alive(process.pid)
        if leftover:
            os.killpg(process.pid, signal.SIGKILL)
        assert not leftover, "the worker outlived `ativa serve`"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_first_start_creates_an_admin_token_once_and_serves_the_api(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    process = start(tmp_path, port, first_log, "--no-worker")
    try:
        wait_healthy(base, process, first_log)
        assert httpx.get(f"{base}/api/v1/customers").status_code == 401
    finally:
        stop(process)
    lines = first_log.read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if "shown only once" in line)
    token = lines[marker + 1].strip()
    assert token.startswith("ativa_")
    user_marker = next(i for i, line in enumerate(lines) if "user 'admin'" in line)
    assert "shown only once" in lines[user_marker]
    admin_password = lines[user_marker + 1].strip()
    assert len(admin_password) >= 12

    process = start(tmp_path, port, second_log)
    try:
        wait_healthy(base, process, second_log)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/v1/customers", headers=headers,
                             json={"name": "Dona Rosa", "document": "39053344705"})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        service = httpx.post(f"{base}/api/v1/customers/{cid}/services", headers=headers, json={"name": "Fibra"})
        assert service.status_code == 201
        moved = httpx.post(f"{base}/api/v1/customers/{cid}/inactivate", headers=headers,
                           json={"reason": "customer_request"})
        assert moved.status_code == 200 and moved.json()["customer"]["status"] == "inactive"

        # The worker started by `ativa serve` carries the effects out on the embedded broker.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            effects = httpx.get(f"{base}/api/v1/customers/{cid}/history", headers=headers).json()["items"][0]["effects"]
            if all(e["state"] != "pending" for e in effects):
                break
            time.sleep(0.2)
        assert {e["name"]: e["state"] for e in effects} == {
            "suspend_services": "done", "pause_invoicing": "done", "notify_billing": "skipped",
        }
        services = httpx.get(f"{base}/api/v1/customers/{cid}/services", headers=headers).json()["items"]
        assert [(s["status"], s["suspension_cause"]) for s in services] == [("suspended", "customer_inactive")]
        customer = httpx.get(f"{base}/api/v1/customers/{cid}", headers=headers).json()
        assert customer["invoicing_enabled"] is False

        # The generated admin password signs in to the web UI served on the same port.
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/entrar").text
            csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
            signed = browser.post("/entrar", data={"username": "admin", "password": admin_password,
                                                   "csrf_token": csrf, "next": f"/clientes/{cid}"})
            assert signed.status_code == 303 and signed.headers["location"] == f"/clientes/{cid}"
            page = browser.get(f"/clientes/{cid}").text
            assert "Dona Rosa" in page and "Suspender serviços: <strong>Concluído</strong>" in page
    finally:
        stop(process)
    second_output = second_log.read_text()
    assert "shown only once" not in second_output
    assert token not in second_output and admin_password not in second_output  # never logged again
    assert (tmp_path / "var" / "ativa.db").exists()
