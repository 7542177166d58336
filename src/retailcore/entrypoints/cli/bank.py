"""``retailcore bank import FILE [--account IBAN] [--format camt053|csv] [--mapping FILE]``: import a
bank statement (decision 0037).

Runs as the system principal in one transaction and calls :func:`retailcore.banking.services.
import_statement`: the same file again is a no-op (``replayed``), a bad file is refused naming its
entry and line (exit 1) and nothing is written. The progress bar (on standard error) follows parsing,
storing and matching.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.banking import services as svc
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, json_mapping, refused
from retailcore.eventlog.services import CommandContext

app = typer.Typer(help="Bank statements: import a CAMT.053 or CSV statement.", no_args_is_help=True)


class StatementFormat(StrEnum):
    camt053 = "camt053"
    csv = "csv"


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="The statement file as the bank sent it.")],
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="The bank account's IBAN or code (required for CSV)."),
    ] = None,
    statement_format: Annotated[
        StatementFormat, typer.Option("--format", "-f", help="camt053 (ISO 20022 XML) or csv.")
    ] = StatementFormat.camt053,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="A CSV's column mapping (JSON).")] = None,
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Import a bank statement: match its entries, post them, raise what stays unmatched."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    columns = json_mapping(mapping)
    runtime = errors.runtime()
    err = output.console(stderr=True)
    try:
        with output.progress_bar(err, disable=output_format is not output.Format.table) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)

            def progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=f"{file.name}: {stage}", completed=done, total=total)

            with transaction(runtime.session_factory) as session:
                target = company_named(session, company)
                ctx = CommandContext(system_principal("cli:bank:import"))
                result = svc.import_statement(
                    session,
                    ctx,
                    target,
                    file.name,
                    content,
                    statement_format.value,
                    account,
                    columns,
                    progress,
                )
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        columns_out = (
            output.key("file_id"),
            output.key("entries_read", "read"),
            output.key("entries_new", "new"),
            output.key("matched"),
            output.key("unmatched"),
        )
        row = [result.file_id, result.entries_read, result.entries_new, result.matched, result.unmatched]
        listing = output.Listing("Bank statement import", columns_out, [row])
        output.emit(listing, output_format, document=result.model_dump(mode="json"))
        return
    out = output.console()
    if result.replayed:
        out.print(f"{file.name} was imported before ({result.file_id}): nothing changed", highlight=False)
        return
    out.print(
        f"{file.name}: {result.statements} statement(s), {result.entries_read} entries read,"
        f" {result.entries_new} new, {result.matched} matched, {result.unmatched} unmatched;"
        f" {len(result.entries)} entries posted",
        highlight=False,
    )
