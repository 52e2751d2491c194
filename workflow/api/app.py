"""The FastAPI application."""

from collections.abc import Callable

from fastapi import FastAPI, Request
from sqlalchemy import text

from ..db.engine import Database
from ..services import readiness
from ..settings import Settings, get_settings
from .. import web
from . import billing, customers, delinquency, docs, effects, metrics, problems, services, tokens
from .body_limit import BodyLimit
from .reconnect import RetryOnLostConnection


def create_app(settings: Settings | None = None, db: Database | None = None,
               lifespan: Callable | None = None) -> FastAPI:
    settings = settings or get_settings()
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
    problems.install(app)
    app.add_middleware(RetryOnLostConnection)  # inside BodyLimit, which bounds what it keeps
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request):
        # Reports the database too: a process that cannot reach it should leave the rotation.
        try:
            with request.app.state.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception:
            return problems.problem_response(
                problems.problem_body("database_unavailable", "the database is unreachable", status=503)
            )
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {
        "description": "part of the pipeline does not run (problem+json `not_ready`, with `checks`)",
        "content": {"application/problem+json": {}}}})
    def readyz(request: Request):
        # The whole pipeline, not this process: /healthz is the liveness probe (restart me);
        # this one says whether effects are carried out (alert, or hold traffic back).
        state = readiness.check(request.app.state.db, request.app.state.settings)
        if not state.ready:
            return problems.problem_response(problems.problem_body(
                "not_ready", "; ".join(state.problems), status=503, checks=state.details()))
        return {"status": "ready", "checks": state.details()}

    app.include_router(customers.router)
    app.include_router(services.router)
    app.include_router(tokens.router)
    app.include_router(effects.router)
    app.include_router(metrics.router)
    app.include_router(billing.router)
    app.include_router(delinquency.router)
    app.include_router(docs.router)
    web.install(app)  # the operator UI at /
    return app
