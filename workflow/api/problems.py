"""RFC 9457 problem+json for every error, each with a machine `code`."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ..domain.errors import AtivaError, GuardFailed
from ..usecases.sweep_dispatch import NoDispatcher

MEDIA_TYPE = "application/problem+json"
# Machine paths answer problem+json; every other path is the operator's UI, which answers with a
# page in Portuguese (app.state.ui_error_page, installed by the UI).
MACHINE_PATHS = ("/api", "/openapi.json", "/docs", "/healthz", "/readyz", "/metrics")

STATUS_BY_CODE = {
    "validation_error": 422,
    "not_found": 404,
    "duplicate_document": 409,
    "duplicate_external_ref": 409,
    "transition_not_allowed": 409,
    "guard_failed": 409,
    "stale_version": 409,
    "unknown_status": 409,
    "customer_inactive": 409,
    "duplicate_login": 422,
    "duplicate_name": 422,
    "in_use": 409,
    "conflict": 409,
    "idempotency_key_reused": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "payload_too_large": 413,
    "method_not_allowed": 405,
    "internal_error": 500,
    "workers_unavailable": 503,
}


class ApiProblem(Exception):
    """An error born in the API layer itself (auth, roles, idempotency)."""

    def __init__(self, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.code, self.detail, self.headers = code, detail, headers


def problem_body(code: str, detail: str, status: int | None = None, **extra: Any) -> dict:
    status = status or STATUS_BY_CODE.get(code, 400)
    return {
        "type": f"urn:ativa:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=MEDIA_TYPE, headers=headers)


def body_for_error(error: AtivaError) -> dict:
    extra: dict[str, Any] = {"rule": error.rule} if isinstance(error, GuardFailed) else {}
    extra.update(getattr(error, "extra", {}))  # what a refusal names (a bulk job's offending entries)
    return problem_body(error.code, error.detail, **extra)


def ui_error_page(request: Request, status: int, headers: dict[str, str] | None = None) -> Response | None:
    """The UI's error page for a path of the UI; None for the API's paths (or without a UI)."""
    render = getattr(request.app.state, "ui_error_page", None)
    if render is None or request.url.path.startswith(MACHINE_PATHS):
        return None
    return render(request, status, headers)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The methods some route answers on this path (FastAPI gives each method a route of its own;
    Starlette's 405 would name one route's). Mounted static files answer GET and HEAD only."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(allowed or ("GET", "HEAD"))


def framework_headers(request: Request, error: StarletteHTTPException) -> dict[str, str]:
    """The exception's headers, and on a 405 the `Allow` list of the path's methods."""
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return headers


def framework_problem(error: StarletteHTTPException, headers: dict[str, str]) -> JSONResponse:
    """An HTTPException raised by Starlette or FastAPI themselves, as a problem."""
    if error.status_code == 400:  # FastAPI could not parse the body (not UTF-8, say)
        return problem_response(problem_body("validation_error", "body: cannot be parsed; send UTF-8 JSON"))
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
        error.status_code, "http_error"
    )
    return problem_response(problem_body(code, str(error.detail), status=error.status_code), headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(AtivaError)
    async def _domain(_request: Request, error: AtivaError):
        return problem_response(body_for_error(error))

    @app.exception_handler(ApiProblem)
    async def _api(_request: Request, error: ApiProblem):
        return problem_response(problem_body(error.code, error.detail), error.headers)

    @app.exception_handler(NoDispatcher)
    async def _no_workers(request: Request, _error: NoDispatcher):
        # A run asked of a process started without workers: nothing was changed, try again later.
        if (page := ui_error_page(request, 503)) is not None:
            return page
        return problem_response(problem_body("workers_unavailable", "no worker is connected: nothing was run"))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError):
        # In the UI only an address can be invalid: a bad id in the path is a page that does not exist.
        in_path = any(e.get("loc", ("",))[0] == "path" for e in error.errors())
        if (page := ui_error_page(request, 404 if in_path else 400)) is not None:
            return page
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in error.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem_response(problem_body("validation_error", detail or "invalid request", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        headers = framework_headers(request, error)
        if (page := ui_error_page(request, error.status_code, headers or None)) is not None:
            return page
        return framework_problem(error, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _error: Exception):
        # Never leak internals (or secrets in them); the server log has the traceback.
        if (page := ui_error_page(request, 500)) is not None:
            return page
        return problem_response(problem_body("internal_error", "unexpected server error"))
