"""``retailcore pos ...``: open, list and show POS sessions, ingest offline sales, move cash, close.

For implementers and back-office staff (a till talks to the API). Every command runs as the system
principal and calls the public services of :mod:`retailcore.pos.services` with the requests of
:mod:`retailcore.pos.commands`. Like every command: results on stdout, progress and errors on stderr,
exit 1 on an expected failure, 2 on a usage error (a malformed amount, a missing option); the listings
take ``--output table|json|csv``.

``pos drain`` posts the sales batches the API accepted into the POS inbox (``Prefer: respond-async``)
and that are still pending: a serving process drains its own every few milliseconds, so this is for an
installation that runs no drainer, or to empty the inbox before maintenance.

``pos ingest`` sends a file of offline sales in batches, one transaction per batch: sales already
ingested (same ``client_uuid``) are counted as duplicates, so a file may be replayed after a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.decimals import canonical
from retailcore.core.errors import FieldProblem, InvalidReference, RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused
from retailcore.entrypoints.inbox import drain_now
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company
from retailcore.pos import commands as c
from retailcore.pos import services as svc
from retailcore.pos.tables import PosSession, PosTerminal

app = typer.Typer(help="POS: sessions, offline sales, cash movements, close.", no_args_is_help=True)

MAX_BATCH = 1000
"""The largest batch :class:`~retailcore.pos.commands.SalesBatch` takes."""
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

M = TypeVar("M", bound=BaseModel)
SessionArgument = Annotated[str, typer.Argument(help="POS session id (see 'retailcore pos sessions').")]


class SessionState(StrEnum):
    open = "open"
    closed = "closed"


# -- helpers -----------------------------------------------------------------------------------------


def _context(command: str) -> CommandContext:
    return CommandContext(system_principal(f"cli:pos:{command}"))


def _text(value: object) -> str:
    return "" if value is None else escape(str(value))


def _amount(value: str, option: str, *, positive: bool = False) -> Decimal:
    """A money option as a Decimal (never a float): refused as a usage error when malformed."""
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount (like 12.50)", param_hint=option) from None
    if not amount.is_finite():
        raise typer.BadParameter(f"{value!r} is not an amount (like 12.50)", param_hint=option)
    if amount < 0 or (positive and amount == 0):
        raise typer.BadParameter(
            f"{value!r} must be {'greater than' if positive else 'at least'} 0", param_hint=option
        )
    if amount.as_tuple().exponent < -4:  # type: ignore[operator]
        raise typer.BadParameter(f"{value!r} has more than 4 decimals", param_hint=option)
    return amount


def _request(model: type[M], option: str, **fields: Any) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        messages = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise typer.BadParameter(messages, param_hint=option) from None


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a session id", param_hint="SESSION_ID") from None


def _terminal(session: Session, company: Company, ref: str) -> PosTerminal:
    """A terminal of the company by code or id (a read: commands go through the services)."""
    query = select(PosTerminal).where(PosTerminal.company_id == company.id)
    try:
        by_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        by_id = None
    found = session.scalar(query.where(PosTerminal.id == by_id)) if by_id is not None else None
    found = found or session.scalar(query.where(PosTerminal.code == ref.strip()))
    if found is None:
        raise InvalidReference(f"no POS terminal '{ref}' in company {company.code}", code="unknown-terminal")
    return found


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _optional(value: Decimal | None) -> str:
    return canonical(value) if value is not None else ""


def _label(session: Session, pos_session: PosSession) -> str:
    terminal = session.get(PosTerminal, pos_session.terminal_id)
    code = terminal.code if terminal else str(pos_session.terminal_id)
    return f"{code}/{pos_session.number}"


# -- sessions ----------------------------------------------------------------------------------------


@app.command("open")
def open_command(
    terminal: Annotated[str, typer.Option("--terminal", help="Terminal code or id.")],
    company: CompanyOption = None,
    opening_float: Annotated[
        str, typer.Option("--float", help="Cash in the drawer at opening, e.g. 100.00.")
    ] = "0",
) -> None:
    """Open a session on a terminal with its opening float; prints the session id and number."""
    out = output.console()
    amount = _amount(opening_float, "--float")
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            till = _terminal(session, target, terminal)
            body = _request(c.OpenSession, "--float", terminal_id=till.id, opening_float=amount)
            opened = svc.open_session(session, _context("open"), body.terminal_id, body.opening_float)
            session_id, number, code = opened.id, opened.number, till.code
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(
        f"opened session {_text(code)}/{number} with a float of {canonical(amount)} {target.currency}:"
        f" {session_id}",
        highlight=False,
    )


@app.command("sessions")
def sessions(
    company: CompanyOption = None,
    state: Annotated[SessionState | None, typer.Option("--state", help="Only open or closed ones.")] = None,
    terminal: Annotated[str | None, typer.Option("--terminal", help="Terminal code or id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The most recent N sessions.")] = 100,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List sessions, most recently opened last: terminal, number, state, sales, cash check."""
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            query = (
                select(PosSession, PosTerminal.code)
                .join(PosTerminal, PosTerminal.id == PosSession.terminal_id)
                .where(PosSession.company_id == target.id)
            )
            if state is not None:
                query = query.where(PosSession.state == state.value)
            if terminal is not None:
                query = query.where(PosSession.terminal_id == _terminal(session, target, terminal).id)
            query = query.order_by(PosSession.opened_at.desc(), PosSession.id.desc()).limit(limit)
            rows = list(reversed(session.execute(query).all()))
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("id"),
        output.key("terminal"),
        output.key("number"),
        output.key("state"),
        output.key("is_rescue", "rescue", drop=2),
        output.key("sale_count", "sales"),
        output.key("opened_at", "opened"),
        output.key("closed_at", "closed", drop=1),
        output.amount("expected_cash", "expected cash"),
        output.amount("cash_difference", "difference"),
    ]
    listing = output.Listing(
        f"POS sessions of {target.code} ({target.currency})",
        columns,
        [
            [
                row.id,
                code,
                row.number,
                row.state,
                row.is_rescue,
                row.sale_count,
                row.opened_at,
                row.closed_at,
                row.expected_cash,
                row.cash_difference,
            ]
            for row, code in rows
        ],
        empty=f"no POS sessions in {target.code}",
    )
    output.emit(listing, output_format)


