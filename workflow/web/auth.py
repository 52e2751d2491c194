"""Who is using the UI: the session cookie, CSRF tokens and roles, all checked on the server."""

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from ..domain.vocabulary import Role
from ..usecases import users
from ..usecases.transitions import Actor

SESSION_COOKIE = "ativa_session"
# Before sign-in there is no session to hold the CSRF token: a double-submit cookie protects the
# login form instead (a forged cross-site POST cannot read or set it).
LOGIN_CSRF_COOKIE = "ativa_login_csrf"
EDIT_ROLES = (Role.ADMIN, Role.OPERATOR)


@dataclass(frozen=True)
class WebUser:
    id: int
    username: str
    role: Role
    csrf_token: str
    session_token: str

    @property
    def can_edit(self) -> bool:
        return self.role in EDIT_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> Actor:
        return Actor(name=f"user:{self.username}", role=self.role)


class LoginRequired(Exception):
    """Raised by `signed_in_user`; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class Forbidden(Exception):
    """A signed-in user without the role, or a form without a valid CSRF token."""

    def __init__(self, message: str):
        self.message = message


def signed_in_user(request: Request) -> WebUser:
    token = request.cookies.get(SESSION_COOKIE)
    with request.app.state.db.read() as session:
        found = users.resolve_session(session, token)
        if found is None or token is None:  # (a session is found only for a token)
            raise LoginRequired(request.url.path)
        return WebUser(found.user.id, found.user.username, Role(found.user.role), found.session.csrf_token, token)


def editor(request: Request) -> WebUser:
    user = signed_in_user(request)
    if not user.can_edit:
        raise Forbidden("Seu perfil é de consulta: você pode ver, mas não alterar.")
    return user


def exporter(request: Request) -> WebUser:
    """The customer list's export carries CPF/CNPJ, e-mail and phone of every match (LGPD): for
    those who keep the register, not for a read-only profile."""
    user = signed_in_user(request)
    if not user.can_edit:
        raise Forbidden("Seu perfil é de consulta: a exportação de clientes é só para operadores e administradores.")
    return user


def admin(request: Request) -> WebUser:
    user = signed_in_user(request)
    if not user.is_admin:
        raise Forbidden("Esta página é só para administradores.")
    return user


def _same_token(submitted: str, expected: str) -> bool:
    # Bytes: compare_digest refuses a str with non-ASCII characters (a forged token) with a TypeError.
    return hmac.compare_digest(submitted.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def check_csrf(user: WebUser, submitted: str | UploadFile | None) -> None:
    if not isinstance(submitted, str) or not submitted or not _same_token(submitted, user.csrf_token):
        raise Forbidden(
            "O formulário expirou ou não veio desta tela (proteção CSRF). Recarregue a página e tente de novo."
        )


def check_login_csrf(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and submitted and _same_token(submitted, expected))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def _cookie_options(request: Request) -> dict:
    return {"httponly": True, "samesite": "lax", "path": "/", "secure": request.app.state.settings.cookie_secure}


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    max_age = int(request.app.state.settings.session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, **_cookie_options(request))


def set_login_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **{**_cookie_options(request), "samesite": "strict"})


def clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def safe_next(path: str | None) -> str:
    """Only a path on this site: `next=https://evil.example` must not redirect away."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/clientes"
    return path


def login_url(next_path: str) -> str:
    return f"/entrar?next={quote(safe_next(next_path))}"
