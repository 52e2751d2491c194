"""Per-process resources of a worker: the database and the HTTP client, rebuilt after a fork."""

import httpx

from workflow.db.engine import Database
from workflow.settings import get_settings

_db: Database | None = None
_http: httpx.Client | None = None


def db() -> Database:
    global _db
    if _db is None:
        _db = Database(get_settings().resolved_database_url)
    return _db


def http() -> httpx.Client:
    global _http
    if _http is None:
        _http = httpx.Client(timeout=get_settings().webhook_timeout_seconds)
    return _http


def reset() -> None:
    global _db, _http
    if _db is not None:
        _db.engine.dispose(close=False)  # leave the parent's connections alone
    _db = None
    _http = None
