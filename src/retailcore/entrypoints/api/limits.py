"""Bounds on what one request may ask of the server, checked before the request is read at length.

The body size is checked at the edge, as an ASGI middleware: a declared ``Content-Length`` above the
limit is answered 413 without reading a byte of the body, and a body sent without one (chunked) is
counted while it is read and refused as soon as it passes the limit. Nothing behind it runs, so
nothing is parsed, validated or written.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retailcore.entrypoints.api.problems import EdgeProblem, send_problem


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send less at a time (see docs/api.md, Limits)"


class BodySizeLimit:
    """413 for a request body larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send, declared.isdigit())
            return
        limit, received = self.max_bytes, 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised where the body is read; FastAPI passes HTTP exceptions on, and the
                    # app's handler answers it as a problem document.
                    raise EdgeProblem(413, "payload-too-large", _too_large(limit))
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send, well_formed: bool) -> None:
        if well_formed:
            await send_problem(
                send,
                413,
                "payload-too-large",
                _too_large(self.max_bytes),
                scope["path"],
                [("Connection", "close")],
            )
        else:
            await send_problem(
                send, 400, "bad-content-length", "the Content-Length header is not a number", scope["path"]
            )
