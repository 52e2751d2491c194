"""Fixtures of the tests that run real processes: a loopback webhook receiver, the test brokers and
the stack (API server, workers) on the embedded default or on Redis and PostgreSQL."""

import os
import shutil

import pytest
import redis as redis_client

from tests.conftest import service_missing
from tests.pipeline import Stack, WebhookReceiver

# Overridable so two checkouts can run the suite at once without sharing queues.
REDIS_URL = os.environ.get("ATIVA_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url():
    try:
        client = redis_client.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
    except redis_client.ConnectionError as error:
        service_missing("Redis", error)
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def rabbitmq_url():
    from kombu import Connection

    url = "amqp://guest:guest@127.0.0.1:5672//"
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
            with connection.channel() as channel:
                channel.queue_delete("ativa")  # no leftovers from an earlier run
    except Exception as error:  # noqa: BLE001 - any connection failure means no RabbitMQ
        service_missing("RabbitMQ", error)
    return url


@pytest.fixture(params=["embedded-sqlite", "redis-postgresql"])
def stack_factory(request, tmp_path, receiver, sqlite_template):
    """Builds a Stack on the embedded default (SQLite + folder broker) or on Redis + PostgreSQL."""
    stacks = []

    def build(**settings) -> Stack:
        if request.param == "embedded-sqlite":
            path = tmp_path / "ativa.db"
            if not path.exists():
                shutil.copy(sqlite_template, path)
            url, broker = f"sqlite:///{path}", None
        else:
            url = request.getfixturevalue("postgres_url")
            broker = settings.pop("broker_url", None) or request.getfixturevalue(
                "rabbitmq_url" if request.param.startswith("rabbitmq") else "redis_url"
            )
            request.getfixturevalue("pg_db")  # truncated tables
        stack = Stack(tmp_path, url, broker, receiver, **settings)
        stacks.append(stack)
        return stack

    build.kind = request.param
    yield build
    for stack in stacks:
        stack.close()
