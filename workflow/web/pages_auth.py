"""Entrar and Sair."""

import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from ..domain import limits
from ..usecases import users
from .auth import (
    SESSION_COOKIE,
    WebUser,
    check_csrf,
    check_login_csrf,
    clear_cookies,
    new_login_csrf,
    safe_next,
    set_login_csrf_cookie,
    set_session_cookie,
    signed_in_user,
)
from .rendering import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("ativa.web")


def _login_page(
    request: Request, next_path: str, *, error: str | None = None, username: str = "", status_code: int = 200
):
    token = new_login_csrf()
    response = render(
        request, "login.html", status_code, csrf_token=token, next=safe_next(next_path), error=error, username=username
    )
    set_login_csrf_cookie(request, response, token)
    return response


@router.get("/entrar")
def login_form(request: Request, next: str = "/clientes"):
    return _login_page(request, next)


@router.post("/entrar")
def login(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=1000),
    csrf_token: str = Form(""),
    next: str = Form("/clientes"),
):
    if not check_login_csrf(request, csrf_token):
        return _login_page(
            request, next, username=username, status_code=403, error="O formulário expirou. Digite a senha de novo."
        )
    if limits.forbidden_character(username):  # no user has one: refused before the database
        return _login_page(
            request,
            next,
            username=username,
            status_code=422,
            error="O usuário digitado tem um caractere de controle, que nenhum nome de usuário tem. Digite-o de novo.",
        )
    settings = request.app.state.settings
    address = request.client.host if request.client else None
    with request.app.state.db.write() as session:
        attempt = users.sign_in(
            session,
            username,
            password,
            address,
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
        )
        token = users.open_session(session, attempt.user, settings.session_hours) if attempt.user else None
    if attempt.locked_for:
        minutes = max(1, round(attempt.locked_for / 60))
        log.warning("web sign-in throttled for user %r from %s", username[:64], address)
        return _login_page(
            request,
            next,
            username=username,
            status_code=429,
            error=f"Muitas tentativas sem sucesso. Tente de novo em {minutes} min.",
        )
    if token is None:
        log.info("web sign-in failed for user %r from %s", username[:64], address)
        return _login_page(request, next, username=username, status_code=401, error="Usuário ou senha incorretos.")
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/sair")
def logout(request: Request, csrf_token: str = Form(""), user: WebUser = Depends(signed_in_user)):
    check_csrf(user, csrf_token)
    with request.app.state.db.write() as session:
        users.close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/entrar", status_code=303)
    clear_cookies(response)
    return response


@router.get("/")
def home(user: WebUser = Depends(signed_in_user)):
    return RedirectResponse("/painel", status_code=303)