TOTAL_COLUMNS = [
    output.key("kind"),
    output.key("key"),
    output.amount("net"),
    output.amount("tax"),
    output.amount("tax_base", "tax base"),
    output.amount("amount"),
]


@app.command("show")
def show(session_id: SessionArgument, output_format: output.OutputOption = output.Format.table) -> None:
    """Show a session with its running totals, per tax, category, tender and COGS (JSON: the session as
    the API serves it; CSV: its running totals)."""
    wanted = _session_id(session_id)
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            pos_session = svc.get_session(session, _context("show").principal, wanted)
            view = svc.session_view(session, pos_session)
            label = _label(session, pos_session)
            expected = view.expected_cash
            if pos_session.state == "open":
                rows = svc.running_totals(session, pos_session.id)
                expected = svc.expected_cash(session, pos_session, rows)
    except RetailcoreError as exc:
        raise refused(exc) from None
    totals = output.Listing(
        "Running totals",
        TOTAL_COLUMNS,
        [[getattr(total, column.name) for column in TOTAL_COLUMNS] for total in view.totals],
        empty="no sales yet",
    )
    if output_format is not output.Format.table:
        output.emit(totals, output_format, document=view.model_dump(mode="json"))
        return
    out = output.console()
    rescue = " (rescue)" if view.is_rescue else ""
    out.print(f"session {_text(label)}{rescue}  [bold]{view.state}[/]", highlight=False)
    details = [
        ("id", str(view.id)),
        ("opened", f"{_when(view.opened_at)} by {view.opened_by}"),
        ("closed", f"{_when(view.closed_at)} by {view.closed_by}" if view.closed_at else ""),
        ("opening float", canonical(view.opening_float)),
        ("sales", str(view.sale_count)),
        ("expected cash" if view.state == "closed" else "expected cash so far", _optional(expected)),
        ("cash difference", _optional(view.cash_difference)),
        ("counted", ", ".join(f"{k} {v}" for k, v in (view.counted or {}).items())),
        ("differences", ", ".join(f"{k} {v}" for k, v in (view.differences or {}).items())),
        ("closing event", str(view.closing_event_id) if view.closing_event_id else ""),
    ]
    for name, value in details:
        if value:
            out.print(f"  {name}: {_text(value)}", highlight=False)
    output.print_table(out, totals)


# -- offline sales -----------------------------------------------------------------------------------


