"""``retailcore exceptions ...``: the one exceptions console from a terminal: list (by age or
``--priority``), acknowledge, assign, resolve, and triage (classes: ``triage`` re-classifies the open
rows, ``classify`` is a person's class; decision 0076).

Every command runs as the system principal and calls :mod:`retailcore.monitoring` (the services the
API calls), one transaction per command. Results on stdout, errors on stderr, exit 1 on an expected
failure (an unknown or resolved exception), 2 on a usage error (an id that is not one);
``--output table|json|csv``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import typer
from rich.markup import escape

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.analytics.triage import services as triage_service
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named, store_codes
from retailcore.entrypoints.cli.errors import refused
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import store_in_scope
from retailcore.monitoring import commands as c
from retailcore.monitoring import queries as q
from retailcore.monitoring import services as svc
from retailcore.monitoring.tables import EXCEPTION_TYPES, SEVERITIES

app = typer.Typer(
    help="The exceptions console: list by priority, acknowledge, assign, resolve, triage.",
    no_args_is_help=True,
)

PAGE_SIZE = 200
IdArgument = Annotated[str, typer.Argument(help="The exception's id.")]
NoteOption = Annotated[str, typer.Option("--note", help="What you found or did (kept, audited).")]
COLUMNS = [
    output.key("priority"),
    output.key("type"),
    output.key("class"),
    output.key("severity", drop=3),
    output.key("status"),
    output.amount("amount_at_risk", "at risk", drop=2),
    output.key("age", drop=1),
    output.key("occurrences", "seen", drop=4),
    output.key("store", drop=5),
    output.key("owner", drop=6),
    output.text("message"),
    output.key("id", drop=7),
]


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an exception id", param_hint="ID") from None


def _class(item: c.ExceptionView) -> str | None:
    if item.exception_class is None:
        return None
    if item.class_source == "model":  # a suggestion: say how sure
        return f"{item.exception_class}? ({item.class_confidence:.0%})"
    return item.exception_class


def _row(item: c.ExceptionView, stores: dict[uuid.UUID, str]) -> list[object]:
    return [
        item.priority,
        item.type,
        _class(item),
        item.severity,
        item.status,
        f"{item.amount_at_risk} {item.currency}" if item.amount_at_risk else None,
        _age(item.age_seconds),
        item.occurrences,
        stores.get(item.store_id) if item.store_id else None,
        item.owner,
        item.message,
        item.id,
    ]


@app.command("list")
def list_command(
    company: CompanyOption = None,
    priority: Annotated[
        bool,
        typer.Option("--priority", help="Highest priority first (severity x class x money at risk x age)."),
    ] = False,
    type_: Annotated[
        Literal[EXCEPTION_TYPES] | None,  # type: ignore[valid-type]
        typer.Option("--type", help="Only this type."),
    ] = None,
    status: Annotated[
        Literal["open", "acknowledged", "resolved", "unresolved", "all"],
        typer.Option("--status", help="unresolved (open or acknowledged, the default), or all."),
    ] = "unresolved",
    severity: Annotated[
        Literal[SEVERITIES] | None,  # type: ignore[valid-type]
        typer.Option("--severity", help="Only this severity."),
    ] = None,
    store: Annotated[str | None, typer.Option("--store", help="Only this store's (code or id).")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only those given to this owner.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List exceptions: oldest first, or by priority with --priority."""
    err = output.console(stderr=True)
    runtime = errors.runtime()
    found: list[c.ExceptionView] = []
    now = utcnow()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            named = store_in_scope(session, system_principal("cli"), store, company=target, field="--store")
            store_id = named.id if named is not None else None
            cursor: str | None = None
            while len(found) < limit:
                page = q.list_exceptions(
                    session,
                    target,
                    type=type_,
                    status=None if status == "all" else status,
                    severity=severity,
                    store_id=store_id,
                    owner=owner,
                    sort="priority" if priority else "age",
                    limit=min(PAGE_SIZE, limit - len(found)),
                    cursor=cursor,
                    now=now,
                )
                found.extend(page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            stores = store_codes(session, target)
    except RetailcoreError as exc:
        raise refused(exc) from None
    rows = [_row(item, stores) for item in found]
    title = f"Exceptions of {target.code}" + (" by priority" if priority else "")
    listing = output.Listing(title, COLUMNS, rows, empty=f"no exceptions in {target.code}")
    output.emit(listing, output_format, document=[item.model_dump(mode="json") for item in found])
    if cursor is not None:
        err.print(f"showing the first {len(found)} exceptions; raise --limit for more", highlight=False)


def _act(
    action: str, exception_id: str, company: str | None, output_format: output.Format, **fields: str
) -> None:
    wanted = _id(exception_id)
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            ctx = CommandContext(system_principal(f"cli:exceptions:{action}"))
            work = {"acknowledge": svc.acknowledge, "resolve": svc.resolve, "assign": svc.assign}[action]
            found = q.view(work(session, ctx, target, wanted, **fields))
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        listing = output.Listing("Exception", COLUMNS, [_row(found, {})])
        output.emit(listing, output_format, document=found.model_dump(mode="json"))
        return
    owner = f", owner {escape(found.owner)}" if found.owner else ""
    output.console().print(
        f"exception {found.id} ({found.type}) is [bold]{found.status}[/]{owner}", highlight=False
    )


@app.command("acknowledge")
def acknowledge(
    exception_id: IdArgument,
    note: NoteOption = "",
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Someone is looking at it: open -> acknowledged."""
    _act("acknowledge", exception_id, company, output_format, note=note)


@app.command("assign")
def assign(
    exception_id: IdArgument,
    owner: Annotated[str, typer.Option("--owner", help="Who takes it (a name or an e-mail).")],
    note: NoteOption = "",
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Give an unresolved exception an owner."""
    _act("assign", exception_id, company, output_format, owner=owner, note=note)


@app.command("resolve")
def resolve(
    exception_id: IdArgument,
    note: NoteOption = "",
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Done with it (final): open or acknowledged -> resolved."""
    _act("resolve", exception_id, company, output_format, note=note)


@app.command("classify")
def classify(
    exception_id: IdArgument,
    exception_class: Annotated[
        str, typer.Option("--class", help="The class you found (e.g. fee_difference, shrink).")
    ],
    note: NoteOption = "",
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Give an exception its class: a person's class wins and teaches the classifier."""
    wanted = _id(exception_id)
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            ctx = CommandContext(system_principal("cli:exceptions:classify"))
            row = triage_service.set_class(
                session, ctx, target, wanted, exception_class=exception_class.strip(), note=note
            )
            found = q.view(row)
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        listing = output.Listing("Exception", COLUMNS, [_row(found, {})])
        output.emit(listing, output_format, document=found.model_dump(mode="json"))
        return
    output.console().print(
        f"exception {found.id} ({found.type}) is [bold]{found.exception_class}[/]", highlight=False
    )


@app.command("triage")
def triage(
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Re-classify the open exceptions: rules, then the classifier trained on the labelled ones."""
    err = output.console(stderr=True)
    runtime = errors.runtime()
    try:
        with (
            transaction(runtime.session_factory) as session,
            output.progress_bar(err, disable=output_format is not output.Format.table) as bar,
        ):
            target = company_named(session, company)
            ctx = CommandContext(system_principal("cli:exceptions:triage"))
            task = bar.add_task("triage", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = triage_service.triage(session, ctx, target, progress=progress)
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        listing = output.Listing("Triage", [output.key(name) for name in result], [list(result.values())])
        output.emit(listing, output_format, document=result)
        return
    model = "the classifier" if result["model_used"] else "rules only (too few labelled exceptions)"
    output.console().print(
        f"{result['examined']} open exception(s) of {target.code}: {result['by_rule']} by rule,"
        f" {result['by_model']} suggested by the model, {result['by_person']} by a person,"
        f" {result['undecided']} undecided; {model}, {result['training_rows']} labelled row(s)",
        highlight=False,
    )
