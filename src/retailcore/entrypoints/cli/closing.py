"""``retailcore close check|accrue|report|run --period 2026-11``: the period close (decisions 0038, 0041).

``accrue`` posts the period's accruals (goods shipped and not invoiced) and their reversal on the next
period's first day, as ``POST /periods/{period}/accruals`` does; ``report`` prints the close report as
CSV (each check, then the entries it produced).

``check`` prints the checklist (each item's status, figures and what to do) and exits 1 when an item is
red; ``run`` locks the period as ``POST /periods/{period}/close`` does, refused (exit 1, naming the items)
while an item is red or amber and not accepted with ``--accept CODE``.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated

import typer

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.closing import services
from retailcore.closing.commands import figures_text, report_csv
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused
from retailcore.eventlog.services import CommandContext

app = typer.Typer(help="The period close: its checklist, then the lock.", no_args_is_help=True)

PeriodOption = Annotated[str, typer.Option("--period", "-p", help="The month, YYYY-MM.")]
COLUMNS = (
    output.key("code"),
    output.key("status"),
    output.text("figures"),
    output.text("action", "to do"),
)


@app.command("check")
def check(
    period: PeriodOption,
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Compute the period's close checklist; exit 1 when any item is red."""
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            found = services.checklist(session, company_named(session, company), period)
    except RetailcoreError as exc:
        raise refused(exc) from None
    rows = [[i.code, i.status, figures_text(i.figures), i.action or i.reason] for i in found.items]
    listing = output.Listing(found.title(), COLUMNS, rows, summary=found.summary())
    output.emit(listing, output_format, document=found.model_dump(mode="json"))
    if found.red:
        raise fail(f"period {period}: red: {', '.join(found.red)}")


@app.command("accrue")
def accrue(period: PeriodOption, company: CompanyOption = None) -> None:
    """Post the period's missing accruals (shipped, not invoiced) and their reversal next period."""
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            ctx = CommandContext(system_principal("cli:close:accrue"))
            result = services.run_accruals(session, ctx, company_named(session, company), period)
    except RetailcoreError as exc:
        raise refused(exc) from None
    to_accrue = sum((o.to_accrue for o in result.orders), Decimal(0))
    numbers = ", ".join(str(e.number) for e in result.entries)
    if result.posted:
        message = f"period {period}: accrued {len(result.posted)} order(s), entries {numbers}"
    else:
        message = f"period {period}: accruals already current"
    output.console().print(f"{message}; to accrue {to_accrue}", highlight=False)


@app.command("report")
def report(period: PeriodOption, company: CompanyOption = None) -> None:
    """Print the close report as CSV: each check, then the journal entries it produced."""
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            found = services.checklist(session, company_named(session, company), period)
    except RetailcoreError as exc:
        raise refused(exc) from None
    sys.stdout.write(report_csv(found))


@app.command("run")
def run(
    period: PeriodOption,
    accept: Annotated[
        list[str] | None, typer.Option("--accept", help="An amber item's code finance accepts (repeatable).")
    ] = None,
    company: CompanyOption = None,
) -> None:
    """Close the period: move the lock date to its last day, if the checklist allows."""
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            ctx = CommandContext(system_principal("cli:close:run"))
            result = services.run_close(session, ctx, company_named(session, company), period, accept or ())
    except RetailcoreError as exc:
        raise refused(exc) from None
    output.console().print(
        f"period {period} closed: lock date {result.lock_date} (was {result.previous_lock_date})",
        highlight=False,
    )
