"""Refuse oversized bodies before anything parses them."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_body, problem_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None):
        """`larger`: exact paths allowed more (a bulk job's list of up to 100,000 customers)."""
        self.app, self.max_bytes, self.larger = app, max_bytes, larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            return await self._refuse(scope, receive, send, max_bytes)

        # Chunked bodies carry no length: read them fully (up to the limit), then replay.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                return await self._refuse(scope, receive, send, max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem_response(
            problem_body("payload_too_large", f"request bodies are limited to {max_bytes} bytes")
        )
        await response(scope, receive, send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app a body already read, then whatever comes next (disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
