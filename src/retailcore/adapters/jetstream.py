"""Publishing to a NATS JetStream stream (the outbox relay's broker; decision 0027).

``nats-py`` is imported only when a publisher connects, so the product runs, and its tests pass,
without a NATS server or with the client missing: nothing here runs unless ``RETAILCORE_NATS_URL`` is
set or ``retailcore relay`` is asked to.

A batch is published with asynchronous acknowledgements (every message sent before the first ack is
awaited), then every ack is awaited, within ``ack_timeout`` seconds for the whole batch. Any error, a
refused message, a missing ack or a timeout raises :class:`PublishFailed`: the relay then commits
nothing and sends the batch again, and the stream's duplicate window drops what it had already stored
(``Nats-Msg-Id``). Every message carries ``Nats-Expected-Stream``, so a subject some other stream
captures is refused rather than stored elsewhere.

A cluster (docs/scaling.md, "NATS cluster"; decision 0087): ``url`` may name several servers,
comma-separated; the client connects to one and moves to another when it goes away. A batch under way
when the connection drops fails at once (its acks may have gone with the server) rather than at the
ack timeout, and is sent again, deduplicated, once the client is connected elsewhere. ``replicas``, when
set, is the stream's replica count, given to a new stream and set on an existing one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    connect_timeout_seconds: float = 5.0  # float-ok: a duration
    replicas: int | None = None
    """The stream's replicas (1 to 5, at most the cluster's servers); None leaves them to the operator."""

    @property
    def subjects(self) -> str:
        return f"{self.subject_prefix}.>"

    @property
    def servers(self) -> list[str]:
        """``url``'s servers: ``nats://a:4222,nats://b:4222`` is two (nats-py takes a list, not that)."""
        return [server.strip() for server in self.url.split(",") if server.strip()]


@dataclass
class _Batch:
    """The acknowledgements a batch is waiting for."""

    size: int
    acked: set[int] = field(default_factory=set)
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class JetStreamPublisher:
    """Connects, creates or updates the stream, and publishes batches (see the module's docstring)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._nc: Any = None
        self._js: Any = None
        self._inbox = ""
        self._batch = 0
        self._batches: dict[int, _Batch] = {}

    async def connect(self) -> None:
        import nats  # optional at import time: only a relay needs it
        from nats.errors import NoServersError

        try:
            self._nc = await nats.connect(
                self.settings.servers,
                connect_timeout=self.settings.connect_timeout_seconds,
                # A few quick attempts, then fail: the first connection too (nats-py retries it for
                # ever when unbounded), so a relay with no server says so instead of hanging; the
                # relay's own loop connects again later.
                allow_reconnect=True,
                max_reconnect_attempts=RECONNECT_ATTEMPTS,
                reconnect_time_wait=0.5,
                name="retailcore-relay",
                disconnected_cb=self._on_disconnected,
            )
        except (NoServersError, OSError, TimeoutError) as error:
            raise PublishFailed(f"cannot reach NATS at {self.settings.url}: {error}") from error
        self._js = self._nc.jetstream()
        await self.ensure_stream()
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.>", cb=self._on_ack, pending_msgs_limit=1_000_000)

    async def _on_disconnected(self) -> None:
        for batch in self._batches.values():
            if not batch.done.is_set():
                batch.errors.append("the connection to the NATS server was lost before every ack came")
                batch.done.set()

    async def ensure_stream(self) -> None:
        """Create the stream when missing; add the relay's subjects and set the duplicate window (and the
        replicas, when configured) on one that exists (its other settings, such as limits, are the
        operator's)."""
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        window = self.settings.duplicate_window_seconds
        replicas = self.settings.replicas
        try:
            info = await self._js.stream_info(self.settings.stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self.settings.stream,
                    subjects=[self.settings.subjects],
                    duplicate_window=window,
                    description="retailcore's event log (retailcore relay)",
                    num_replicas=replicas or 1,
                )
            )
            return
        config = info.config
        subjects = list(config.subjects or [])
        if (
            self.settings.subjects not in subjects
            or int(config.duplicate_window or 0) != window
            or (replicas and config.num_replicas != replicas)
        ):
            if self.settings.subjects not in subjects:
                subjects.append(self.settings.subjects)
            config.subjects = subjects
            config.duplicate_window = window
            if replicas:
                config.num_replicas = replicas
            await self._js.update_stream(config)

    async def publish(self, messages: Sequence[Outgoing]) -> int:
        """Send every message with a reply subject of this batch's own, then wait for all the acks.

        JetStream's acknowledgement is a reply to the published message: one subscription on
        ``<inbox>.<batch>.*`` receives them all. nats-py's own ``publish_async`` does the same with a
        future and a timed semaphore wait per message, which cost more than the rest of the relay;
        here a message costs one ``publish`` on the connection's buffer and one parsed reply."""
        from nats.errors import Error as NatsError

        if not messages:
            return 0
        self._batch += 1
        batch = _Batch(len(messages))
        self._batches = {self._batch: batch}  # late acks of an earlier, failed batch are ignored
        reply = f"{self._inbox}.{self._batch}."
        stream_header = {"Nats-Expected-Stream": self.settings.stream}
        try:
            for index, message in enumerate(messages):
                await self._nc.publish(
                    message.subject,
                    message.data,
                    reply=f"{reply}{index}",
                    headers={**message.headers, **stream_header},
                )
            await asyncio.wait_for(batch.done.wait(), self.settings.ack_timeout_seconds)
        except (NatsError, TimeoutError, OSError) as error:
            raise PublishFailed(f"the batch was not acknowledged: {type(error).__name__}: {error}") from error
        if batch.errors:
            raise PublishFailed(f"{len(batch.errors)} messages refused, the first: {batch.errors[0]}")
        return batch.duplicates

    async def _on_ack(self, msg: Any) -> None:
        _, _, tail = msg.subject.rpartition(self._inbox + ".")
        number, _, index = tail.partition(".")
        batch = self._batches.get(int(number)) if number.isdigit() else None
        if batch is None or not index.isdigit() or int(index) in batch.acked:
            return
        data = msg.data
        if data.startswith(b'{"stream":') and b'"error"' not in data and b'"duplicate"' not in data:
            ack: dict[str, Any] = {}  # the usual ack ({"stream":"S", "seq":7}), not parsed
        else:
            try:
                ack = json.loads(data)
            except ValueError:
                ack = {"error": {"description": f"not an acknowledgement: {data[:100]!r}"}}
        if msg.headers and msg.headers.get("Status") == "503":
            ack = {"error": {"description": "no stream captures the subject (503 no responders)"}}
        batch.acked.add(int(index))
        if "error" in ack:
            batch.errors.append(str(ack["error"].get("description", ack["error"])))
        elif ack.get("duplicate"):
            batch.duplicates += 1
        if len(batch.acked) == batch.size:
            batch.done.set()

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None
