"""``retailcore stock``: the valuation at a date and the agreement check with the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retailcore.core.decimals import canonical
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.inventory import valuation as v

app = typer.Typer(help="Stock: valuation and the agreement check with the ledger.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

AsOfOption = Annotated[
    dt.datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Date (default: today).")
]


def _as_of(value: dt.datetime | None) -> dt.date:
    return value.date() if value else dt.date.today()


@app.command("check")
def check(company: CompanyOption = None, as_of: AsOfOption = None) -> None:
    """Compare the stock valuation with the ledger's stock accounts; exit 1 if they differ."""
    runtime = bootstrap()
    try:
        with runtime.session_factory() as session:
            result = v.check_agreement(session, company_named(session, company).id, _as_of(as_of))
    except RetailcoreError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    table = Table(title=f"Stock valuation against the ledger at {result.as_of.isoformat()}")
    for column in ("account role", "stock valuation", "ledger balance", "awaiting posting", "difference"):
        table.add_column(column, justify="left" if column == "account role" else "right")
    for role in result.roles:
        table.add_row(
            role.role,
            canonical(role.stock_value),
            canonical(role.ledger_balance),
            canonical(role.awaiting_posting),
            canonical(role.difference),
        )
    out.print(table)
    if not result.agrees:
        err.print("[bold red]the stock valuation and the ledger disagree[/]")
        raise typer.Exit(1)
    out.print("stock valuation and ledger agree")


@app.command("valuation")
def valuation(company: CompanyOption = None, as_of: AsOfOption = None) -> None:
    """Quantity and value per product and location at a date."""
    runtime = bootstrap()
    try:
        with runtime.session_factory() as session:
            result = v.stock_valuation(session, company_named(session, company).id, _as_of(as_of))
    except RetailcoreError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    table = Table(title=f"Stock valuation at {result.as_of.isoformat()}")
    for column in ("sku", "category", "location", "quantity", "value"):
        table.add_column(column, justify="right" if column in ("quantity", "value") else "left")
    for row in result.rows:
        table.add_row(
            row.sku, row.product_category, row.location_code, canonical(row.quantity), canonical(row.value)
        )
    table.add_row("total", "", "", canonical(result.total_quantity), canonical(result.total_value))
    out.print(table)
