"""``retailcore ledger ...``: exchange rates, revaluation, open items and period balances.

Like every command: results on stdout, progress and errors on stderr, exit 1 on an expected failure
(2 for usage errors such as a malformed date); ``open-items`` takes ``--output table|json|csv``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.accounting import balances, fx
from retailcore.accounting import reconciliation as r
from retailcore.adapters.db import transaction
from retailcore.core.decimals import canonical
from retailcore.core.errors import FieldProblem, InvalidReference, RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company

app = typer.Typer(
    help="Ledger: exchange rates, revaluation, reconciliation, period balances.", no_args_is_help=True
)

MAX_PRINTED_PROBLEMS = 50
LABEL_WIDTH = 40
"""Longer line labels fold onto several lines in the open-items table."""


def _context(command: str) -> CommandContext:
    return CommandContext(system_principal(f"cli:ledger:{command}"))


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
    out = output.console()
    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 text") from None
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            progress = output.progress_bar(output.console(stderr=True))
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
        problems = [FieldProblem(*str(row).split(": ", 1)) for row in exc.rows]  # "line 3, date: ..."
        raise fail(f"{exc}; nothing was imported", problems=problems) from None
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(
        f"imported {report.created} new and {report.replaced} replaced rates"
        f" ({report.unchanged} unchanged) into {target.code}",
        highlight=False,
    )


@app.command("revalue")
def revalue(
    as_of: Annotated[dt.date, date_option("--as-of", help="Period end.")],
    company: CompanyOption = None,
) -> None:
    """Revalue open foreign-currency balances at a date; the entry is reversed the next day."""
    out = output.console()
    day = as_of
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            result = fx.revalue(session, _context("revalue"), target, day)
    except RetailcoreError as exc:
        raise refused(exc) from None
    if result.entry is None or result.reversal is None:
        out.print(f"nothing to revalue in {target.code} on {day.isoformat()}", highlight=False)
        return
    columns = [
        output.key("account_code", "account"),
        output.key("currency"),
        output.amount("amount_currency", "balance"),
        output.amount("rate"),
        output.amount("booked"),
        output.amount("revalued"),
        output.amount("difference"),
    ]
    rows = [[getattr(balance, column.name) for column in columns] for balance in result.balances]
    title = f"FX revaluation of {target.code} on {day.isoformat()} ({target.currency})"
    output.print_table(out, output.Listing(title, columns, rows))
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
    as_of: Annotated[dt.date | None, date_option("--as-of", help="Report date (default: today).")] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Print the open items of reconcilable accounts, aged, with totals per account and bucket (JSON and
    CSV: the items)."""
    day = as_of or dt.datetime.now(dt.UTC).date()
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            account_id = _account_by_code(session, target, account).id if account else None
            report = r.open_items(session, target.id, account_id, day)
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("account_code", "account"),
        output.key("date"),
        output.key("entry_number", "entry"),
        output.text("label"),
        output.amount("debit", drop=2),
        output.amount("credit", drop=2),
        output.amount("open_balance", "open"),
        output.amount("age_days", "age"),
        output.key("bucket", drop=1),
    ]
    items = output.Listing(
        f"Open items of {target.code} as of {day.isoformat()} ({target.currency})",
        columns,
        [[getattr(item, column.name) for column in columns] for item in report.items],
        empty=f"no open items in {target.code} as of {day.isoformat()}",
    )
    output.emit(items, output_format)
    if output_format is not output.Format.table or not report.items:
        return
    buckets = [output.amount(label) for label in r.BUCKET_LABELS]
    totals = [
        [
            f"{total.account_code} {total.account_name}",
            *(total.buckets[label] for label in r.BUCKET_LABELS),
            total.open_balance,
        ]
        for total in report.accounts
    ]
    totals.append(["all accounts", *(report.buckets[label] for label in r.BUCKET_LABELS), report.total])
    listing = output.Listing("Totals", [output.text("account"), *buckets, output.amount("total")], totals)
    output.print_table(output.console(), listing)


@app.command("rebuild-balances")
def rebuild_balances(
    company: CompanyOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only compare the kept balances with the lines; change nothing.")
    ] = False,
) -> None:
    """Recompute the kept balances of closed months from the journal lines (or, with --check, compare).

    The balances are written when the lock date moves and never go stale; this is a maintenance
    command for a database edited by hand. Exit 1 when --check finds a difference."""
    out = output.console()
    runtime = errors.runtime()
    found: list[balances.Difference] = []
    written = 0
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            if check:
                found = balances.differences(session, target.id)
                through = balances.through(session, target.id)
            else:
                progress = output.progress_bar(output.console(stderr=True))
                with progress:
                    task = progress.add_task(f"summing the closed months of {target.code}", total=None)
                    written = balances.rebuild(
                        session,
                        target.id,
                        progress=lambda done, total: progress.update(task, completed=done, total=total),
                    )
                through = balances.through(session, target.id)
    except RetailcoreError as exc:
        raise refused(exc) from None
    reach = through.isoformat() if through is not None else "no closed month"
    if not check:
        out.print(f"rebuilt {written} balance rows of {target.code} (through {reach})", highlight=False)
        return
    if not found:
        out.print(f"the balances of {target.code} agree with its lines (through {reach})", highlight=False)
        return
    problems = [
        FieldProblem(
            f"{d.month.isoformat()[:7]} account {d.account_id} store {d.store_id or '-'}",
            f"kept {_money(d.kept[0])} / {_money(d.kept[1])} ({d.kept[2]} lines),"
            f" lines {_money(d.lines[0])} / {_money(d.lines[1])} ({d.lines[2]} lines)",
        )
        for d in found
    ]
    raise fail(
        f"{len(found)} balance rows of {target.code} disagree with the lines",
        problems=problems,
        hint="run `retailcore ledger rebuild-balances` without --check to recompute them",
    )
