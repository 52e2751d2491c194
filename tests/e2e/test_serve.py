"""`ativa serve` as a real process on a real port: first start, token printed once, API over HTTP."""

import os
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


def start(cwd: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [str(ATIVA), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_healthy(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("ativa serve did not become healthy")


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_first_start_creates_an_admin_token_once_and_serves_the_api(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start(tmp_path, port)
    try:
        wait_healthy(base, process)
        assert httpx.get(f"{base}/api/v1/customers").status_code == 401
    finally:
        first_output = stop(process)
    lines = first_output.splitlines()
    marker = next(i for i, line in enumerate(lines) if "shown only once" in line)
    token = lines[marker + 1].strip()
    assert token.startswith("ativa_")

    process = start(tmp_path, port)
    try:
        wait_healthy(base, process)
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/v1/customers", headers=headers,
                             json={"name": "Dona Rosa", "document": "39053344705"})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        moved = httpx.post(f"{base}/api/v1/customers/{cid}/inactivate", headers=headers,
                           json={"reason": "customer_request"})
        assert moved.status_code == 200 and moved.json()["customer"]["status"] == "inactive"
        assert "/api/v1/customers" in httpx.get(f"{base}/openapi.json").json()["paths"]
    finally:
        second_output = stop(process)
    assert "shown only once" not in second_output
    assert token not in second_output  # the secret is never logged again
    assert (tmp_path / "var" / "ativa.db").exists()
