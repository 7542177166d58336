"""``retailcore report ...``: the ledger's reports as a table on stdout, or as a CSV file.

    retailcore report trial-balance --company ACME --from 2026-11-01 --to 2026-11-30 --by store_id
    retailcore report general-ledger --company ACME --account 1000 --period 2026-11 --csv gl.csv
    retailcore report profit-and-loss --company ACME --period 2026 --by channel
    retailcore report balance-sheet --company ACME --as-of 2026-11-30
    retailcore report tax --company ACME --from 2026-10-01 --to 2026-12-31 --csv -

Expected failures (an unknown company, a bad date) print one message on stderr and exit 1.
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
from rich.table import Table
from sqlalchemy.orm import Session

from retailcore.accounting import reports as r
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.masterdata.tables import Company

app = typer.Typer(help="Financial reports: a table on stdout, or CSV with --csv.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

FromOption = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")]
ToOption = Annotated[str | None, typer.Option("--to", help="Last day, inclusive, YYYY-MM-DD.")]
PeriodOption = Annotated[
    str | None, typer.Option("--period", help="A period (2026-11) or fiscal year (2026) instead of dates.")
]
CsvOption = Annotated[
    str | None, typer.Option("--csv", metavar="FILE", help="Write CSV to FILE ('-' for stdout) instead.")
]


@contextmanager
def _reporting(company_ref: str | None) -> Iterator[tuple[Session, Company]]:
    """A read-only session and the company; expected errors become a message and exit status 1."""
    runtime = bootstrap()
    try:
        with runtime.session_factory() as session:
            yield session, company_named(session, company_ref)
    except RetailcoreError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        runtime.engine.dispose()


def _emit(report: r.Report, csv_file: str | None) -> None:
    if csv_file is not None:
        text = report.to_csv()
        if csv_file == "-":
            sys.stdout.write(text)
            return
        try:
            Path(csv_file).write_text(text, encoding="utf-8")
        except OSError as exc:
            err.print(f"[bold red]error:[/] cannot write {csv_file}: {exc.strerror}", highlight=False)
            raise typer.Exit(1) from None
        err.print(f"wrote {text.count(chr(10)) - 1} rows to {csv_file}", highlight=False)
        return
    header, rows = report.table()
    table = Table(title=report.title(), title_justify="left")
    for i, name in enumerate(header):
        values = [row[i] for row in rows if row[i] not in ("", None)]
        is_amount = bool(values) and all(isinstance(value, Decimal) for value in values)
        is_date = bool(values) and all(isinstance(value, dt.date) for value in values)
        # Amounts and dates stay whole on one line; text columns give way when the terminal is narrow.
        table.add_column(name, justify="right" if is_amount else "left", no_wrap=is_amount or is_date)
    for row in rows:
        table.add_row(*(r.cell_text(value) for value in row))
    out.print(table)
    for label, value in report.summary():
        out.print(f"{label}: {r.cell_text(value)}", highlight=False)


def _run(company_ref: str | None, csv_file: str | None, work: Callable[[Session, Company], r.Report]) -> None:
    with _reporting(company_ref) as (session, company):
        report = work(session, company)
    _emit(report, csv_file)


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
) -> None:
    """Opening balance, debits, credits and closing balance per account (and dimension values)."""
    _run(
        company,
        csv_file,
        lambda session, found: r.trial_balance(
            session,
            found.id,
            r.parse_date(date_from, "--from"),
            r.parse_date(date_to, "--to"),
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
) -> None:
    """Every posted line of one account in the period, with its running balance."""

    def work(session: Session, found: Company) -> r.Report:
        account_id = r.resolve_account(session, found.id, account).id
        start, end = r.parse_date(date_from, "--from"), r.parse_date(date_to, "--to")
        first = page = r.general_ledger(session, found.id, account_id, start, end, period=period)
        lines: list[Any] = list(first.lines)
        # Page by page through the keyset, so a busy account never needs one huge query.
        while page.next_cursor:
            page = r.general_ledger(
                session, found.id, account_id, start, end, period=period, cursor=page.next_cursor
            )
            lines += page.lines
        return first.model_copy(update={"lines": lines, "next_cursor": None})

    _run(company, csv_file, work)


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
) -> None:
    """Income and expenses over the period, and the net result."""
    _run(
        company,
        csv_file,
        lambda session, found: r.profit_and_loss(
            session,
            found.id,
            r.parse_date(date_from, "--from"),
            r.parse_date(date_to, "--to"),
            period=period,
            group_by=(r.parse_group_by(by, single=True) or [None])[0],
        ),
    )


@app.command("balance-sheet")
def balance_sheet(
    as_of: Annotated[str, typer.Option("--as-of", "--to", help="The date, inclusive, YYYY-MM-DD.")],
    company: CompanyOption = None,
    csv_file: CsvOption = None,
) -> None:
    """Assets, liabilities and equity at a date, with the unclosed result as current-year earnings."""
    _run(
        company,
        csv_file,
        lambda session, found: r.balance_sheet(session, found.id, r.require_date(as_of, "--as-of")),
    )


@app.command("tax")
def tax(
    company: CompanyOption = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    period: PeriodOption = None,
    csv_file: CsvOption = None,
) -> None:
    """Tax collected and deductible per tax code and month, with the taxable bases and the net payable."""
    _run(
        company,
        csv_file,
        lambda session, found: r.tax_report(
            session, found.id, r.parse_date(date_from, "--from"), r.parse_date(date_to, "--to"), period=period
        ),
    )
