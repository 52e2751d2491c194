"""The application: where the entry points are put together, and the only place that knows them all.

One HTTP app serves the REST API (workflow.api) and the operator UI (workflow.web) side by side,
with the OpenAPI document that either's sign-in opens (docs.py). Both hand work to the workers
through the use-case layer's ports (effect_bus, sweep_dispatch), which `connect_workers` fills with
the Celery implementations. `ativa serve`, `ativa worker`, `ativa beat` and the tests start here.
"""

from collections.abc import Callable

from fastapi import FastAPI

from .. import api, web
from ..api import problems
from ..api.body_limit import BodyLimit
from ..api.reconnect import RetryOnLostConnection
from ..db.engine import Database
from ..settings import Settings, get_settings
from . import docs


def create_app(
    settings: Settings | None = None, db: Database | None = None, lifespan: Callable | None = None
) -> FastAPI:
    settings = settings or get_settings()
    connect_workers()  # what the API and the UI hand over (effects, sweep batches) reaches them
    app = FastAPI(
        lifespan=lifespan,
        title="Ativa",
        version="0.1.0",
        # Served by `docs` instead, behind authentication.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        description="Customer lifecycle (Ativo/Inativo) for internet providers. "
        "Every API route but /healthz and /readyz needs `Authorization: Bearer <token>`; the operator UI at / "
        "uses a sign-in session instead. This document needs either.",
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.resolved_database_url)
    problems.install(app)  # problem+json on the API's paths, the Portuguese error page on the UI's
    app.add_middleware(RetryOnLostConnection)  # inside BodyLimit, which bounds what it keeps
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        # A bulk job's list (the API's JSON, the UI's uploaded CSV); a batch of billing events.
        larger={
            "/api/v1/bulk-jobs": settings.bulk_max_body_bytes,
            "/lotes/novo": settings.bulk_max_body_bytes,
            "/api/v1/billing/events/batch": settings.billing_batch_max_body_bytes,
        },
    )
    api.install(app)
    app.include_router(docs.router)
    web.install(app)  # the operator UI at /
    return app


def connect_workers() -> None:
    """Install the Celery side of the use-case layer's ports in this process (again, if a test
    or benchmark replaced it). Importing the Celery app reads the settings: done on first use."""
    from workers.app import install_adapters

    install_adapters()


def celery_app():
    """The Celery app that `ativa worker` and `ativa beat` run."""
    from workers.app import app

    return app
