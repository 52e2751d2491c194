"""One-shot messages after a POST/redirect/GET: shown once by the page the redirect opens, gone
on reload. The cookie holds a key, never text, so nothing typed elsewhere can be shown."""

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

FLASH_COOKIE = "ativa_flash"
MESSAGES = {
    "salvo": "Alterações salvas.",
    "criado": "Cliente criado.",
    "servico_adicionado": "Serviço adicionado.",
    "servico_suspenso": "Serviço suspenso.",
    "servico_reativado": "Serviço reativado.",
    "servico_cancelado": "Serviço cancelado.",
    "nova_tentativa": "Nova tentativa pedida: o efeito voltou para Pendente e os workers o executam em instantes.",
}


def redirect_with(request: Request, url: str, key: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        key,
        max_age=60,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.app.state.settings.cookie_secure,
    )
    return response


def pending(request: Request) -> str | None:
    return MESSAGES.get(request.cookies.get(FLASH_COOKIE, ""))


def consume(request: Request, response: Response) -> None:
    """The message was shown: a reload must not show it again."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
