"""The operator's web UI (Brazilian Portuguese), served by `ativa serve` at `/`."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from .auth import Forbidden, LoginRequired, login_url
from .errors import error_page
from .pages_auth import router as auth_router
from .pages_bulk import router as bulk_router
from .pages_customers import router as customers_router
from .pages_dashboard import router as dashboard_router
from .pages_delinquency import router as delinquency_router
from .pages_effects import router as effects_router
from .pages_exports import router as exports_router
from .pages_notice import router as notice_router
from .pages_services import router as services_router
from .rate_limit import TokenBuckets
from .rendering import render

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    # Before /static, which would otherwise answer these paths with a 404.
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth_router)
    app.include_router(exports_router)  # before /clientes/{customer_id}, which would take /clientes/exportar.csv
    app.include_router(customers_router)
    app.include_router(dashboard_router)
    app.include_router(services_router)
    app.include_router(delinquency_router)
    app.include_router(bulk_router)
    app.include_router(effects_router)
    app.include_router(notice_router)  # public: the notice page (/aviso)
    app.state.notice_buckets = TokenBuckets(app.state.settings.notice_rate_per_minute)
    app.state.ui_error_page = error_page  # api/problems.py answers the UI's paths with it

    @app.exception_handler(LoginRequired)
    def to_login(request: Request, error: LoginRequired):
        if request.headers.get("hx-request"):  # a poll after the session ended: reload to sign in
            return Response(status_code=401, headers={"HX-Redirect": login_url(error.next_path)})
        return RedirectResponse(login_url(error.next_path), status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, error: Forbidden):
        return render(request, "message.html", 403, title="Acesso negado", message=error.message)
