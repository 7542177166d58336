"""``retailcore relay``: publish the event log to NATS JetStream, or report how far behind it is.

Runs until stopped (SIGINT, SIGTERM: the batch under way is finished or dropped, never half
committed), starting again after the broker or the database went away; ``--once`` publishes what is
due and exits; ``--status`` only reads the lag. A backlog shows a progress bar on stderr.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from retailcore.adapters.jetstream import PublishFailed
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.errors import CANNOT_RUN, fail
from retailcore.entrypoints.cli.errors import runtime as _runtime
from retailcore.entrypoints.relaying import relay_config, relay_loop, relay_once
from retailcore.eventlog.relay import RelayLag, RelayProgress, relay_lag

err = Console(stderr=True, soft_wrap=True)
NO_SERVER_HINT = "is nats-server running, with JetStream (nats-server -js)?"

COLUMNS = [
    output.key("name"),
    output.key("position"),
    output.key("head"),
    output.key("behind"),
    output.key("oldest_unpublished_at", "oldest unpublished", blank="-"),
    output.key("age_seconds", "age (s)", blank="-"),
    output.key("published", drop=1),
    output.key("duplicates", drop=1),
    output.key("updated_at", "updated", drop=2, blank="never"),
]


def _row(lag: RelayLag) -> list[object]:
    age = None if lag.age_seconds is None else round(lag.age_seconds, 1)
    return [
        lag.name,
        lag.position,
        lag.head,
        lag.behind,
        lag.oldest_unpublished_at,
        age,
        lag.published,
        lag.duplicates,
        lag.updated_at,
    ]


def relay(
    once: Annotated[bool, typer.Option("--once", help="Publish what is due, then exit.")] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Only show how far behind the log the relay is, and exit.")
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(help="The relay's name (its position row); RETAILCORE_RELAY_NAME by default."),
    ] = None,
    nats_url: Annotated[
        str | None, typer.Option("--nats-url", help="The NATS server; RETAILCORE_NATS_URL by default.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, max=100_000, help="Events per batch (default 2000).")
    ] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Publish every event of the log to NATS JetStream, in order, at least once (docs/integrations.md)."""
    runtime = _runtime()
    settings = runtime.settings
    relay_name = name or settings.relay_name
    if status:
        with runtime.session_factory() as session:
            lag = relay_lag(session, relay_name)
        output.emit(output.Listing(f"relay {relay_name}", COLUMNS, [_row(lag)]), output_format)
        return
    if nats_url:
        settings = settings.model_copy(update={"nats_url": nats_url})
        runtime = type(runtime)(settings, runtime.engine, runtime.session_factory)
    if not settings.nats_url:
        raise fail(
            "no NATS server to publish to",
            hint="set RETAILCORE_NATS_URL (nats://127.0.0.1:4222) or pass --nats-url",
            exit_code=CANNOT_RUN,
        )
    config = relay_config(settings, relay_name, batch_size)
    with runtime.session_factory() as session:
        backlog = relay_lag(session, relay_name).behind
    progress = output.progress_bar(err, disable=backlog == 0)
    task = progress.add_task(f"publishing to {settings.nats_stream}", total=backlog)

    def on_batch(done: RelayProgress) -> None:
        progress.update(task, completed=min(done.published, backlog))
        if done.published >= backlog and progress.live.is_started:
            progress.stop()

    if once:
        with progress:
            try:
                done = asyncio.run(relay_once(runtime, config, on_batch))
            except PublishFailed as error:
                raise fail(str(error), hint=NO_SERVER_HINT, exit_code=CANNOT_RUN) from None
        output.console().print(
            f"published {done.published} events ({done.duplicates} already in the stream);"
            f" relay {relay_name} at position {done.position}"
        )
        return

    async def forever() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await relay_loop(runtime, config, stop, on_batch)

    output.console().print(
        f"relay {relay_name}: publishing to {settings.nats_url}, stream {settings.nats_stream}"
    )
    with progress:
        asyncio.run(forever())
