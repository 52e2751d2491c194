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


class _NoCookies(httpx.Cookies):
    """No cookie is kept: our calls are signed webhooks, never a session."""

    def extract_cookies(self, response: httpx.Response) -> None:
        # httpx runs every response through http.cookiejar, Set-Cookie or not: about a tenth of
        # a webhook call's CPU (bench/payments.py).
        return None


class _WebhookClient(httpx.Client):
    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, _cookies) -> None:
        raise TypeError("the webhook client keeps no cookies")


_NO_COOKIES = _NoCookies()


def http() -> httpx.Client:
    global _http
    if _http is None:
        _http = _WebhookClient(timeout=get_settings().webhook_timeout_seconds)
    return _http


def reset() -> None:
    global _db, _http
    if _db is not None:
        _db.engine.dispose(close=False)  # leave the parent's connections alone
    _db = None
    _http = None
