"""``retailcore orders ...``: list, show, fulfil, cancel and invoice orders; list invoices; sweep.

For implementers and back-office staff. Every command runs as the system principal and calls the public
services of :mod:`retailcore.orders.services` and :mod:`retailcore.orders.invoices`, one transaction per
command. Like every command: results on stdout, errors on stderr, exit 1 on an expected failure (2 for
usage errors such as a malformed quantity or date); the listings take ``--output table|json|csv``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.decimals import canonical
from retailcore.core.errors import FieldProblem, InvalidReference, RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named, one_named, store_codes
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.entrypoints.sweeps import sweep_companies
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company, Customer
from retailcore.orders import invoices as inv
from retailcore.orders import services as svc
from retailcore.orders.model import Channel, OrderState
from retailcore.orders.tables import OrderRow

app = typer.Typer(
    help="Orders and invoices: list, show, fulfil, cancel, invoice; sweep what is due.", no_args_is_help=True
)

PAGE_SIZE = 200
"""Rows asked of the services per page while following their cursor."""

OrderArgument = Annotated[str, typer.Argument(help="Order number (SO-000042, T1-0001-00001) or id.")]


# -- helpers -----------------------------------------------------------------------------------------


def _context(command: str) -> CommandContext:
    return CommandContext(system_principal(f"cli:orders:{command}"))


def _text(value: object) -> str:
    """Data in a line of rich markup: escaped, so that "[x]" in a name is printed, not read as markup."""
    return "" if value is None else escape(str(value))


def _quantity(value: str, option: str) -> Decimal:
    try:
        quantity = Decimal(value.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a quantity", param_hint=option) from None
    if not quantity.is_finite() or quantity <= 0:
        raise typer.BadParameter(f"{value!r} is not a positive quantity", param_hint=option)
    return quantity


def _usage(exc: ValidationError, option: str) -> typer.BadParameter:
    messages = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return typer.BadParameter(messages, param_hint=option)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _order_row(session: Session, company: Company, ref: str) -> OrderRow:
    """An order of the company by number or by id (a read: commands go through the services)."""
    return one_named(
        session, company, OrderRow, OrderRow, OrderRow.number, ref, what="order", code="unknown-order"
    )


def _customer_id(session: Session, company: Company, ref: str) -> uuid.UUID:
    """A customer of the company by id or by code."""
    return one_named(
        session, company, Customer.id, Customer, Customer.code, ref, what="customer", code="unknown-customer"
    )


def _customer_codes(session: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Customer.id, Customer.code).where(Customer.id.in_(wanted))).all())


def _money(value: Decimal) -> str:
    return canonical(value)


LINE_COLUMNS = [
    output.key("position", "#"),
    output.key("id", "line id", drop=7),
    output.key("sku"),
    output.text("product_category", "category", drop=5),
    output.amount("quantity", "qty"),
    output.amount("fulfilled_quantity", "fulfilled"),
    output.amount("cancelled_quantity", "cancelled", drop=3),
    output.amount("unit_price", "unit price"),
    output.amount("discount", drop=4),
    output.amount("net", drop=1),
    output.amount("tax", drop=2),
    output.amount("gross"),
    output.amount("cost", drop=6),
]
PAYMENT_COLUMNS = [
    output.key("kind"),
    output.key("payment_method_code", "method"),
    output.key("gateway", drop=2),
    output.text("reference", drop=3),
    output.key("state"),
    output.amount("authorized", drop=1),
    output.amount("captured"),
    output.amount("refunded"),
]


def _order_lines(order: svc.OrderView) -> output.Listing:
    rows = [[getattr(line, column.name) for column in LINE_COLUMNS] for line in order.lines]
    return output.Listing("Lines", LINE_COLUMNS, rows, empty="no lines")


def _print_order(out: Console, order: svc.OrderView, stores: dict[uuid.UUID, str], customer: str) -> None:
    store = stores.get(order.store_id, str(order.store_id)) if order.store_id else ""
    out.print(
        f"order {_text(order.number)}  {order.channel}/{order.fulfillment_mode}  [bold]{order.state}[/]",
        highlight=False,
    )
    details = [
        ("id", str(order.id)),
        ("store", store),
        ("customer", customer),
        ("ordered at", order.ordered_at.isoformat() if order.ordered_at else ""),
        ("currency", order.currency + (" (prices include tax)" if order.prices_include_tax else "")),
        (
            "net / tax / gross",
            f"{_money(order.net_total)} / {_money(order.tax_total)} / {_money(order.gross_total)}",
        ),
        ("paid", _money(order.paid_amount)),
        ("payment due by", order.payment_due_at.isoformat() if order.payment_due_at else ""),
        ("deposit", _money(order.deposit_balance)),
        ("receivable", _money(order.receivable_balance)),
        ("change given", _money(order.change_given) if order.change_given else ""),
        ("invoice", order.invoice_number or ""),
        ("POS session", str(order.pos_session_id) if order.pos_session_id else ""),
        ("reason", order.reason),
    ]
    for label, value in details:
        if value:
            out.print(f"  {label}: {_text(value)}", highlight=False)

    output.print_table(out, _order_lines(order))
    payments = [[getattr(payment, column.name) for column in PAYMENT_COLUMNS] for payment in order.payments]
    output.print_table(out, output.Listing("Payments", PAYMENT_COLUMNS, payments, empty="no payments"))


def _summary(order: svc.OrderView) -> str:
    return (
        f"order {_text(order.number)} is {order.state}: gross {_money(order.gross_total)},"
        f" paid {_money(order.paid_amount)}, deposit {_money(order.deposit_balance)},"
        f" receivable {_money(order.receivable_balance)} {order.currency}"
    )


# -- commands ----------------------------------------------------------------------------------------


@app.command("list")
def list_command(
    company: CompanyOption = None,
    channel: Annotated[Channel | None, typer.Option("--channel", help="Only this channel.")] = None,
    state: Annotated[OrderState | None, typer.Option("--state", help="Only orders in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many orders.")] = 50,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List orders, oldest first: number, channel, mode, state, store and balances."""
    err = output.console(stderr=True)
    runtime = errors.runtime()
    orders: list[svc.OrderView] = []
    more = False
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            cursor: uuid.UUID | None = None
            while len(orders) < limit:
                page, cursor = svc.list_orders(
                    session,
                    _context("list").principal,
                    target,
                    channel=channel.value if channel else None,
                    state=state.value if state else None,
                    limit=min(PAGE_SIZE, limit - len(orders)),
                    cursor=cursor,
                )
                orders.extend(page)
                if cursor is None:
                    break
            more = cursor is not None
            stores = store_codes(session, target)
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("number"),
        output.key("channel"),
        output.key("fulfillment_mode", "mode", drop=4),
        output.key("state"),
        output.key("store", drop=2),
        output.amount("gross_total", "gross"),
        output.amount("paid_amount", "paid"),
        output.amount("deposit_balance", "deposit", drop=3),
        output.amount("receivable_balance", "receivable"),
        output.key("invoice_number", "invoice", drop=1),
    ]
    rows = [
        [
            order.number,
            order.channel,
            order.fulfillment_mode,
            order.state,
            stores.get(order.store_id) if order.store_id else None,
            order.gross_total,
            order.paid_amount,
            order.deposit_balance,
            order.receivable_balance,
            order.invoice_number,
        ]
        for order in orders
    ]
    title = f"Orders of {target.code} ({target.currency})"
    output.emit(output.Listing(title, columns, rows, empty=f"no orders in {target.code}"), output_format)
    if more:
        err.print(f"showing the first {len(orders)} orders; raise --limit for more", highlight=False)


