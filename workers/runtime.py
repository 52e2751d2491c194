"""Per-process resources of a worker: the database, the HTTP client and the threads that make
webhook calls at once, rebuilt after a fork."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from workflow.db.engine import Database
from workflow.settings import Settings, get_settings

_db: Database | None = None
_http: httpx.Client | None = None
_callers: ThreadPoolExecutor | None = None
# The caller threads ask for the client at once: one of them builds it (an SSL context each costs
# tens of milliseconds of CPU).
_building = threading.Lock()


def db() -> Database:
    global _db
    if _db is None:
        _db = Database(get_settings().resolved_database_url)
    return _db


def calls_at_once(settings: Settings) -> int:
    """Webhook calls this process may have in flight: each task's own (a threads pool runs
    several tasks in one process), so a call never waits for a thread or a connection and
    outlasts its claim (effects.calls.outlasts_a_call)."""
    tasks = settings.worker_concurrency if settings.worker_pool == "threads" else 1
    return settings.webhook_concurrency * tasks


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
        with _building:
            if _http is None:
                settings = get_settings()
                at_once = calls_at_once(settings)
                _http = _WebhookClient(
                    timeout=settings.webhook_timeout_seconds,
                    limits=httpx.Limits(max_connections=at_once, max_keepalive_connections=at_once),
                )
    return _http


def callers() -> ThreadPoolExecutor:
    """The threads that make the webhook calls of a message at once (httpx.Client is thread-safe)."""
    global _callers
    if _callers is None:
        with _building:
            if _callers is None:
                at_once = calls_at_once(get_settings())
                _callers = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="webhook")
    return _callers


def reset() -> None:
    global _db, _http, _callers, _building
    if _db is not None:
        _db.engine.dispose(close=False)  # leave the parent's connections alone
    _db = None
    _http = None
    _callers = None  # its threads did not cross the fork
    _building = threading.Lock()  # nor did whoever held it
