"""``retailcore analytics rebuild``: recompute the KPI read models from the raw rows (after an upgrade,
whose migration creates them empty, or to check the incremental feed; decision 0043)."""

from __future__ import annotations

import uuid

import typer
from rich.console import Console
from rich.progress import TaskID

from retailcore.adapters.db import transaction
from retailcore.analytics import feed
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused

app = typer.Typer(help="The KPI read models behind /kpis.", no_args_is_help=True)


def _rebuild_one(runtime: Runtime, err: Console, company_id: uuid.UUID, code: str, quiet: bool) -> dict:
    """One company's rebuild in one transaction, with a bar per step."""
    progress = output.progress_bar(err, disable=quiet)
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(f"{code}: {step}", total=total)
        progress.update(tasks[step], completed=done, total=total)

    with progress, transaction(runtime.session_factory) as session:
        return feed.rebuild(session, company_id, report)


@app.command("rebuild")
def rebuild(
    company: CompanyOption = None,
    all_companies: bool = typer.Option(False, "--all", help="Every company of the installation."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Recompute a company's KPI read models (or every company's with --all), one transaction each."""
    runtime = errors.runtime()
    err = output.console(stderr=True)
    try:
        with runtime.session_factory() as session:
            targets = (
                feed.companies(session)
                if all_companies
                else [(found.id, found.code) for found in [company_named(session, company)]]
            )
        for company_id, code in targets:
            read = _rebuild_one(runtime, err, company_id, code, quiet)
            typer.echo(
                f"{code}: rebuilt from {read['pos_lines']} POS lines, {read['deliveries']} deliveries,"
                f" {read['return_slices']} return groups, {read['count_slices']} count days"
            )
    except RetailcoreError as exc:
        raise refused(exc) from None