@app.command("show")
def show(
    order: OrderArgument,
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Show an order with its lines and payments (JSON: the order as the API serves it; CSV: its lines)."""
    out = output.console()
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            row = _order_row(session, target, order)
            found = svc.get_order(session, _context("show").principal, target, row.id)
            stores = store_codes(session, target)
            customers = _customer_codes(session, {found.customer_id})
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        output.emit(_order_lines(found), output_format, document=found.model_dump(mode="json"))
        return
    customer = customers.get(found.customer_id, "") if found.customer_id else ""
    _print_order(out, found, stores, customer)


@app.command("fulfil")
def fulfil(
    order: OrderArgument,
    company: CompanyOption = None,
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help="LINE=QTY: ship or hand over QTY of a line (its id, or its position 1, 2...); repeatable."
            " Without --line: every open quantity.",
        ),
    ] = None,
) -> None:
    """Ship or hand over an order: the lines named, or every open quantity."""
    out = output.console()
    wanted: list[tuple[str, Decimal]] = []
    for value in line or []:
        ref, sep, quantity = value.partition("=")
        if not sep or not ref.strip():
            raise typer.BadParameter(f"{value!r} is not LINE=QTY", param_hint="--line")
        wanted.append((ref.strip(), _quantity(quantity, "--line")))
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            row = _order_row(session, target, order)
            body = svc.Fulfil()
            if wanted:
                current = svc.get_order(session, _context("fulfil").principal, target, row.id)
                by_ref = {str(ln.id): ln.id for ln in current.lines}
                by_ref.update({str(ln.position): ln.id for ln in current.lines})
                lines = []
                for ref, quantity in wanted:
                    as_id = _as_uuid(ref)
                    line_id = by_ref.get(str(as_id) if as_id is not None else ref)
                    if line_id is None:
                        raise InvalidReference(
                            f"order {row.number} has no line '{ref}'", code="unknown-order-line"
                        )
                    lines.append({"line_id": line_id, "quantity": quantity})
                try:
                    body = svc.Fulfil.model_validate({"lines": lines})
                except ValidationError as exc:
                    raise _usage(exc, "--line") from None
            done = svc.fulfill(session, _context("fulfil"), target, row.id, body)
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(_summary(done), highlight=False)


@app.command("cancel")
def cancel(
    order: OrderArgument,
    company: CompanyOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept on the order).")] = "",
) -> None:
    """Cancel an order (what has not left yet): reservations released, the deposit given back."""
    out = output.console()
    try:
        body = svc.CancelOrder(reason=reason)
    except ValidationError as exc:
        raise _usage(exc, "--reason") from None
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            row = _order_row(session, target, order)
            done = svc.cancel(session, _context("cancel"), target, row.id, body)
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(_summary(done), highlight=False)


@app.command("invoice")
def invoice(
    order: OrderArgument,
    company: CompanyOption = None,
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Customer id or code, for an order without a customer yet."),
    ] = None,
) -> None:
    """Invoice a fulfilled order; prints the invoice number."""
    out = output.console()
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            row = _order_row(session, target, order)
            customer_id = _customer_id(session, target, customer) if customer else None
            issued = svc.invoice_order(
                session, _context("invoice"), target, row.id, svc.InvoiceOrder(customer_id=customer_id)
            )
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(
        f"invoice {_text(issued.number)} for order {_text(issued.order_number)}:"
        f" gross {_money(issued.gross_total)}, due {_money(issued.amount_due)} {issued.currency}",
        highlight=False,
    )


@app.command("invoices")
def invoices(
    company: CompanyOption = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id or code.")] = None,
    date_from: Annotated[dt.date | None, date_option("--from", help="From this date.")] = None,
    date_to: Annotated[dt.date | None, date_option("--to", help="Up to this date.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many invoices.")] = 500,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List invoices, oldest first: number, date, order, customer, gross, due, posting."""
    err = output.console(stderr=True)
    runtime = errors.runtime()
    rows: list[inv.InvoiceView] = []
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            customer_id = _customer_id(session, target, customer) if customer else None
            cursor: uuid.UUID | None = None
            while len(rows) < limit:
                page, cursor = inv.list_invoices(
                    session,
                    _context("invoices").principal,
                    target,
                    customer_id=customer_id,
                    date_from=date_from,
                    date_to=date_to,
                    limit=min(PAGE_SIZE, limit - len(rows)),
                    cursor=cursor,
                )
                rows.extend(page)
                if cursor is None:
                    break
            more = cursor is not None
            customers = _customer_codes(session, {row.customer_id for row in rows})
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("number"),
        output.key("date"),
        output.key("order_number", "order"),
        output.key("customer"),
        output.amount("gross_total", "gross"),
        output.amount("amount_due", "due"),
        output.key("currency", drop=2),
        output.key("posting", drop=1),
    ]
    listing = output.Listing(
        f"Invoices of {target.code}",
        columns,
        [
            [
                row.number,
                row.date,
                row.order_number,
                customers.get(row.customer_id, row.customer_id),
                row.gross_total,
                row.amount_due,
                row.currency,
                row.posting,
            ]
            for row in rows
        ],
        empty=f"no invoices in {target.code}",
    )
    output.emit(listing, output_format)
    if more:
        err.print(f"showing the first {len(rows)} invoices; raise --limit for more", highlight=False)


