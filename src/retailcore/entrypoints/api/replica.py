"""Read-your-writes with a read replica (decision 0086): every successful change answers the primary's
position after it, ``RC-Min-LSN``, as a header and a cookie; routed reads that send it back wait for a
replica that has replayed past it, or go to the primary (:func:`.deps.min_position`)."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retailcore.adapters.replica import ReadRouting, format_lsn
from retailcore.entrypoints.api.deps import MIN_LSN

log = logging.getLogger("retailcore.replica")

READS = frozenset({"GET", "HEAD", "OPTIONS"})

COOKIE_SECONDS = 60
"""How long a browser keeps sending its last write's position. A replica within the staleness bound
has replayed a write that old already, so the cookie need not outlive the bound by much."""


class WrittenPosition:
    """Adds ``RC-Min-LSN`` to the answers of changes (not GET, HEAD, OPTIONS; status below 400: a
    refused change wrote nothing) while the application routes reads to a replica; otherwise it only
    passes requests on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        routing: ReadRouting | None = getattr(scope["app"].state, "read_routing", None)
        if routing is None:
            await self.app(scope, receive, send)
            return

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                # The response starts after the change committed: the position now is past it.
                try:
                    position = await run_in_threadpool(routing.written_position)
                except Exception as exc:  # the change is done; its answer must go out regardless
                    log.warning("could not read the primary's WAL position after a change: %s", exc)
                    position = None
                if position is not None:
                    lsn = format_lsn(position)
                    headers = MutableHeaders(scope=message)
                    headers.append(MIN_LSN, lsn)
                    secure = "; Secure" if scope.get("scheme") == "https" else ""
                    headers.append(
                        "set-cookie",
                        f"{MIN_LSN}={lsn}; Max-Age={COOKIE_SECONDS}; Path=/; SameSite=Lax; HttpOnly{secure}",
                    )
            await send(message)

        await self.app(scope, receive, answer)
