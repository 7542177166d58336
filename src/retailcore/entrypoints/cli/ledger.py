"""``retailcore ledger ...``: exchange rates, revaluation and open items from the command line.

Like every command: results on stdout, progress and errors on stderr, exit 1 on an expected failure
(2 for usage errors such as a malformed date).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.accounting import fx
from retailcore.accounting import reconciliation as r
from retailcore.adapters.db import transaction
from retailcore.core.decimals import canonical
from retailcore.core.errors import InvalidReference, RetailcoreError
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company

app = typer.Typer(help="Ledger: exchange rates, revaluation, reconciliation.", no_args_is_help=True)

MAX_PRINTED_PROBLEMS = 50
LABEL_WIDTH = 40
"""Longer line labels fold onto several lines in the open-items table."""


def _consoles() -> tuple[Console, Console]:
    # Made per command rather than at import, so the terminal width (COLUMNS) is read when it runs.
    return Console(), Console(stderr=True)


def _fail(err: Console, message: str) -> typer.Exit:
    # Escaped: a message quoting user input such as "[x]" must not be read as rich markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _context(command: str) -> CommandContext:
    return CommandContext(system_principal(f"cli:ledger:{command}"))


def _print_table(console: Console, table: Table) -> None:
    """Print at the table's natural width even beyond the terminal's: rich would otherwise cut codes,
    dates and amounts short ("2026-03-…"), and a figure that is not all there is worse than a long line.
    """
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    terminal = console.width
    console.width = max(terminal, needed)  # print(width=...) may only narrow, so widen the console itself
    try:
        console.print(table)
    finally:
        console.width = terminal


def _money(value: Decimal) -> str:
    return canonical(value)


@app.command("rates-import")
def rates_import(
    file: Annotated[Path, typer.Argument(help="CSV with the header date,currency,rate.")],
    company: CompanyOption = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Change rates that differ from the stored ones.")
    ] = False,
) -> None:
    """Import exchange rates from a CSV file, all or nothing."""
    out, err = _consoles()
    if not file.is_file():
        raise _fail(err, f"no such file: {file}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(err, f"{file} is not UTF-8 text") from None
    runtime = bootstrap()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
            )
            with progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                report = fx.import_rates(
                    session,
                    _context("rates-import"),
                    target,
                    text,
                    replace=replace,
                    source=f"import:{file.name}",
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
    except fx.RatesImportRejected as exc:
        for problem in exc.rows[:MAX_PRINTED_PROBLEMS]:
            err.print(f"  {problem}", highlight=False, markup=False)
        if len(exc.rows) > MAX_PRINTED_PROBLEMS:
            err.print(f"  ... and {len(exc.rows) - MAX_PRINTED_PROBLEMS} more")
        raise _fail(err, f"{exc}; nothing was imported") from None
    except RetailcoreError as exc:
        raise _fail(err, str(exc)) from None
    out.print(
        f"imported {report.created} new and {report.replaced} replaced rates"
        f" ({report.unchanged} unchanged) into {target.code}",
        highlight=False,
    )


@app.command("revalue")
def revalue(
    as_of: Annotated[str, typer.Option("--as-of", help="Period end, YYYY-MM-DD.")],
    company: CompanyOption = None,
) -> None:
    """Revalue open foreign-currency balances at a date; the entry is reversed the next day."""
    out, err = _consoles()
    day = _date(as_of, "--as-of")
    assert day is not None
    runtime = bootstrap()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            result = fx.revalue(session, _context("revalue"), target, day)
    except RetailcoreError as exc:
        raise _fail(err, str(exc)) from None
    if result.entry is None or result.reversal is None:
        out.print(f"nothing to revalue in {target.code} on {day.isoformat()}", highlight=False)
        return
    table = Table(title=f"FX revaluation of {target.code} on {day.isoformat()} ({target.currency})")
    for name in ("account", "currency", "balance", "rate", "booked", "revalued", "difference"):
        table.add_column(name, justify="left" if name in ("account", "currency") else "right", no_wrap=True)
    for b in result.balances:
        table.add_row(
            b.account_code,
            b.currency,
            _money(b.amount_currency),
            _money(b.rate),
            _money(b.booked),
            _money(b.revalued),
            _money(b.difference),
        )
    _print_table(out, table)
    out.print(
        f"posted {result.entry.number} on {result.entry.date.isoformat()}"
        f" (gain {_money(result.total_gain)}, loss {_money(result.total_loss)}),"
        f" reversed by {result.reversal.number} on {result.reversal.date.isoformat()}",
        highlight=False,
    )


def _account_by_code(session: Session, company: Company, code: str) -> Account:
    account = session.scalar(select(Account).where(Account.company_id == company.id, Account.code == code))
    if account is None:
        raise InvalidReference(f"no account '{code}' in company {company.code}", code="unknown-account")
    return account


@app.command("open-items")
def open_items(
    company: CompanyOption = None,
    account: Annotated[str | None, typer.Option("--account", help="Account code; all if absent.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Report date, YYYY-MM-DD; today.")] = None,
) -> None:
    """Print the open items of reconcilable accounts, aged, with totals per account and bucket."""
    out, err = _consoles()
    day = _date(as_of, "--as-of") or dt.datetime.now(dt.UTC).date()
    runtime = bootstrap()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            account_id = _account_by_code(session, target, account).id if account else None
            report = r.open_items(session, target.id, account_id, day)
    except RetailcoreError as exc:
        raise _fail(err, str(exc)) from None
    if not report.items:
        out.print(f"no open items in {target.code} as of {day.isoformat()}", highlight=False)
        return

    items = Table(title=f"Open items of {target.code} as of {day.isoformat()} ({target.currency})")
    for name in ("account", "date", "entry", "label", "debit", "credit", "open", "age", "bucket"):
        if name == "label":
            items.add_column(name, overflow="fold", max_width=LABEL_WIDTH)
        else:
            right = name in ("debit", "credit", "open", "age")
            items.add_column(name, justify="right" if right else "left", no_wrap=True)
    for item in report.items:
        items.add_row(
            item.account_code,
            item.date.isoformat(),
            item.entry_number or "",
            item.label,
            _money(item.debit) if item.debit else "",
            _money(item.credit) if item.credit else "",
            _money(item.open_balance),
            str(item.age_days),
            item.bucket,
        )
    _print_table(out, items)

    totals = Table(title="Totals")
    totals.add_column("account", no_wrap=True)
    for label in (*r.BUCKET_LABELS, "total"):
        totals.add_column(label, justify="right", no_wrap=True)
    for total in report.accounts:
        totals.add_row(
            f"{total.account_code} {total.account_name}",
            *(_money(total.buckets[label]) for label in r.BUCKET_LABELS),
            _money(total.open_balance),
        )
    totals.add_row(
        "all accounts",
        *(_money(report.buckets[label]) for label in r.BUCKET_LABELS),
        _money(report.total),
        style="bold",
    )
    _print_table(out, totals)
