"""``retailcore replenish ...``: suggest purchase orders and transfers from demand estimates, accept them.

Commands run as the system principal through :mod:`retailcore.analytics.replenishment.services` (the services
the API calls), one transaction each. Results on stdout, progress and errors on stderr; exit 1 when
refused (an unknown or already decided suggestion: nothing is written), 2 on a usage error.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.progress import TaskID
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.analytics.replenishment import queries as q
from retailcore.analytics.replenishment import services as rp
from retailcore.analytics.replenishment.tables import ReplenishmentSuggestion
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.eventlog.services import CommandContext

app = typer.Typer(
    help="Replenishment: suggested purchase orders and transfers, accepted by a buyer.", no_args_is_help=True
)

COLUMNS = [
    output.key("kind"),
    output.key("sku"),
    output.key("store_code", "to"),
    output.text("supplier", drop=4),
    output.amount("quantity"),
    output.amount("position", drop=2),
    output.amount("reorder_point", "reorder at", drop=1),
    output.amount("order_up_to", "up to", drop=1),
    output.amount("daily_mean", "mean/day", drop=3),
    output.amount("daily_sigma", "sigma", drop=3),
    output.key("id", drop=5),
]


def _service_level(value: str) -> Decimal:
    try:
        level = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number", param_hint="--service-level") from None
    if not Decimal(0) < level < Decimal(1):
        raise typer.BadParameter("must be above 0 and below 1 (0.95 for 95 %)", param_hint="--service-level")
    return level


def _class_levels(value: str) -> dict[str, Decimal]:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 3:
        raise typer.BadParameter("three levels, for A, B and C: e.g. 0.995,0.99,0.95", param_hint="--abc")
    try:
        return {name: _service_level(part) for name, part in zip("ABC", parts, strict=True)}
    except typer.BadParameter as refused:
        raise typer.BadParameter(str(refused.message), param_hint="--abc") from None


def _rows(items: list[q.SuggestionView]) -> list[list[Any]]:
    return [
        [
            i.kind,
            i.sku,
            i.store_code,
            i.supplier or "",
            i.quantity,
            i.position,
            i.reorder_point,
            i.order_up_to,
            i.daily_mean,
            i.daily_sigma,
            str(i.id),
        ]
        for i in items
    ]


@app.command("suggest")
def suggest(
    company: CompanyOption = None,
    service_level: Annotated[
        str, typer.Option("--service-level", help="Chance of not running out in a cycle, e.g. 0.95.")
    ] = "0.95",
    review_days: Annotated[
        int, typer.Option("--review-days", min=1, max=365, help="Review period R of the order-up-to level.")
    ] = 7,
    transfer_lead_days: Annotated[
        int, typer.Option("--transfer-lead-days", min=0, max=365, help="Days a warehouse transfer takes.")
    ] = 1,
    as_of: Annotated[
        dt.date | None, date_option("--as-of", help="Day demand is estimated up to (default: today).")
    ] = None,
    estimator: Annotated[
        str,
        typer.Option(
            "--estimator",
            help="Demand estimator: forecast (the latest forecast run) or trailing (the baseline).",
        ),
    ] = rp.DEFAULT_ESTIMATOR,
    run_every_days: Annotated[
        int,
        typer.Option(
            "--run-every-days",
            min=0,
            max=365,
            help="Days until the next run: the reorder point covers them too (1 for daily runs).",
        ),
    ] = 0,
    store_review_days: Annotated[
        int | None,
        typer.Option("--store-review-days", min=1, max=365, help="The stores' review period (default: R)."),
    ] = None,
    abc: Annotated[
        str | None,
        typer.Option("--abc", help="Service levels of the ABC classes A,B,C, e.g. 0.995,0.99,0.95."),
    ] = None,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Suggest purchase orders and warehouse -> store transfers, replacing the open suggestions."""
    level = _service_level(service_level)
    by_class = _class_levels(abc) if abc else None
    if estimator not in rp.ESTIMATORS:
        raise typer.BadParameter(f"one of {', '.join(sorted(rp.ESTIMATORS))}", param_hint="--estimator")
    runtime = errors.runtime()
    progress = output.progress_bar(output.console(stderr=True), disable=quiet)
    tasks: dict[str, TaskID] = {}

    def report(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    try:
        with progress, transaction(runtime.session_factory) as session:
            found = company_named(session, company)
            run = rp.suggest(
                session,
                CommandContext(system_principal("cli")),
                found,
                as_of=as_of or dt.date.today(),
                service_level=level,
                review_days=review_days,
                transfer_lead_days=transfer_lead_days,
                estimator=rp.ESTIMATORS[estimator],
                progress=report,
                run_every_days=run_every_days,
                store_review_days=store_review_days,
                class_service_levels=by_class,
            )
            items = q.views(session, run.suggestions)
    except RetailcoreError as exc:
        raise refused(exc) from None
    purchases = sum(1 for i in items if i.kind == "purchase")
    listing = output.Listing(
        title=f"Replenishment suggestions as of {run.as_of} (service level {level}, review {review_days} d)",
        columns=COLUMNS,
        rows=_rows(items),
        summary=[
            ("purchases", purchases),
            ("transfers", len(items) - purchases),
            ("replaced", run.replaced),
            ("without a supplier", run.without_source),
        ],
        empty="nothing to replenish",
    )
    output.emit(listing, output_format)


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a suggestion id", param_hint="ID") from None


@app.command("accept")
def accept(
    ids: Annotated[list[str] | None, typer.Argument(help="Suggestion ids to accept.")] = None,
    all_open: bool = typer.Option(False, "--all", help="Every open suggestion of the company."),
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Accept suggestions: one confirmed PO per supplier, one draft transfer per route; all or nothing."""
    if bool(ids) == all_open:
        raise typer.BadParameter("give suggestion ids or --all (not both)", param_hint="ID")
    wanted = [_id(value) for value in ids or []]
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            found = company_named(session, company)
            if all_open:
                wanted = list(
                    session.scalars(
                        select(ReplenishmentSuggestion.id)
                        .where(
                            ReplenishmentSuggestion.company_id == found.id,
                            ReplenishmentSuggestion.state == "suggested",
                        )
                        .order_by(ReplenishmentSuggestion.id)
                    )
                )
                if not wanted:
                    typer.echo("no open suggestions", err=True)
                    return
            accepted = rp.accept(session, CommandContext(system_principal("cli")), found, wanted)
            items = q.views(session, accepted.suggestions)
            numbers = [o.number for o in accepted.purchase_orders] + [t.number for t in accepted.transfers]
    except RetailcoreError as exc:
        raise refused(exc) from None
    listing = output.Listing(
        title="Accepted",
        columns=COLUMNS,
        rows=_rows(items),
        summary=[("documents", ", ".join(numbers))],
    )
    output.emit(listing, output_format)
