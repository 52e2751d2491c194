"""What the tests of the web UI's server-side rules share: the users' password, and signing in,
creating and editing a customer through the forms, CSRF token included."""

import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

from tests.support import ATIVA, serving_api

PASSWORD = "senha-forte-123"


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username, password=PASSWORD):
    form = client.get("/entrar")
    return client.post(
        "/entrar",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text), "next": "/clientes"},
    )


def signed_in(client, username):
    response = sign_in(client, username)
    assert response.status_code == 303 and response.headers["location"] == "/clientes", response.text
    return client


def new_customer(client, **fields) -> int:
    page = client.get("/clientes/novo")
    data = {
        "name": "Maria Souza",
        "document": "529.982.247-25",
        "email": "maria@exemplo.com.br",
        "phone": "(11) 99999-0000",
        "external_ref": "C-1",
        "csrf_token": csrf_of(page.text),
        **fields,
    }
    response = client.post("/clientes/novo", data=data)
    assert response.status_code == 303, response.text
    return int(re.search(r"/clientes/(\d+)", response.headers["location"]).group(1))


def edit(client, customer_id, **fields):
    page = client.get(f"/clientes/{customer_id}/editar")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    data = {
        "name": "Maria Souza",
        "document": "52998224725",
        "email": "",
        "phone": "",
        "external_ref": "C-1",
        "ativo": "sim",
        "motivo": "",
        "observacao": "",
        "csrf_token": csrf_of(page.text),
        "version": version,
        **fields,
    }
    return client.post(f"/clientes/{customer_id}/editar", data=data)


@contextmanager
def serving(database_url: str, folder: Path, username: str, role: str, password: str, env: dict | None = None):
    """`ativa serve --no-worker` on `database_url` with one web user, for a real browser; its base URL."""
    env = {"ATIVA_DATABASE_URL": database_url, **(env or {})}
    created = subprocess.run(
        [str(ATIVA), "users", "create", "--username", username, "--role", role, "--password-stdin"],
        input=password + "\n",
        env={k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")} | env,
        cwd=folder,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    with serving_api(folder, env) as base:
        yield base
