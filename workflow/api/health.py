"""/healthz (this process can reach its database) and /readyz (the whole pipeline runs)."""

from fastapi import APIRouter, Request

from ..usecases import readiness
from . import problems

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request):
    # Reports the database too: a process that cannot reach it should leave the rotation.
    if not readiness.database_answers(request.app.state.db):
        return problems.problem_response(
            problems.problem_body("database_unavailable", "the database is unreachable", status=503)
        )
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "part of the pipeline does not run (problem+json `not_ready`, with `checks`)",
            "content": {"application/problem+json": {}},
        }
    },
)
def readyz(request: Request):
    # The whole pipeline, not this process: /healthz is the liveness probe (restart me);
    # this one says whether effects are carried out (alert, or hold traffic back).
    state = readiness.check(request.app.state.db, request.app.state.settings)
    if not state.ready:
        return problems.problem_response(
            problems.problem_body("not_ready", "; ".join(state.problems), status=503, checks=state.details())
        )
    return {"status": "ready", "checks": state.details()}
