"""``retailcore settlements import FILE --gateway stripe|adyen|csv [--mapping FILE]``: import a gateway's
settlement file (decision 0035).

Runs as the system principal in one transaction and calls :func:`retailcore.settlements.services.
import_file`: the same file again is a no-op (``replayed``), a bad file is refused naming its line
(exit 1) and nothing is written. The progress bar (on standard error) follows parsing, storing,
matching and posting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, json_mapping, refused
from retailcore.eventlog.services import CommandContext
from retailcore.settlements import services as svc

app = typer.Typer(help="Gateway settlements: import a settlement file.", no_args_is_help=True)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="The settlement file (CSV) as the gateway sent it.")],
    gateway: Annotated[
        str,
        typer.Option(
            "--gateway",
            "-g",
            help="stripe, adyen, csv, or the code of a gateway made with POST /gateways.",
        ),
    ],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="A csv gateway's column mapping (JSON).")
    ] = None,
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Import a settlement file: match its lines, post them per payout, raise mismatches."""
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
                ctx = CommandContext(system_principal("cli:settlements:import"))
                result = svc.import_file(
                    session, ctx, target, gateway.strip().lower(), file.name, content, columns, progress
                )
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        columns_out = (
            output.key("file_id"),
            output.key("lines_read", "read"),
            output.key("lines_new", "new"),
            output.key("matched"),
            output.key("mismatches"),
        )
        row = [result.file_id, result.lines_read, result.lines_new, result.matched, result.mismatches]
        listing = output.Listing("Settlement import", columns_out, [row])
        output.emit(listing, output_format, document=result.model_dump(mode="json"))
        return
    out = output.console()
    if result.replayed:
        out.print(f"{file.name} was imported before ({result.file_id}): nothing changed", highlight=False)
        return
    out.print(
        f"{file.name}: {result.lines_read} lines read, {result.lines_new} new, {result.matched} matched,"
        f" {result.mismatches} mismatches; batches {', '.join(result.batches) or 'none'};"
        f" {len(result.entries)} entries posted",
        highlight=False,
    )
