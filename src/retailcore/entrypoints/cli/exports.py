"""``retailcore export ...``: the books of a month as files for another system (docs/exports.md).

    retailcore export saft --period 2026-11 --company ACME --output SAF-T_2026-11.xml
    retailcore export gl --period 2026-11 --output gl_2026-11.csv
    retailcore export journals --period 2026-11            # to stdout

The file is written a chunk at a time as the lines are read (never the whole month in memory), with a
progress bar on stderr; it is written beside the target as ``FILE.part`` and renamed when complete, so a
failed or interrupted export never leaves a truncated file under the name asked for. A bad period or an
unknown company prints one message and exits 1 before anything is written.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused, runtime
from retailcore.exports import saft
from retailcore.exports import services as x
from retailcore.masterdata.tables import Company

app = typer.Typer(
    help="Export the books of a month: SAF-T, general ledger or journals.", no_args_is_help=True
)

PeriodOption = Annotated[str, typer.Option("--period", help="The month, YYYY-MM (2026-11).")]
OutputFile = Annotated[
    Path | None,
    typer.Option("--output", metavar="FILE", help="Write to FILE (default: stdout, or '-')."),
]

Chunks = Callable[[Session, Company, x.ExportPeriod, x.Progress], Iterator[bytes]]


def _export(company_ref: str | None, period: str, target: Path | None, what: str, chunks: Chunks) -> None:
    """Resolve and check everything, then stream the chunks to the file (or stdout) with a progress bar."""
    err = output.console(stderr=True)
    to_stdout = target is None or str(target) == "-"
    partial = None if to_stdout else target.with_name(target.name + ".part")  # type: ignore[union-attr]
    try:
        x.parse_period(period)  # a malformed period is refused before the database is opened
        with runtime().session_factory() as session:
            x.snapshot(session)
            company = company_named(session, company_ref)
            span = x.resolve_period(session, company.id, period)
            if what == "SAF-T":
                saft.check_file(session, company, span)
            progress = output.progress_bar(err)
            with progress:
                task = progress.add_task(f"{what} {company.code} {span.code}", total=None)

                def report(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                written = 0
                if partial is None:
                    sink = sys.stdout.buffer
                    for chunk in chunks(session, company, span, report):
                        sink.write(chunk)
                        written += len(chunk)
                    sink.flush()
                else:
                    with partial.open("wb") as sink:
                        for chunk in chunks(session, company, span, report):
                            sink.write(chunk)
                            written += len(chunk)
            totals = x.period_totals(session, company.id, span)
    except RetailcoreError as exc:
        _discard(partial)
        raise refused(exc) from None
    except OSError as exc:
        _discard(partial)
        raise fail(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        _discard(partial)
        raise
    if partial is not None and target is not None:
        partial.replace(target)
    where = "stdout" if target is None or partial is None else str(target)
    err.print(
        f"wrote {what} of {company.code} for {span.code}: {totals.entries} entries, {totals.lines} lines,"
        f" {written:,} bytes to {where}"
    )


def _discard(partial: Path | None) -> None:
    if partial is not None:
        partial.unlink(missing_ok=True)


@app.command("saft")
def export_saft(period: PeriodOption, company: CompanyOption = None, target: OutputFile = None) -> None:
    """The SAF-T Financial file (Norwegian v1.30) of the month: chart with balances, customers, tax
    table, dimensions and every posted entry."""
    created = dt.datetime.now(dt.UTC).date()
    _export(
        company,
        period,
        target,
        "SAF-T",
        lambda session, found, span, report: saft.saft_file(
            session, found, span, created=created, user="cli", progress=report
        ),
    )


@app.command("gl")
def export_gl(period: PeriodOption, company: CompanyOption = None, target: OutputFile = None) -> None:
    """Every posted journal line of the month as CSV (one row per line)."""
    _export(
        company,
        period,
        target,
        "GL",
        lambda session, found, span, report: x.general_ledger_csv(session, found.id, span, report),
    )


@app.command("journals")
def export_journals(period: PeriodOption, company: CompanyOption = None, target: OutputFile = None) -> None:
    """Every posted journal entry of the month as CSV (one row per entry, with its totals)."""
    _export(
        company,
        period,
        target,
        "journals",
        lambda session, found, span, report: x.journal_csv(session, found.id, span, report),
    )
