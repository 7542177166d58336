"""The POS inbox at the edge (decision 0084): the problem a refusal stores, and the drainer thread.

``retailcore serve`` (the API's lifespan, :func:`draining`) runs a :class:`Drainer` in every process
when ``pos_inbox_interval_ms`` is above zero. It drains what is pending every interval; a request this
process accepts wakes it at once when it is idle, so a lone sale waits for no interval, and while it is
busy what arrives meanwhile is taken together in the next pass (one ``ingest`` per session for all of
it). Rows accepted by another process (or left by one that stopped) are found by the interval's look.
``retailcore pos drain`` and a session's close drain through :func:`drain_now`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.api.problems import problem_body, status_of
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.pos import inbox

log = logging.getLogger("retailcore.pos.inbox")

STOP_WAIT_SECONDS = 30.0
"""How long shutting down waits for a drain under way to commit."""


def describe(error: BaseException, session_id: uuid.UUID) -> dict[str, Any]:
    """The problem document the synchronous ``sales:batch`` request would have answered for ``error``."""
    instance = f"/api/v1/pos/sessions/{session_id}/sales:batch"
    if isinstance(error, RetailcoreError):
        status = status_of(error)
        return problem_body(status, error.code, error.detail, instance=instance, errors=error.problems)
    return problem_body(
        500, "internal-error", f"the batch could not be posted ({type(error).__name__})", instance=instance
    )


def drain_now(
    factory: sessionmaker[Session], session_id: uuid.UUID | None = None, *, wait: bool = True
) -> inbox.Drained:
    """Drain until nothing is pending (of ``session_id``, when given), waiting for rows other drainers
    hold: a close, or an operator's ``retailcore pos drain``."""
    return inbox.drain(factory, describe, session_id=session_id, wait=wait, until_empty=True)


class Drainer:
    """Drains the POS inbox on a daemon thread: every ``interval`` seconds, and at once when nudged
    while idle; after a pass that posted something, the next waits for the rest of the interval, so
    that what arrives meanwhile is posted together."""

    def __init__(self, factory: sessionmaker[Session], interval: float) -> None:
        self._factory = factory
        self._interval = interval
        self._nudged = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retailcore-pos-inbox", daemon=True)
        self.passes = 0

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """A request was accepted: drain soon."""
        self._nudged.set()

    def stop(self) -> None:
        self._stop.set()
        self._nudged.set()
        self._thread.join(STOP_WAIT_SECONDS)
        if self._thread.is_alive():
            log.warning("the POS inbox drainer is still draining after %.0f s; leaving it", STOP_WAIT_SECONDS)

    def _run(self) -> None:
        while True:
            self._nudged.wait(self._interval)
            if self._stop.is_set():
                return
            self._nudged.clear()
            started = time.monotonic()
            try:
                done = inbox.drain(self._factory, describe)
            except Exception:  # the database away: the rows stay pending, the next pass tries again
                log.exception("draining the POS inbox failed")
                continue
            self.passes += 1
            if done.ingested or done.refused:
                self._stop.wait(max(self._interval - (time.monotonic() - started), 0.0))


@contextmanager
def draining(runtime: Runtime) -> Iterator[Drainer | None]:
    """Run a :class:`Drainer` while inside, when ``settings.pos_inbox_interval_ms`` is above zero."""
    interval = runtime.settings.pos_inbox_interval_ms
    if interval <= 0:
        yield None
        return
    drainer = Drainer(runtime.session_factory, interval / 1000)
    drainer.start()
    try:
        yield drainer
    finally:
        drainer.stop()
