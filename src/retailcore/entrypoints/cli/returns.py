"""``retailcore returns ...``: list and show returns; show the disposition rules.

For back-office staff. Every command runs as the system principal and reads through the public services
of :mod:`retailcore.returns.services`, one session per command. Results on stdout, errors on stderr,
exit 1 on an expected failure; the commands take ``--output table|json|csv``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import typer
from rich.markup import escape
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, system_principal
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named, one_named, store_codes
from retailcore.entrypoints.cli.errors import refused
from retailcore.masterdata.tables import Company
from retailcore.returns import commands as c
from retailcore.returns import dispositions as rules
from retailcore.returns import services as svc
from retailcore.returns.tables import RETURN_STATUSES, ReturnRow

app = typer.Typer(help="Returns: list and show; the disposition rules.", no_args_is_help=True)

PAGE_SIZE = 200
ReturnArgument = Annotated[str, typer.Argument(help="Return number (RT-000042) or id.")]
StatusOption = Annotated[
    Literal[RETURN_STATUSES] | None,  # type: ignore[valid-type]
    typer.Option("--status", help="Only returns in this status."),
]


def _principal() -> Principal:
    return system_principal("cli:returns")


def _return_row(session: Session, company: Company, ref: str) -> ReturnRow:
    return one_named(
        session, company, ReturnRow, ReturnRow, ReturnRow.number, ref, what="return", code="unknown-return"
    )


@app.command("list")
def list_command(
    company: CompanyOption = None,
    status: StatusOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many returns.")] = 50,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List returns, oldest first: number, order, channel, store, reason, status and refund."""
    err = output.console(stderr=True)
    runtime = errors.runtime()
    found: list[c.ReturnView] = []
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            cursor: uuid.UUID | None = None
            while len(found) < limit:
                page, cursor = svc.list_returns(
                    session,
                    _principal(),
                    target,
                    status=status,
                    limit=min(PAGE_SIZE, limit - len(found)),
                    cursor=cursor,
                )
                found.extend(page)
                if cursor is None:
                    break
            stores = store_codes(session, target)
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("number"),
        output.key("order_number", "order"),
        output.key("channel", drop=3),
        output.key("store", drop=2),
        output.key("reason", drop=1),
        output.key("status"),
        output.amount("refunded_total", "refunded"),
        output.amount("restocking_fee", "fee", drop=4),
    ]
    rows = [
        [
            item.number,
            item.order_number or ("no receipt" if item.no_receipt else None),
            item.channel,
            stores.get(item.store_id),
            item.reason,
            item.status,
            item.refunded_total,
            item.restocking_fee,
        ]
        for item in found
    ]
    title = f"Returns of {target.code} ({target.currency})"
    output.emit(output.Listing(title, columns, rows, empty=f"no returns in {target.code}"), output_format)
    if cursor is not None:
        err.print(f"showing the first {len(found)} returns; raise --limit for more", highlight=False)


LINE_COLUMNS = [
    output.key("position", "#"),
    output.key("sku"),
    output.text("product_category", "category", drop=4),
    output.amount("quantity", "qty"),
    output.amount("received_quantity", "received"),
    output.amount("refunded_quantity", "refunded"),
    output.key("condition"),
    output.amount("cost", drop=3),
    output.amount("refunded_net", "net", drop=1),
    output.amount("refunded_tax", "tax", drop=2),
]


@app.command("show")
def show(
    ref: ReturnArgument,
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Show a return with its lines (JSON: the return as the API serves it; CSV: its lines)."""
    out = output.console()
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            row = _return_row(session, target, ref)
            found = svc.get_return(session, _principal(), target, row.id)
            stores = store_codes(session, target)
    except RetailcoreError as exc:
        raise refused(exc) from None
    rows = [[getattr(line, column.name) for column in LINE_COLUMNS] for line in found.lines]
    lines = output.Listing("Lines", LINE_COLUMNS, rows, empty="no lines")
    if output_format is not output.Format.table:
        output.emit(lines, output_format, document=found.model_dump(mode="json"))
        return
    out.print(f"return {escape(found.number)}  {found.channel}  [bold]{found.status}[/]", highlight=False)
    details = [
        ("id", str(found.id)),
        ("order", found.order_number or ("no receipt" if found.no_receipt else "")),
        ("store", stores.get(found.store_id, str(found.store_id))),
        ("reason", found.reason),
        ("refunded", f"{found.refunded_total} {found.currency}"),
        ("restocking fee", str(found.restocking_fee) if found.restocking_fee else ""),
        ("credit note", found.credit_note_number or ""),
        ("by", found.created_by),
        ("note", found.note),
    ]
    for label, value in details:
        if value:
            out.print(f"  {label}: {escape(value)}", highlight=False)
    output.print_table(out, lines)


@app.command("dispositions")
def dispositions(
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Where returned goods go, by condition: the kind (and code) of location at the receiving store,
    the account role they are valued on, and whether the rule is the default."""
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            found = rules.dispositions(session, target)
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("condition"),
        output.key("location_kind", "location"),
        output.key("location_code", "code"),
        output.key("valuation_role", "valued on", drop=1),
        output.key("default", drop=2),
    ]
    listing = output.Listing(
        f"Return dispositions of {target.code}",
        columns,
        [
            [
                rule.condition,
                rule.location_kind,
                rule.location_code,
                rule.valuation_role,
                "yes" if rule.default else "no",
            ]
            for rule in found.rules
        ],
        empty="no rules",
    )
    output.emit(listing, output_format, document=found.model_dump(mode="json"))
