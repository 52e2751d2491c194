"""The OpenAPI document and its browsable page, behind the same sign-in as everything else.

FastAPI serves both without authentication by default; here an integrator fetches the document
with a bearer token (any role), and a person signed in to the operator UI opens /docs in the
browser, whose page then fetches the document with the session cookie. The page's Swagger UI
comes from this server (`/static/swagger-ui/`) under the UI's strict CSP, never from a CDN.
Both sign-ins open it, so it belongs to the application rather than to the API or the UI.
"""

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ..api.auth import current_principal
from ..web.auth import LoginRequired, login_url, signed_in_user
from ..web.rendering import render

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
# Operations without a bearer token: the health check, and billing events (signed instead).
PUBLIC_PATHS = ("/healthz", "/readyz", "/api/v1/billing/events")
AUTH_PROBLEMS = {
    "401": {
        "description": "missing, unknown or revoked token (problem+json, WWW-Authenticate: Bearer)",
        "content": {"application/problem+json": {}},
    },
    "403": {
        "description": "the token's role may not do this (problem+json)",
        "content": {"application/problem+json": {}},
    },
}

router = APIRouter(include_in_schema=False)


def _authenticated(request: Request) -> bool:
    """A bearer token when one is sent (a wrong one is a 401, never a fallback to the cookie),
    else an operator session; False when neither is there. Other Authorization schemes (a proxy's
    Basic auth) are not ours: the session decides."""
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        current_principal(request)
        return True
    try:
        signed_in_user(request)
    except LoginRequired:
        return False
    return True


def openapi_with_bearer(app: FastAPI) -> dict:
    """The generated document, with the bearer scheme declared on every operation that needs it,
    so tools (and the page's Authorize button) send the token, and its 401 and 403 answers."""
    if app.openapi_schema is None:
        schema = app.openapi()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token, made by an admin with `ativa tokens create`.",
            },
        }
        for path, operations in schema["paths"].items():
            if path not in PUBLIC_PATHS:
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
                    for status, response in AUTH_PROBLEMS.items():
                        operation.setdefault("responses", {}).setdefault(status, response)
        app.openapi_schema = schema
    return app.openapi_schema


@router.get(OPENAPI_PATH)
def openapi_document(request: Request):
    if not _authenticated(request):
        current_principal(request)  # the usual 401 problem, with WWW-Authenticate
    return JSONResponse(openapi_with_bearer(request.app), headers={"Cache-Control": "no-store"})


@router.get(DOCS_PATH)
def docs_page(request: Request):
    if not _authenticated(request):
        return RedirectResponse(login_url(DOCS_PATH), status_code=303)
    return render(request, "api_docs.html", openapi_url=OPENAPI_PATH)
