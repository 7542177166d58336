"""``retailcore forecast run|show``: demand forecasts from a terminal (docs/intelligence.md).

``run`` reads the demand history, backtests the candidate models per series, fits the chosen one and
stores the run in one transaction, with a progress bar per step on standard error; the summary
(series, models chosen, mean backtest MASE per model) goes to standard output. ``show`` prints the
latest run's summary. Exit 1 on a refusal (no sales to forecast, the intelligence extra missing),
2 on a usage error.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.progress import TaskID

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.analytics.forecasts import queries as q
from retailcore.analytics.forecasts.commands import MAX_HORIZON
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.eventlog.services import CommandContext

app = typer.Typer(help="Demand forecasts per product x store and the web channel.", no_args_is_help=True)

STEPS = {"history": "history", "backtest": "backtest", "fit": "fit", "store": "store"}


COLUMNS = [output.key("model"), output.amount("chosen", "series chosen"), output.amount("mase", "mean MASE")]


def _print_run(view: q.ForecastRunView) -> None:
    rows = [
        [name, view.chosen.get(name, 0), None if view.mase.get(name) is None else f"{view.mase[name]:.3f}"]
        for name in sorted(set(view.models) | set(view.chosen))
    ]
    title = (
        f"Forecast run {view.id}: as of {view.as_of}, {view.horizon} days ahead, {view.series} series,"
        f" {view.duration_seconds} s"
    )
    output.print_table(output.console(), output.Listing(title, COLUMNS, rows))


@app.command("run")
def run_command(
    company: CompanyOption = None,
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, max=MAX_HORIZON, help="Days to forecast after --as-of.")
    ] = 14,
    as_of: Annotated[
        dt.date | None, date_option("--as-of", help="The last day of history (default: yesterday, UTC).")
    ] = None,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    global_model: bool = typer.Option(
        False,
        "--global-model",
        help="Also try the gradient-boosted model trained across all series (slower; decision 0088).",
    ),
) -> None:
    """Backtest, choose a model per series, forecast and store a run."""
    runtime = errors.runtime()
    err = output.console(stderr=True)
    progress = output.progress_bar(err, disable=quiet)
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(STEPS.get(step, step), total=total)
        progress.update(tasks[step], completed=done, total=total)

    try:
        from retailcore.analytics.forecasts.services import run_forecast

        with progress, transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            ctx = CommandContext(system_principal("cli:forecast:run"))
            day = as_of or utcnow().date() - dt.timedelta(days=1)
            view = q.run_view(
                run_forecast(
                    session, ctx, target, as_of=day, horizon=horizon, global_model=global_model, report=report
                )
            )
    except RetailcoreError as exc:
        raise refused(exc) from None
    _print_run(view)


@app.command("show")
def show_command(company: CompanyOption = None) -> None:
    """The latest run's summary: series, models chosen, mean backtest MASE per model."""
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            run = q.latest_run(session, target.id)
            view = None if run is None else q.run_view(run)
    except RetailcoreError as exc:
        raise refused(exc) from None
    if view is None:
        raise errors.fail(f"no forecast run for {target.code} yet", hint="retailcore forecast run")
    _print_run(view)