class _BadFile(Exception):
    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def _raw_sales(file: Path) -> list[tuple[str, Any]]:
    """The file's sales as parsed JSON, each with where it is ("sale 3", "line 4"). JSON numbers are
    read as Decimal, never float."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _BadFile(f"{file} is not UTF-8 text") from None
    if file.suffix.lower() in NDJSON_SUFFIXES:
        sales = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                sales.append((f"line {number}", json.loads(line, parse_float=Decimal)))
            except json.JSONDecodeError as exc:
                raise _BadFile(f"{file.name} line {number} is not JSON: {exc.msg}") from None
        return sales
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _BadFile(
            f"{file.name} is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and set(data) == {"sales"}:
        data = data["sales"]
    if not isinstance(data, list):
        raise _BadFile(f'{file.name} must hold a list of sales or {{"sales": [...]}}')
    return [(f"sale {index}", sale) for index, sale in enumerate(data)]


def _validated(raw: list[tuple[str, Any]], batch_size: int) -> list[c.SaleIn]:
    """Every sale checked against ``SaleIn`` before anything is sent: a file with a malformed sale
    sends nothing."""
    sales: list[c.SaleIn] = []
    problems: list[FieldProblem] = []
    for index, (where, sale) in enumerate(raw):
        try:
            sales.append(c.SaleIn.model_validate(sale))
        except ValidationError as exc:
            place = f"sales.{index}" + (f" ({where})" if where.startswith("line") else "")
            place += f" [batch {index // batch_size + 1}, index {index % batch_size}]"
            for error in exc.errors():
                path = ".".join(str(part) for part in error["loc"])
                message = "required" if error["type"] == "missing" else error["msg"]
                problems.append(FieldProblem(f"{place} {path}".rstrip(), message))
    if problems:
        refused = len({p.field.split(" ")[0] for p in problems})
        raise _BadFile(f"{_count(refused, 'malformed sale')} in the file; nothing was sent", problems)
    return sales


@app.command("ingest")
def ingest(
    session_id: SessionArgument,
    file: Annotated[
        Path, typer.Argument(help='JSON (a list of sales or {"sales": [...]}), or NDJSON (.ndjson, .jsonl).')
    ],
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Sales per batch (transaction).")
    ] = 500,
) -> None:
    """Ingest offline sales from a file in batches; replaying the file counts its sales as duplicates."""
    out = output.console()
    err = output.console(stderr=True)
    wanted = _session_id(session_id)
    if not file.is_file():
        raise fail(f"no such file: {file}")
    try:
        sales = _validated(_raw_sales(file), batch_size)
    except _BadFile as exc:
        raise fail(str(exc), problems=exc.problems) from None
    if not sales:
        out.print(f"no sales in {_text(file.name)}", highlight=False)
        return
    runtime = errors.runtime()
    batches = [sales[start : start + batch_size] for start in range(0, len(sales), batch_size)]
    accepted = duplicates = rescued = committed = 0
    targets: dict[uuid.UUID, int] = {}
    cards: list[Any] = []
    progress = output.progress_bar(err)
    with progress:
        task = progress.add_task(f"sending {escape(file.name)}", total=len(sales))
        for number, batch in enumerate(batches, start=1):
            try:
                with transaction(runtime.session_factory) as session:
                    result = svc.ingest_batch(session, _context("ingest"), wanted, batch)
            except RetailcoreError as exc:
                progress.stop()
                first = (number - 1) * batch_size
                last = first + len(batch) - 1
                before = f"{_count(committed, 'batch', 'batches')} ({_count(committed * batch_size, 'sale')})"
                raise fail(
                    f"batch {number} of {len(batches)} (sales {first} to {last} of the file) was refused:"
                    f" {exc}. {before} {'was' if committed == 1 else 'were'} committed before it",
                    problems=[_in_file(problem, number, first) for problem in exc.problems],
                    hint="fix the file and run it again (what was committed counts as duplicates)",
                ) from None
            committed += 1
            accepted += result.accepted
            duplicates += result.duplicates
            rescued += result.rescued
            cards += result.gift_cards
            if result.accepted:
                targets[result.session_id] = targets.get(result.session_id, 0) + result.accepted
            progress.advance(task, len(batch))
    out.print(
        f"{_count(len(sales), 'sale')} in {_count(len(batches), 'batch', 'batches')}:"
        f" {accepted} accepted, {duplicates} duplicates, {rescued} rescued",
        highlight=False,
    )
    for target, count in targets.items():
        if target != wanted:
            out.print(f"{_count(count, 'sale')} went to the rescue session {target}", highlight=False)
    for card in cards:  # a drawn code is shown this once: the till prints it on the card's receipt
        shown = f"code {card.code}" if card.code else "the scanned code"
        out.print(
            f"gift card ****{card.last4} {card.amount} sold by sale {card.client_uuid}: {shown}",
            highlight=False,
        )


def _in_file(problem: FieldProblem, batch: int, first: int) -> FieldProblem:
    """``sales.3.lines.0.product_id`` of batch 2 -> the same, also naming the sale's index in the file."""
    parts = problem.field.split(".", 2)
    if len(parts) >= 2 and parts[0] == "sales" and parts[1].isdigit():
        index = int(parts[1])
        rest = f" {parts[2]}" if len(parts) == 3 else ""
        return FieldProblem(
            f"batch {batch}, sale index {index} (sales.{first + index} of the file){rest}", problem.message
        )
    return FieldProblem(f"batch {batch}: {problem.field}", problem.message)


