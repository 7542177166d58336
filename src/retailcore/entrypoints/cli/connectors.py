"""``retailcore connectors``: connectors to other systems, synced on demand.

``retailcore connectors sync shopify [--shop DOMAIN] [--stock|--orders] [--full]`` pushes the web
channel's available-to-promise to the shop and pulls the orders its webhooks missed (both unless one is
named), with a progress bar on stderr and a summary on stdout. Exit 0 when everything landed; 1 when
Shopify refused something, the connector is not set up, or a batch or an order failed (each failure
stays in the sync log and is retried); 2 when the shop cannot be reached before anything was sent.
``retailcore connectors sync odoo`` is in :mod:`.connectors_odoo`.
``sync_app`` is the ``sync`` group, for other systems' commands to join.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from retailcore.connectors import services as svc
from retailcore.connectors import shopify_catchup, shopify_stock
from retailcore.connectors.shopify_client import ShopifyError
from retailcore.connectors.tables import Connector
from retailcore.entrypoints.cli import connectors_odoo, output
from retailcore.entrypoints.cli.errors import CANNOT_RUN, REFUSED, fail
from retailcore.entrypoints.cli.errors import runtime as _runtime

app = typer.Typer(help="Connectors to other systems (Shopify, Odoo).", no_args_is_help=True)
sync_app = typer.Typer(help="Sync a connector with its system now.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
connectors_odoo.register(sync_app)  # retailcore connectors sync odoo

err = Console(stderr=True, soft_wrap=True)


def _connector(session, shop: str | None) -> Connector:  # type: ignore[no-untyped-def]
    if shop is not None:
        found = svc.shop(session, shop)
        if found is None:
            raise fail(
                f"no active Shopify connector for {shop}", hint="create one with POST /api/v1/connectors"
            )
        return found
    every = list(
        session.scalars(select(Connector).where(Connector.kind == "shopify", Connector.active.is_(True)))
    )
    if not every:
        raise fail("no Shopify connector", hint="create one with POST /api/v1/connectors")
    if len(every) > 1:
        raise fail(
            f"{len(every)} Shopify shops are connected: name one with --shop",
            hint=", ".join(sorted(c.name for c in every)),
        )
    return every[0]


@sync_app.command("shopify")
def sync_shopify(
    shop: Annotated[str | None, typer.Option("--shop", help="The shop's *.myshopify.com domain.")] = None,
    stock: Annotated[bool, typer.Option("--stock", help="Only push stock.")] = False,
    orders: Annotated[bool, typer.Option("--orders", help="Only pull orders (the catch-up).")] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Stock: every linked product everywhere; orders: every order of the shop."
        ),
    ] = False,
) -> None:
    """Push available-to-promise to a Shopify shop and pull the orders its webhooks missed."""
    if stock and orders:
        raise fail("--stock and --orders exclude each other", hint="name neither to run both")
    runtime = _runtime()
    with runtime.session_factory() as session:
        connector = _connector(session, shop)
        connector_id, name = connector.id, connector.name
    key = runtime.settings.connector_key
    failures: list[str] = []
    console = output.console()
    try:
        if not orders:
            progress = output.progress_bar(err)
            task = progress.add_task(f"stock to {name}", total=None)

            def on_batch(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            with progress:
                report = shopify_stock.push_stock(
                    runtime.session_factory, connector_id, key, full=full, progress=on_batch
                )
            console.print(
                f"stock: {report.sent} quantities set in {report.batches} batches"
                f" ({'full' if report.full else 'changes'} up to event {report.cursor}),"
                f" {report.failed} batches failed, {report.mismatches} mismatches flagged,"
                f" {report.refused} refused, {report.linked} products linked;"
                f" {report.requests} calls, cost {report.cost},"
                f" throttled {report.throttled} times, waited {report.waited_seconds:.1f} s"
            )
            failures += report.messages
        if not stock:
            progress = output.progress_bar(err)
            task = progress.add_task(f"orders from {name}", total=None)
            with progress:
                pulled = shopify_catchup.catch_up(
                    runtime.session_factory,
                    connector_id,
                    key,
                    full=full,
                    progress=lambda n: progress.update(task, completed=n),
                )
            console.print(
                f"orders: {pulled.orders} pulled since {pulled.since or 'the beginning'}:"
                f" {pulled.landed} landed,"
                f" {pulled.updated} brought up to date, {pulled.skipped} already here,"
                f" {pulled.repaired} fulfilments and refunds repaired, {pulled.duplicates} pulled before,"
                f" {pulled.failed} failed; cursor {pulled.cursor}"
            )
            failures += pulled.messages
    except ShopifyError as error:
        raise fail(
            str(error),
            hint="is the shop reachable, and its access token right? nothing was marked as sent",
            exit_code=CANNOT_RUN if error.retryable else REFUSED,
        ) from None
    if failures:
        raise fail(
            f"{len(failures)} failed; they stay in the sync log and are retried (GET"
            f" /api/v1/connectors/{connector_id}/sync-log)",
            hint="; ".join(failures[:5]),
        )
