"""REST API (FastAPI): routers, schemas, authentication, problem+json errors."""

from fastapi import FastAPI

from . import (
    billing,
    billing_batch,
    bulk_jobs,
    customers,
    delinquency,
    effects,
    freeze,
    health,
    metrics,
    nas,
    plans,
    services,
    tokens,
)


def install(app: FastAPI) -> None:
    """The API's routes; the application (workflow.application) sets the errors and request guards."""
    for module in (
        health,
        customers,
        services,
        plans,
        nas,
        tokens,
        effects,
        metrics,
        billing,
        billing_batch,
        delinquency,
        bulk_jobs,
        freeze,
    ):
        app.include_router(module.router)
