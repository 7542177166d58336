"""Running the outbox relay: ``retailcore relay``, and a thread of ``retailcore serve`` (decision 0027).

:func:`relay_loop` connects a :class:`~retailcore.adapters.jetstream.JetStreamPublisher` from the
settings, runs a :class:`~retailcore.eventlog.relay.Relay` and, when the broker goes away or a batch is
not acknowledged, waits and starts again from the committed position (the duplicate window drops what
the failed batch had stored). ``retailcore serve`` runs it on a thread with its own event loop
(:func:`relaying`), only when ``RETAILCORE_NATS_URL`` is set, and stops it with the application.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from retailcore.adapters.jetstream import JetStreamPublisher, PublishFailed, StreamSettings
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.settings import Settings
from retailcore.eventlog.relay import Relay, RelayConfig, RelayProgress

log = logging.getLogger("retailcore.relay")

RETRY_SECONDS = 2.0
STOP_WAIT_SECONDS = 30.0


def stream_settings(settings: Settings) -> StreamSettings:
    if not settings.nats_url:
        raise ValueError("RETAILCORE_NATS_URL is not set")
    return StreamSettings(
        url=settings.nats_url,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
        duplicate_window_seconds=settings.nats_duplicate_window_seconds,
        ack_timeout_seconds=settings.nats_ack_timeout_seconds,
        replicas=settings.nats_replicas,
    )


def relay_config(settings: Settings, name: str | None = None, batch_size: int | None = None) -> RelayConfig:
    return RelayConfig(
        name=name or settings.relay_name,
        subject_prefix=settings.nats_subject_prefix,
        batch_size=batch_size or settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
    )


async def relay_once(
    runtime: Runtime,
    config: RelayConfig,
    on_batch: Callable[[RelayProgress], object] | None = None,
) -> RelayProgress:
    """Publish everything due, then return (``retailcore relay --once``); a failure raises."""
    publisher = JetStreamPublisher(stream_settings(runtime.settings))
    await publisher.connect()
    try:
        return await Relay(runtime.session_factory, publisher, config).run(once=True, on_batch=on_batch)
    finally:
        await publisher.close()


async def relay_loop(
    runtime: Runtime,
    config: RelayConfig,
    stop: asyncio.Event,
    on_batch: Callable[[RelayProgress], object] | None = None,
) -> None:
    """Publish until ``stop`` is set, starting again from the committed position after any failure."""
    while not stop.is_set():
        publisher = JetStreamPublisher(stream_settings(runtime.settings))
        try:
            await publisher.connect()
            await Relay(runtime.session_factory, publisher, config).run(stop, on_batch=on_batch)
        except PublishFailed as error:
            log.warning("relay %s: %s; trying again in %.0f s", config.name, error, RETRY_SECONDS)
        except Exception:  # the database went away, or a bug: log it, do not stop relaying for good
            log.exception("relay %s failed; trying again in %.0f s", config.name, RETRY_SECONDS)
        finally:
            try:
                await publisher.close()
            except Exception:  # closing a broken connection
                log.debug("closing the NATS connection failed", exc_info=True)
        if not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)


class RelayThread:
    """:func:`relay_loop` on a daemon thread with its own event loop, until :meth:`stop`."""

    def __init__(self, runtime: Runtime, config: RelayConfig) -> None:
        self._runtime = runtime
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retailcore-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(STOP_WAIT_SECONDS)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await relay_loop(self._runtime, self._config, self._stop)

        asyncio.run(main())

    def stop(self) -> None:
        """Ask the relay to stop after the batch under way (committed or not) and wait for it."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_WAIT_SECONDS)
        if self._thread.is_alive():
            log.warning("the relay is still publishing after %.0f s; leaving it behind", STOP_WAIT_SECONDS)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


@contextmanager
def relaying(runtime: Runtime) -> Iterator[RelayThread | None]:
    """Run a :class:`RelayThread` while inside, when NATS is configured and ``relay_in_serve`` is on."""
    settings = runtime.settings
    if not settings.nats_url or not settings.relay_in_serve:
        yield None
        return
    thread = RelayThread(runtime, relay_config(settings))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
