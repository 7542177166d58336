"""``retailcore report ...``: the ledger's reports as a table, JSON or CSV on stdout, or as a CSV file.

    retailcore report trial-balance --company ACME --from 2026-11-01 --to 2026-11-30 --by store_id
    retailcore report general-ledger --company ACME --account 1000 --period 2026-11 --csv gl.csv
    retailcore report profit-and-loss --company ACME --period 2026 --by channel
    retailcore report balance-sheet --company ACME --as-of 2026-11-30
    retailcore report tax --company ACME --from 2026-10-01 --to 2026-12-31 --output json
    retailcore report consolidated-trial-balance --group EUROPE --as-of 2026-11-30
    retailcore report intercompany-eliminations --group EUROPE --as-of 2026-11-30 --csv ic.csv
    retailcore report tax-return --company ACME --period 2026-11 --csv return.csv

Expected failures (an unknown company, no such period) print one message on stderr and exit 1; a
malformed date is a usage error (exit 2). ``--output json`` prints the report as the API serves it.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from retailcore.accounting import reports as r
from retailcore.accounting import tax_return as tr
from retailcore.closing.services import period_span
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused, runtime
from retailcore.entrypoints.cli.options import date_option
from retailcore.intercompany import reports as ir
from retailcore.intercompany import services as group_services
from retailcore.masterdata.tables import Company

app = typer.Typer(
    help="Financial reports: a table, JSON or CSV on stdout, or a CSV file.", no_args_is_help=True
)

FromOption = Annotated[dt.date | None, date_option("--from", help="First day.")]
ToOption = Annotated[dt.date | None, date_option("--to", help="Last day, inclusive.")]
PeriodOption = Annotated[
    str | None, typer.Option("--period", help="A period (2026-11) or fiscal year (2026) instead of dates.")
]
CsvOption = Annotated[
    str | None,
    typer.Option("--csv", metavar="FILE", help="Write CSV to FILE ('-' for stdout) instead of --output."),
]

HEADINGS = {"account_code": "code", "account_name": "account", "account_type": "type"}
"""Short table headings where the CSV's column names would take the width the figures need."""
TEXT_COLUMNS = {"account_name", "label", "reference"}
"""Columns that may wrap; every other one (codes, types, dates, amounts) is printed whole."""
DROPPED_FIRST = {"reference": 3, "journal": 2, "kind": 1, "opening_balance": 1}
"""Columns a table too wide for the terminal leaves out, the highest first (see output.layout)."""


@contextmanager
def _reporting(company_ref: str | None) -> Iterator[tuple[Session, Company]]:
    """A read-only session and the company; expected errors become a message and exit status 1."""
    try:
        with runtime().session_factory() as session:
            yield session, company_named(session, company_ref)
    except RetailcoreError as exc:
        # The reports' messages name what is wrong; their field problems would say it again.
        raise refused(exc, problems=False) from None


def _listing(report: r.Report) -> output.Listing:
    header, rows = report.table()
    columns = []
    for i, name in enumerate(header):
        values = [row[i] for row in rows if row[i] not in ("", None)]
        if values and all(isinstance(value, Decimal) for value in values):
            kind: output.Kind = "amount"
        else:
            kind = "text" if name in TEXT_COLUMNS else "key"
        columns.append(output.Column(name, kind, HEADINGS.get(name), DROPPED_FIRST.get(name, 0)))
    return output.Listing(report.title(), columns, rows, summary=report.summary(), empty="no rows")


def _emit(report: r.Report, csv_file: str | None, output_format: output.Format) -> None:
    if csv_file is None and output_format is not output.Format.csv:
        output.emit(_listing(report), output_format, document=report.model_dump(mode="json"))
        return
    text = report.to_csv()  # the API's CSV of the report, to stdout or to a file
    if csv_file in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        Path(csv_file).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {csv_file}: {exc.strerror}") from None
    Console(stderr=True, highlight=False).print(f"wrote {text.count(chr(10)) - 1} rows to {csv_file}")


def _run(
    company_ref: str | None,
    csv_file: str | None,
    output_format: output.Format,
    work: Callable[[Session, Company], r.Report],
) -> None:
    with _reporting(company_ref) as (session, company):
        report = work(session, company)
    _emit(report, csv_file, output_format)


