"""A request that lost its database connection before it changed anything is run once more, on a
fresh connection, and the client never sees the fault (see workflow/db/reconnect.py for when that
is safe)."""

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db import reconnect
from .body_limit import replaying
from .problems import problem_body, problem_response, ui_error_page

log = logging.getLogger(__name__)


class RetryOnLostConnection:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = await _whole_body(receive)  # kept for a second run (BodyLimit bounds its size)
        answered = False

        async def send_tracked(message: Message) -> None:
            nonlocal answered
            answered = True
            await send(message)

        for attempt in (1, 2):
            with reconnect.tracking() as units:
                try:
                    return await self.app(scope, replaying(body, receive), send_tracked)
                except Exception as error:
                    if answered or not reconnect.lost_connection(error):
                        raise
                    if attempt == 2 or not units.repeatable:
                        # A COMMIT cut off may or may not have gone through: say so, never guess.
                        log.warning(
                            "%s %s lost its database connection %s",
                            scope["method"],
                            scope["path"],
                            "again" if units.repeatable else "while committing",
                        )
                        return await _outcome_unknown(scope, receive, send)
            log.warning(
                "%s %s lost its database connection before committing; running it again", scope["method"], scope["path"]
            )


async def _outcome_unknown(scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"Retry-After": "1"}
    response = ui_error_page(Request(scope), 503, headers) or problem_response(
        problem_body(
            "database_unavailable",
            "the database connection was lost; whether the change was saved is "
            "unknown: read it back, or send the request again with the same Idempotency-Key",
            status=503,
        ),
        headers,
    )
    await response(scope, receive, send)


async def _whole_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