# -- cash and close ----------------------------------------------------------------------------------


@app.command("cash")
def cash(
    session_id: SessionArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why the cash moves (kept with the movement).")],
    cash_in: Annotated[str | None, typer.Option("--in", help="Cash put into the drawer, e.g. 20.00.")] = None,
    cash_out: Annotated[
        str | None, typer.Option("--out", help="Cash taken out of the drawer, e.g. 50.00.")
    ] = None,
) -> None:
    """Put cash into (--in) or take cash out of (--out) the drawer of an open session."""
    out = output.console()
    wanted = _session_id(session_id)
    if (cash_in is None) == (cash_out is None):
        raise typer.BadParameter("give exactly one of --in and --out", param_hint="--in / --out")
    direction, option, value = ("in", "--in", cash_in) if cash_in is not None else ("out", "--out", cash_out)
    assert value is not None
    body = _request(
        c.CashMovementIn,
        "--reason",
        direction=direction,
        amount=_amount(value, option, positive=True),
        reason=reason,
    )
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            movement = svc.cash_movement(session, _context("cash"), wanted, body)
            pos_session = svc.get_session(session, _context("cash").principal, wanted)
            label = _label(session, pos_session)
            expected = svc.expected_cash(session, pos_session, svc.running_totals(session, pos_session.id))
            movement_id = movement.id
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(
        f"cash {direction} {canonical(body.amount)} in session {_text(label)} ({movement_id});"
        f" expected cash now {canonical(expected)}",
        highlight=False,
    )


@app.command("close")
def close(
    session_id: SessionArgument,
    counted: Annotated[
        list[str] | None,
        typer.Option(
            "--counted",
            help="METHOD=AMOUNT counted per payment method code, e.g. CASH=112.20; repeatable."
            " A cash method not named counts as 0.",
        ),
    ] = None,
) -> None:
    """Close a session with the counted amounts; prints the expected cash and the differences."""
    out = output.console()
    wanted = _session_id(session_id)
    amounts: dict[str, Decimal] = {}
    for value in counted or []:
        code, sep, amount = value.partition("=")
        code = code.strip()
        if not sep or not code:
            raise typer.BadParameter(f"{value!r} is not METHOD=AMOUNT", param_hint="--counted")
        if code in amounts:
            raise typer.BadParameter(f"{code} is counted twice", param_hint="--counted")
        amounts[code] = _amount(amount, "--counted")
    body = _request(c.CloseSession, "--counted", counted=amounts)
    runtime = errors.runtime()
    try:
        # Sales the POS inbox acknowledged are the session's: posted before the drawer is checked.
        drain_now(runtime.session_factory, wanted)
        with transaction(runtime.session_factory) as session:
            closed = svc.close_session(session, _context("close"), wanted, body.counted)
            view = svc.session_view(session, closed)
            label = _label(session, closed)
            currency = session.get(Company, closed.company_id).currency  # type: ignore[union-attr]
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(f"closed session {_text(label)} ({view.id})", highlight=False)
    out.print(f"expected cash: {_optional(view.expected_cash)} {currency}", highlight=False)
    out.print(f"cash difference: {_optional(view.cash_difference)} {currency}", highlight=False)
    for tender, difference in (view.differences or {}).items():
        out.print(f"difference {_text(tender.rstrip('|'))}: {_text(difference)}", highlight=False)
    out.print(f"closing event: {view.closing_event_id}", highlight=False)


@app.command("drain")
def drain(
    session_id: Annotated[
        str | None, typer.Option("--session", help="Only this POS session's pending batches.")
    ] = None,
) -> None:
    """Post the pending batches of the POS inbox (decision 0084); prints what was ingested and refused.
    A refusal is recorded on its batch and raised in the exceptions console: it is not a failure of the
    command."""
    out = output.console()
    wanted = _session_id(session_id) if session_id is not None else None
    runtime = errors.runtime()
    done = drain_now(runtime.session_factory, wanted)
    out.print(
        f"ingested {done.ingested} batches ({done.sales} sales) in {done.batches} transactions;"
        f" refused {done.refused}",
        highlight=False,
    )
    for inbox_id, detail in done.refusals:
        out.print(f"refused {inbox_id}: {_text(detail)}", highlight=False)