@app.command("trial-balance")
def trial_balance(
    company: CompanyOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    period: PeriodOption = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help=f"Group by dimensions, comma-separated: {', '.join(r.DIMENSIONS)}."),
    ] = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Opening balance, debits, credits and closing balance per account (and dimension values)."""
    _run(
        company,
        csv_file,
        output_format,
        lambda session, found: r.trial_balance(
            session,
            found.id,
            date_from,
            date_to,
            period=period,
            group_by=r.parse_group_by(by),
        ),
    )


@app.command("general-ledger")
def general_ledger(
    account: Annotated[str, typer.Option("--account", "-a", help="Account code or id.")],
    company: CompanyOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    period: PeriodOption = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Every posted line of one account in the period, with its running balance."""

    def work(session: Session, found: Company) -> r.Report:
        account_id = r.resolve_account(session, found.id, account).id
        first = page = r.general_ledger(session, found.id, account_id, date_from, date_to, period=period)
        lines: list[Any] = list(first.lines)
        # Page by page through the keyset, so a busy account never needs one huge query.
        while page.next_cursor:
            page = r.general_ledger(
                session, found.id, account_id, date_from, date_to, period=period, cursor=page.next_cursor
            )
            lines += page.lines
        return first.model_copy(update={"lines": lines, "next_cursor": None})

    _run(company, csv_file, output_format, work)


@app.command("profit-and-loss")
def profit_and_loss(
    company: CompanyOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    period: PeriodOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help=f"Split by one dimension: {', '.join(r.DIMENSIONS)}.")
    ] = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Income and expenses over the period, and the net result."""
    _run(
        company,
        csv_file,
        output_format,
        lambda session, found: r.profit_and_loss(
            session,
            found.id,
            date_from,
            date_to,
            period=period,
            group_by=(r.parse_group_by(by, single=True) or [None])[0],
        ),
    )


@app.command("balance-sheet")
def balance_sheet(
    as_of: Annotated[dt.date, date_option("--as-of", "--to", help="The date, inclusive.")],
    company: CompanyOption = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Assets, liabilities and equity at a date, with the unclosed result as current-year earnings."""
    _run(
        company,
        csv_file,
        output_format,
        lambda session, found: r.balance_sheet(session, found.id, as_of),
    )


@app.command("tax")
def tax(
    company: CompanyOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    period: PeriodOption = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Tax collected and deductible per tax code and month, with the taxable bases and the net payable."""
    _run(
        company,
        csv_file,
        output_format,
        lambda session, found: r.tax_report(session, found.id, date_from, date_to, period=period),
    )


GroupOption = Annotated[str, typer.Option("--group", "-g", help="Company group code or id.")]
AsOfOption = Annotated[dt.date, date_option("--as-of", help="The day.")]


def _group_report(
    group_ref: str,
    csv_file: str | None,
    output_format: output.Format,
    work: Callable[[Session, Any], r.Report],
) -> None:
    try:
        with runtime().session_factory() as session:
            report = work(session, group_services.group_by_ref(session, group_ref, field="--group"))
    except RetailcoreError as exc:
        raise refused(exc, problems=False) from None
    _emit(report, csv_file, output_format)


@app.command("consolidated-trial-balance")
def consolidated_trial_balance(
    group: GroupOption,
    as_of: AsOfOption,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """The group's members' balances in the group currency, intercompany balances eliminated."""
    _group_report(
        group,
        csv_file,
        output_format,
        lambda session, found: ir.consolidated_trial_balance(session, found, as_of),
    )


@app.command("intercompany-eliminations")
def intercompany_eliminations(
    group: GroupOption,
    as_of: AsOfOption,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Per pair of member companies: receivable against payable, revenue against cost, differences."""
    _group_report(
        group, csv_file, output_format, lambda session, found: ir.eliminations(session, found, as_of)
    )


@app.command("tax-return")
def tax_return(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM.")],
    company: CompanyOption = None,
    csv_file: CsvOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """The month's tax return: totals per tax code, then the boxes of the company's layout."""
    _run(
        company,
        csv_file,
        output_format,
        lambda session, found: tr.tax_return(session, found.id, *period_span(period)),
    )
