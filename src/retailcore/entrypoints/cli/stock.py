"""``retailcore stock``: the valuation at a date and the agreement check with the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused, runtime
from retailcore.entrypoints.cli.options import date_option
from retailcore.inventory import valuation as v

app = typer.Typer(help="Stock: valuation and the agreement check with the ledger.", no_args_is_help=True)

AsOfOption = Annotated[dt.date | None, date_option("--as-of", help="Date (default: today).")]


@app.command("check")
def check(
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Compare the stock valuation with the ledger's stock accounts; exit 1 if they differ."""
    try:
        with runtime().session_factory() as session:
            result = v.check_agreement(session, company_named(session, company).id, as_of or dt.date.today())
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("role", "account role"),
        output.amount("stock_value", "stock valuation"),
        output.amount("ledger_balance"),
        output.amount("awaiting_posting"),
        output.amount("difference"),
    ]
    rows = [
        [role.role, role.stock_value, role.ledger_balance, role.awaiting_posting, role.difference]
        for role in result.roles
    ]
    title = f"Stock valuation against the ledger at {result.as_of.isoformat()}"
    output.emit(output.Listing(title, columns, rows), output_format)
    if not result.agrees:
        raise fail("the stock valuation and the ledger disagree")
    if output_format is output.Format.table:
        output.console().print("stock valuation and ledger agree")


@app.command("valuation")
def valuation(
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Quantity and value per product and location at a date."""
    try:
        with runtime().session_factory() as session:
            result = v.stock_valuation(session, company_named(session, company).id, as_of or dt.date.today())
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("sku"),
        output.text("product_category", "category", drop=1),
        output.key("location_code", "location"),
        output.amount("quantity"),
        output.amount("value"),
    ]
    rows = [
        [row.sku, row.product_category, row.location_code, row.quantity, row.value] for row in result.rows
    ]
    listing = output.Listing(
        f"Stock valuation at {result.as_of.isoformat()}",
        columns,
        rows,
        summary=[("total quantity", result.total_quantity), ("total value", result.total_value)],
        empty=f"no stock at {result.as_of.isoformat()}",
    )
    output.emit(listing, output_format)
