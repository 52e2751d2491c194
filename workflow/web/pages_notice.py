"""Aviso: the public page the router sends a customer at the notice stage to. No sign-in: the
visitor is whoever holds the connection's address (see usecases/notice_page.py), so the page
shows only what its holder may see, and its one action affects only that address's customer."""

import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..usecases import notice_page
from ..usecases.business_day import provider_today
from .client_address import client_address
from .rate_limit import rate_key
from .rendering import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("ativa.web")
NOTICE_HEADERS = {"X-Robots-Tag": "noindex, nofollow"}  # with rendering.PAGE_HEADERS (no-store and the rest)

NEUTRAL = ("Nenhum aviso para esta conexão", "Não há nenhum aviso de cobrança para esta conexão.")


def _page(request: Request, status: int = 200, *, kind: str, title: str, tone: str = "success", **context) -> Response:
    settings = request.app.state.settings
    response = render(
        request,
        "notice.html",
        status,
        kind=kind,
        title=title,
        tone=tone,
        payment_text=settings.notice_payment_text,
        payment_url=settings.notice_payment_url,
        **context,
    )
    response.headers.update(NOTICE_HEADERS)
    return response


def is_notice_path(path: str) -> bool:
    return path == "/aviso" or path.startswith("/aviso/")


def notice_error_page(request: Request, status: int) -> Response:
    """errors.py's pages on the notice page's path: in the visitor's words, without the UI's links."""
    return _page(
        request,
        status,
        kind="error",
        tone="error",
        title="Não foi possível atender ao pedido",
        message="Algo impediu esta página de responder agora. Tente de novo em instantes.",
    )


def _neutral(request: Request) -> Response:
    title, message = NEUTRAL
    return _page(request, kind="neutral", title=title, message=message)


def _misdirected(request: Request) -> Response:
    """Another Host than ATIVA_NOTICE_HOSTS: the neutral page with 421 Misdirected Request, so no
    notice is read and nothing is done under a name that is not the provider's."""
    title, message = NEUTRAL
    return _page(request, 421, kind="neutral", title=title, message=message)


def _throttled(request: Request, key: str) -> Response | None:
    wait = request.app.state.notice_buckets.take(key)
    if not wait:
        return None
    response = _page(
        request,
        429,
        kind="throttled",
        tone="error",
        title="Muitas tentativas",
        message=f"Muitos acessos desta conexão em pouco tempo. Aguarde {wait} segundo(s) e recarregue a página.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _visitor(request: Request):
    """The visitor's address (None: cannot be told) and the key its requests are counted by."""
    address = client_address(request, request.app.state.settings)
    peer = request.client.host if request.client else "?"
    return address, rate_key(address) if address is not None else f"peer:{peer}"


def _host_of(value: str) -> str:
    return value.strip().lower().removesuffix(".")


def _our_hosts(request: Request) -> frozenset[str]:
    """The hosts the page may be reached under: ATIVA_NOTICE_HOSTS, else (unset) the request's own."""
    hosts = request.app.state.settings.notice_host_names
    return hosts or frozenset({_host_of(request.headers.get("host", ""))} - {""})


def _right_host(request: Request) -> bool:
    """With ATIVA_NOTICE_HOSTS, a request under another Host is not ours to answer: a page of an
    attacker's name rebound to this address (DNS rebinding) must not read or press the notice."""
    hosts = request.app.state.settings.notice_host_names
    return not hosts or _host_of(request.headers.get("host", "")) in hosts


def _same_origin(request: Request) -> bool:
    """A browser's POST names the page it came from: it must be one of ours (a page elsewhere must
    not press the button for the visitor). Without Origin and Referer, nothing to compare."""
    hosts = _our_hosts(request)
    for name in ("origin", "referer"):
        value = request.headers.get(name)
        if value is None:
            continue
        try:
            netloc = urlsplit(value.strip()).netloc
        except ValueError:
            return False
        return _host_of(netloc) in hosts
    return True


@router.api_route("/aviso", methods=["GET", "HEAD"])  # HEAD: link checkers and captive-portal probes
def notice(request: Request):
    if not _right_host(request):
        return _misdirected(request)
    address, key = _visitor(request)
    throttled = _throttled(request, key)
    if throttled:
        return throttled
    settings = request.app.state.settings
    with request.app.state.db.read() as session:
        found = notice_page.notice_for(session, settings, address, provider_today(settings.timezone))
    if found is None:
        return _neutral(request)
    return _page(request, kind="notice", title="Aviso de pagamento em aberto", notice=found)


@router.post("/aviso")
def continue_browsing(request: Request):
    if not _right_host(request):
        return _misdirected(request)
    address, key = _visitor(request)
    throttled = _throttled(request, key)
    if throttled:
        return throttled
    if not _same_origin(request):
        return _page(
            request,
            403,
            kind="forbidden",
            tone="error",
            title="Pedido recusado",
            message="Este pedido não veio da página de aviso. Abra a página de aviso e use o botão de lá.",
        )
    settings = request.app.state.settings
    outcome = notice_page.acknowledge(request.app.state.db, settings, address, provider_today(settings.timezone))
    if outcome is None:
        return _neutral(request)
    if not outcome.done:
        log.info("notice page: acknowledgement from %s refused (%s)", address, outcome.refusal)
        title, message = (
            ("Aviso já confirmado", "Este aviso já foi confirmado: nada mais precisa ser feito aqui.")
            if outcome.already
            else ("Nenhum aviso a confirmar", "Esta conexão não tem aviso a confirmar agora.")
        )
        return _page(request, 409, kind="refused", tone="warning", title=title, message=message)
    hours = settings.notice_snooze_hours
    return _page(
        request,
        kind="done",
        title="Aviso confirmado",
        message="Sua conexão será reiniciada em instantes… Depois disso, você pode continuar navegando "
        f"normalmente. Se as faturas continuarem em aberto, o aviso volta em {hours} hora(s).",
    )
