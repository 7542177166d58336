"""Publishing to a NATS JetStream stream (the outbox relay's broker; decision 0027).

``nats-py`` is imported only when a publisher connects, so the product runs, and its tests pass,
without a NATS server or with the client missing: nothing here runs unless ``RETAILCORE_NATS_URL`` is
set or ``retailcore relay`` is asked to.

A batch is published with asynchronous acknowledgements (every message sent before the first ack is
awaited, at most ``max_pending`` in flight), then every ack is awaited, within ``ack_timeout`` seconds
for the whole batch. Any error, a missing ack or a timeout raises :class:`PublishFailed`: the relay
then commits nothing and sends the batch again, and the stream's duplicate window drops what it had
already stored (``Nats-Msg-Id``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_STREAM = "RETAILCORE"
DEFAULT_DUPLICATE_WINDOW_SECONDS = 300
RECONNECT_ATTEMPTS = 3


class Outgoing(Protocol):
    subject: str
    data: bytes
    headers: dict[str, str]


class PublishFailed(Exception):
    """A batch was not acknowledged in full: nothing of it may be taken as published."""


@dataclass(frozen=True)
class StreamSettings:
    url: str
    stream: str = DEFAULT_STREAM
    subject_prefix: str = "retailcore"
    duplicate_window_seconds: int = DEFAULT_DUPLICATE_WINDOW_SECONDS
    ack_timeout_seconds: float = 30.0  # float-ok: a duration
    max_pending: int = 4000
    connect_timeout_seconds: float = 5.0  # float-ok: a duration

    @property
    def subjects(self) -> str:
        return f"{self.subject_prefix}.>"


class JetStreamPublisher:
    """Connects, creates or updates the stream, and publishes batches (see the module's docstring)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._nc: Any = None
        self._js: Any = None

    async def connect(self) -> None:
        import nats  # optional at import time: only a relay needs it
        from nats.errors import NoServersError

        try:
            self._nc = await nats.connect(
                self.settings.url,
                connect_timeout=self.settings.connect_timeout_seconds,
                # A few quick attempts, then fail: the first connection too (nats-py retries it for
                # ever when unbounded), so a relay with no server says so instead of hanging; the
                # relay's own loop connects again later.
                allow_reconnect=True,
                max_reconnect_attempts=RECONNECT_ATTEMPTS,
                reconnect_time_wait=0.5,
                name="retailcore-relay",
            )
        except (NoServersError, OSError, TimeoutError) as error:
            raise PublishFailed(f"cannot reach NATS at {self.settings.url}: {error}") from error
        self._js = self._nc.jetstream(publish_async_max_pending=self.settings.max_pending)
        await self.ensure_stream()

    async def ensure_stream(self) -> None:
        """Create the stream when missing; add the relay's subjects and set the duplicate window on one
        that exists (its other settings, such as limits and replicas, are the operator's)."""
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        window = self.settings.duplicate_window_seconds
        try:
            info = await self._js.stream_info(self.settings.stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self.settings.stream,
                    subjects=[self.settings.subjects],
                    duplicate_window=window,
                    description="retailcore's event log (retailcore relay)",
                )
            )
            return
        config = info.config
        subjects = list(config.subjects or [])
        if self.settings.subjects not in subjects or int(config.duplicate_window or 0) != window:
            if self.settings.subjects not in subjects:
                subjects.append(self.settings.subjects)
            config.subjects = subjects
            config.duplicate_window = window
            await self._js.update_stream(config)

    async def publish(self, messages: Sequence[Outgoing]) -> int:
        from nats.errors import Error as NatsError

        try:
            futures = [
                await self._js.publish_async(
                    message.subject,
                    message.data,
                    headers={**message.headers, "Nats-Expected-Stream": self.settings.stream},
                )
                for message in messages
            ]
            acks = await asyncio.wait_for(asyncio.gather(*futures), self.settings.ack_timeout_seconds)
        except (NatsError, TimeoutError, OSError) as error:
            raise PublishFailed(f"the batch was not acknowledged: {type(error).__name__}: {error}") from error
        return sum(1 for ack in acks if ack.duplicate)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None
