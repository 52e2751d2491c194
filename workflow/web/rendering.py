"""Jinja2 templates and the filters that write dates, money and documents the Brazilian way."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates

from ..domain import brazilian
from . import freeze_panel, labels
from .effect_notes import effect_detail
from .forms import format_document

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Every page: never from a cache (after logout, on "back"); everything it loads comes from this
# server, nothing inline runs, nothing frames it. Set here rather than by a middleware, which would
# cost every API request too.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _local(value: datetime | str | None, request: Request) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(request.app.state.settings.timezone))


def render(request: Request, template: str, status_code: int = 200, **context):
    def when(value) -> str:
        local = _local(value, request)
        return local.strftime("%d/%m/%Y %H:%M:%S") if local else "—"

    context.setdefault("user", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "labels": labels,
            "when": when,
            "money": brazilian.money,
            "day": brazilian.day,
            "effect_detail": lambda effect: effect_detail(effect, labels.actor_label),
            "document": format_document,
            # Called by the layout only (base.html): partials and error pages read nothing.
            "freeze_banner": lambda: freeze_panel.banner(request),
            "freeze_banner_reason": lambda frozen: freeze_panel.reason_words(
                frozen, request.app.state.settings.payment_silence_hours
            ),
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
