"""``retailcore anomalies scan``: score a company's cashier and store days for leaks in discounts and
returns, store the scan, raise the alerts as exceptions and print them with their explanations
(decision 0075). Runs as the system principal, one transaction; exit 1 on an expected failure."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.analytics.anomalies import services as detector
from retailcore.analytics.anomalies.tables import AnomalyRow
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.eventlog.services import CommandContext

app = typer.Typer(help="Anomaly detection on discounts and returns.", no_args_is_help=True)

STEPS = ("features", "score", "store", "done")
COLUMNS = [
    output.key("score"),
    output.key("kind", drop=3),
    output.key("store"),
    output.key("cashier"),
    output.key("day"),
    output.amount("amount_at_risk", "at risk", drop=2),
    output.text("explanation", "why: feature value (z, peer median)"),
]


@app.command("scan")
def scan(
    company: CompanyOption = None,
    first: Annotated[
        dt.date | None, date_option("--from", help="First local day (default: 30 days to --to).")
    ] = None,
    last: Annotated[dt.date | None, date_option("--to", help="Last local day (default: yesterday).")] = None,
    limit: int = typer.Option(
        20, "--limit", min=0, help="Alerts listed in the summary (highest score first)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Scan cashier x store x day (and store x day) rows, store the scan and raise one exception per alert."""
    runtime = errors.runtime()
    err = output.console(stderr=True)
    out = output.console()
    progress = output.progress_bar(err, disable=quiet)
    try:
        with progress, transaction(runtime.session_factory) as session:
            task = progress.add_task("anomalies: features", total=len(STEPS))

            def step(label: str) -> None:
                progress.update(task, completed=STEPS.index(label) + 1, description=f"anomalies: {label}")

            target = company_named(session, company)
            ctx = CommandContext(system_principal("cli"))
            found = detector.scan(session, ctx, target, first, last, step)
            alerts = session.scalars(
                select(AnomalyRow)
                .where(AnomalyRow.scan_id == found.id, AnomalyRow.flagged.is_(True))
                .order_by(AnomalyRow.score.desc(), AnomalyRow.id)
                .limit(limit)
            ).all()
            rows = [
                [
                    str(row.score.quantize(detector.CENT / 100)),
                    row.kind,
                    row.store_code,
                    row.cashier or "(store)",
                    row.day.isoformat(),
                    str(row.amount_at_risk.quantize(detector.CENT)),
                    detector.describe(row.explanation),
                ]
                for row in alerts
            ]
            summary = (
                f"{target.code}: scan {found.id} of {found.date_from}..{found.date_to}: {found.rows} rows,"
                f" {found.flagged} flagged (threshold {found.threshold})"
            )
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(summary)
    output.print_table(out, output.Listing("alerts, highest score first", COLUMNS, rows, empty="no alerts"))
