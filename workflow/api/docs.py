"""The OpenAPI document and its browsable page, behind the same sign-in as everything else.

FastAPI serves both without authentication by default; here an integrator fetches the document
with a bearer token (any role), and a person signed in to the operator UI opens /docs in the
browser, whose page then fetches the document with the session cookie.
"""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse

from ..web.auth import LoginRequired, login_url, signed_in_user
from .auth import current_principal

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"

router = APIRouter(include_in_schema=False)


def _authenticated(request: Request) -> bool:
    """A bearer token when one is sent (a wrong one is a 401, never a fallback to the cookie),
    else an operator session; False when neither is there."""
    if request.headers.get("authorization"):
        current_principal(request)
        return True
    try:
        signed_in_user(request)
    except LoginRequired:
        return False
    return True


@router.get(OPENAPI_PATH)
def openapi_document(request: Request):
    if not _authenticated(request):
        current_principal(request)  # the usual 401 problem, with WWW-Authenticate
    return JSONResponse(request.app.openapi())


@router.get(DOCS_PATH)
def docs_page(request: Request):
    if not _authenticated(request):
        return RedirectResponse(login_url(DOCS_PATH), status_code=303)
    return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title="Ativa API")

