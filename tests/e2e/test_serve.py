"""`ativa serve` as a real process on a real port: first start, token printed once, API over HTTP,
and the worker it starts beside itself carries out the effects (the `make run` path)."""

import os
import signal
import time
from pathlib import Path

import httpx

from tests.support import free_port, start_serve, stop_serve, wait_for, wait_healthy, wait_ready


def test_first_start_creates_an_admin_token_once_and_serves_the_api(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    process = start_serve(tmp_path, port, first_log, "--no-worker")
    try:
        wait_healthy(base, process, first_log)
        not_ready = httpx.get(f"{base}/readyz")  # alive, but nothing carries effects out
        assert not_ready.status_code == 503 and "no worker" in not_ready.json()["detail"]
        assert httpx.get(f"{base}/api/v1/customers").status_code == 401
    finally:
        stop_serve(process)
    lines = first_log.read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if "shown only once" in line)
    token = lines[marker + 1].strip()
    assert token.startswith("ativa_")
    user_marker = next(i for i, line in enumerate(lines) if "user 'admin'" in line)
    assert "shown only once" in lines[user_marker]
    admin_password = lines[user_marker + 1].strip()
    assert len(admin_password) >= 12

    process = start_serve(tmp_path, port, second_log)
    try:
        wait_healthy(base, process, second_log)
        ready = wait_ready(base, process, second_log)  # API, worker and scheduler all run
        assert ready["checks"]["workers_alive"] == 1 and ready["checks"]["scheduler_lease_seconds_left"] > 0
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/v1/customers", headers=headers, json={"name": "Dona Rosa", "document": "39053344705"}
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        service = httpx.post(f"{base}/api/v1/customers/{cid}/services", headers=headers, json={"name": "Fibra"})
        assert service.status_code == 201
        moved = httpx.post(
            f"{base}/api/v1/customers/{cid}/inactivate", headers=headers, json={"reason": "customer_request"}
        )
        assert moved.status_code == 200 and moved.json()["customer"]["status"] == "inactive"

        # The worker started by `ativa serve` carries the effects out on the embedded broker.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            effects = httpx.get(f"{base}/api/v1/customers/{cid}/history", headers=headers).json()["items"][0]["effects"]
            if all(e["state"] != "pending" for e in effects):
                break
            time.sleep(0.2)
        assert {e["name"]: e["state"] for e in effects} == {
            "suspend_services": "done",
            "pause_invoicing": "done",
            "notify_billing": "skipped",
        }
        services = httpx.get(f"{base}/api/v1/customers/{cid}/services", headers=headers).json()["items"]
        assert [(s["status"], s["suspension_cause"]) for s in services] == [("suspended", "customer_inactive")]
        customer = httpx.get(f"{base}/api/v1/customers/{cid}", headers=headers).json()
        assert customer["invoicing_enabled"] is False

        # The generated admin password signs in to the web UI served on the same port.
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/entrar").text
            csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
            signed = browser.post(
                "/entrar",
                data={"username": "admin", "password": admin_password, "csrf_token": csrf, "next": f"/clientes/{cid}"},
            )
            assert signed.status_code == 303 and signed.headers["location"] == f"/clientes/{cid}"
            page = browser.get(f"/clientes/{cid}").text
            assert "Dona Rosa" in page and "Suspender serviços: <strong>Concluído</strong>" in page
    finally:
        stop_serve(process)
    second_output = second_log.read_text()
    assert "shown only once" not in second_output
    assert token not in second_output and admin_password not in second_output  # never logged again
    assert (tmp_path / "var" / "ativa.db").exists()


def _children(pid: int) -> dict[str, int]:
    """The processes `ativa serve` started, by role ("worker", "beat"), from /proc."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:  # threads come and go (anyio's idle ones end after 10 s)
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"workflow" in argv and len(argv) > 3:
                found[argv[3].decode()] = int(child)
    return found


def wait_in_log(predicate, what: str, log: Path):
    """A process restart on a busy machine: up to 40 s, with the server's log on timeout."""
    return wait_for(predicate, timeout=40, interval=0.2, what=what, log=log)


def test_serve_starts_its_worker_and_scheduler_again_when_they_die(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    cwd = tmp_path / "elsewhere"  # everything the server writes belongs under ATIVA_DATA_DIR
    cwd.mkdir()
    process = start_serve(
        cwd, port, log, env_extra={"ATIVA_SCHEDULER_LEASE_SECONDS": "2", "ATIVA_DATA_DIR": str(tmp_path / "data")}
    )
    try:
        wait_healthy(base, process, log)
        token = next(line.strip() for line in log.read_text().splitlines() if line.startswith("ativa_"))
        headers = {"Authorization": f"Bearer {token}"}
        first = wait_in_log(
            lambda: (lambda c: c if {"worker", "beat"} <= set(c) else None)(_children(process.pid)),
            "worker and scheduler started",
            log,
        )
        wait_in_log(lambda: "holds the lease" in log.read_text(), "the scheduler taking the lease", log)

        os.kill(first["worker"], signal.SIGKILL)
        os.kill(first["beat"], signal.SIGKILL)
        wait_in_log(
            lambda: "the worker exited with code -9; starting it again in 1 s" in log.read_text(),
            "the worker's restart announced",
            log,
        )
        wait_in_log(
            lambda: "the scheduler exited with code -9" in log.read_text(), "the scheduler's restart announced", log
        )
        wait_in_log(
            lambda: (
                lambda c: (
                    c
                    if {"worker", "beat"} <= set(c) and c["worker"] != first["worker"] and c["beat"] != first["beat"]
                    else None
                )
            )(_children(process.pid)),
            "new worker and scheduler processes",
            log,
        )
        # The new scheduler takes the lease once the killed one's has run out.
        wait_in_log(lambda: log.read_text().count("holds the lease") >= 2, "the new scheduler's lease", log)
        assert process.poll() is None  # the API never went down
        wait_ready(base, process, log)

        # The new worker carries out effects.
        cid = httpx.post(
            f"{base}/api/v1/customers", headers=headers, json={"name": "Seu Jorge", "document": "39053344705"}
        ).json()["id"]
        httpx.post(f"{base}/api/v1/customers/{cid}/services", headers=headers, json={"name": "Fibra"})
        moved = httpx.post(
            f"{base}/api/v1/customers/{cid}/inactivate", headers=headers, json={"reason": "customer_request"}
        )
        assert moved.status_code == 200, moved.text

        def settled():
            effects = httpx.get(f"{base}/api/v1/customers/{cid}/history", headers=headers).json()["items"][0]["effects"]
            return all(e["state"] != "pending" for e in effects) and effects

        effects = wait_in_log(settled, "the effects carried out by the new worker", log)
        assert {e["name"]: e["state"] for e in effects}["suspend_services"] == "done"
    finally:
        stop_serve(process)  # asserts the new worker and scheduler stopped with it
    assert list(cwd.iterdir()) == []  # the embedded broker's control folder included
    assert (tmp_path / "data" / "broker" / "control").is_dir()
    output = log.read_text()
    assert "celery@" in output and "No hostname was supplied" not in output  # workers started, quietly