@app.command("sweep")
def sweep(
    company: Annotated[
        str | None, typer.Option("--company", help="Company code or id; default: every company.")
    ] = None,
) -> None:
    """Cancel the unpaid orders whose payment is overdue and expire the reservations that are due (what
    'retailcore serve' does every RETAILCORE_SWEEP_INTERVAL_SECONDS), company by company."""
    out = output.console()
    runtime = errors.runtime()
    try:
        results = sweep_companies(runtime.session_factory, company=company, actor="cli:orders:sweep")
    except RetailcoreError as exc:
        raise refused(exc) from None
    for done in results:
        if done.error is None:
            cancelled = ", ".join(done.cancelled) or "none"
            cards = f", expired {len(done.gift_cards)} gift cards" if done.gift_cards else ""
            if done.promotions_activated or done.promotions_expired or done.price_changes:
                cards += (
                    f", promotions activated {len(done.promotions_activated)}, expired"
                    f" {len(done.promotions_expired)}, price changes applied {len(done.price_changes)}"
                )
            out.print(
                f"{_text(done.company_code)}: cancelled {len(done.cancelled)} unpaid orders"
                f" ({_text(cancelled)}), expired {len(done.expired)} reservations{cards}",
                highlight=False,
            )
    failures = [FieldProblem(done.company_code, done.error) for done in results if done.error is not None]
    if failures:
        raise errors.fail(
            f"the sweep failed in {len(failures)} of {len(results)} companies (the others were swept)",
            problems=failures,
        )
