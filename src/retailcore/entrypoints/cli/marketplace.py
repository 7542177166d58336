"""``retailcore import marketplace FILE --connector NAME``: a marketplace's order report in.

The file is read with the connector's column mapping (docs/integrations.md, "Marketplace orders");
each order is one message of the connector's sync log, landed once. Exit 0 when the file was read
(whatever became of its orders: the summary says how many landed, were duplicates or failed), 1 when
nothing could be read (no such file or connector, a mapping or a header that does not fit), 2 when the
command cannot run (decision 0022).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from sqlalchemy import select

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.connectors import marketplace
from retailcore.connectors.tables import Connector
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output


def import_marketplace(
    file: Annotated[Path, typer.Argument(help="The marketplace's order report (CSV or JSON).")],
    connector: Annotated[str, typer.Option("--connector", help="The marketplace connector's name.")],
    file_format: Annotated[
        Literal["csv", "json"] | None,
        typer.Option("--format", help="csv or json (default: from the file's extension, else csv)."),
    ] = None,
) -> None:
    """Land a marketplace's orders from its report, once each (re-imports count duplicates)."""
    if not file.is_file():
        raise errors.fail(f"no such file: {file}")
    data = file.read_bytes()
    runtime = errors.runtime()
    out = output.console()
    err = output.console(stderr=True)
    try:
        with transaction(runtime.session_factory) as session:
            row = session.scalar(
                select(Connector).where(Connector.kind == "marketplace", Connector.name == connector)
            )
            if row is None:
                raise errors.fail(
                    f"no marketplace connector named {connector}",
                    hint="create it with POST /api/v1/connectors (kind marketplace)",
                )
            with output.progress_bar(err) as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                summary = marketplace.import_report(
                    session,
                    row,
                    data,
                    file_format=file_format or marketplace.guess_format(file.name),
                    source=file.name,
                    now=utcnow(),
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
    except RetailcoreError as exc:
        raise errors.refused(exc) from None
    out.print(
        f"{summary.orders} orders in {escape(file.name)}: {summary.landed} landed,"
        f" {summary.duplicates} duplicates, {summary.failed} failed",
        highlight=False,
    )
    for failure in summary.failures:
        err.print(
            f"  order {escape(failure['order_id'])} failed (message {failure['message_id']}):"
            f" {escape(failure['error'])}",
            highlight=False,
        )
    if summary.failed:
        err.print(
            "hint: fix the cause, then replay the failed messages (POST /api/v1/connectors/{id}/replay)",
            highlight=False,
        )
