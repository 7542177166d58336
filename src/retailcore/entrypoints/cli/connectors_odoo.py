"""``retailcore connectors sync odoo``: push products, customers and the books to Odoo.

    retailcore connectors sync odoo                               # master data, then every unpushed entry
    retailcore connectors sync odoo --connector odoo-prod --books --period 2026-11
    retailcore connectors sync odoo --master-data

The messages are planned in one transaction (added to the connector's sync log), then sent one per
transaction with a progress bar on stderr: what was sent stays sent if the run stops, and what is left
is sent by the next run (or by ``retailcore serve``'s sweep). A message that fails stays in the sync log
with its error; the command lists the failures and exits 1. A bad period, an unknown connector or
invalid settings print one message and exit 1 before anything is sent.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.connectors import odoo, odoo_sync
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.errors import fail, refused, runtime


def sync_odoo(
    connector: Annotated[
        str | None,
        typer.Option("--connector", metavar="NAME", help="The Odoo connector (needed when several exist)."),
    ] = None,
    master_data: Annotated[bool, typer.Option("--master-data", help="Only products and customers.")] = False,
    books: Annotated[bool, typer.Option("--books", help="Only the books (posted journal entries).")] = False,
    period: Annotated[
        str | None,
        typer.Option("--period", metavar="YYYY-MM", help="Only the books of this month (default: all)."),
    ] = None,
) -> None:
    """Push products, customers and the books to the connector's Odoo database."""
    if master_data and books:
        raise fail("--master-data and --books exclude each other: give one, or neither for both")
    what: odoo_sync.What = "master_data" if master_data else "books" if books else "all"
    err = output.console(stderr=True)
    try:
        if period is not None:
            odoo.parse_period(period)
        factory = runtime().session_factory
        now = utcnow()
        with transaction(factory) as session:
            row = odoo_sync.named(session, connector)
            connector_id, name = row.id, row.name
            ids = odoo_sync.plan(session, row, what, period, now)
        sent: list[SyncMessage] = []
        with output.progress_bar(err) as progress:
            task = progress.add_task(f"Odoo {name}", total=len(ids))
            for message_id in ids:
                with transaction(factory) as session:
                    target = session.get(Connector, connector_id)
                    assert target is not None
                    sent.append(odoo_sync.send(session, target, message_id, utcnow()))
                progress.advance(task)
    except RetailcoreError as exc:
        raise refused(exc) from None
    summary = odoo_sync.summary(sent, planned=sum(1 for m in sent if m.received_at == now))
    out = output.console()
    out.print(
        f"{name}: {summary.planned} new messages, {summary.sent} sent, {summary.processed} processed,"
        f" {summary.failed} failed"
    )
    failed = [m for m in sent if m.status != "processed"]
    if failed:
        for message in failed:
            key = escape(message.external_id or "")
            err.print(f"  {message.topic} {key} ({message.id}): {escape(message.error or '')}")
        raise fail(
            f"{len(failed)} of {len(sent)} messages to Odoo failed",
            hint="fix the cause (the connector's settings, Odoo), then: POST /api/v1/connectors/"
            f"{connector_id}/replay (or run this command again later: failed messages are retried)",
        )


def register(sync_app: typer.Typer) -> None:
    """Add ``odoo`` to ``retailcore connectors sync``."""
    sync_app.command("odoo")(sync_odoo)
