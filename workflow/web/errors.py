"""Error pages of the UI, in Portuguese, with the UI's layout and security headers (the API's
paths keep answering problem+json: see api/problems.py)."""

from fastapi import Request
from fastapi.responses import Response

from .pages_notice import is_notice_path, notice_error_page
from .rendering import render

PAGES = {
    400: (
        "Endereço inválido",
        "Algum valor no endereço desta página não é válido. Volte e use os links e botões das telas do Ativa.",
    ),
    404: (
        "Página não encontrada",
        "Este endereço não existe no Ativa. Confira o endereço ou volte para a lista de clientes.",
    ),
    405: ("Ação não permitida", "Este endereço não aceita essa ação. Use os botões das telas do Ativa."),
    503: (
        "Conexão com o banco de dados perdida",
        "A conexão com o banco de dados caiu enquanto o pedido era "
        "salvo. Abra o cliente e confira se a alteração foi salva "
        "antes de repetir.",
    ),
    500: (
        "Erro inesperado",
        "Algo deu errado no servidor e nada foi alterado por esta tela. Tente de novo; se continuar, chame o suporte.",
    ),
}


def error_page(request: Request, status: int, headers: dict[str, str] | None = None) -> Response:
    if is_notice_path(request.url.path):  # the public page's visitor is no operator
        response = notice_error_page(request, status)
    else:
        title, message = PAGES.get(status, (f"Erro {status}", "Não foi possível atender ao pedido."))
        response = render(request, "message.html", status, title=title, message=message)
    for name, value in (headers or {}).items():  # e.g. Allow on a 405
        response.headers.setdefault(name, value)
    return response
