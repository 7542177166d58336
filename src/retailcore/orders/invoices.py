"""Invoices: numbered per company and year without gaps, issued once, never changed.

* A B2B order (or any order with a customer) is invoiced once fulfilled: its revenue was recognised at
  fulfilment against deposits and receivable, so the invoice is the numbered claim (``document``).
* A POS customer who asks for an invoice at the till gets one with the sale: that sale's revenue and
  tax are posted to the customer's receivable by the invoice (``receivable``), not with the session's
  aggregated sales; what they paid at the till settles that receivable at the session's close.

Numbers (``INV-2026-000042``) come from a counter row per company and year that the issuing transaction
locks with its ``UPDATE``: a rolled-back issue gives its number back, so the sequence has no gaps.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.adapters.sequences import take_next
from retailcore.core.currencies import round_to_currency
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import NotFound
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory.costing import income_accounts
from retailcore.masterdata.tables import Company
from retailcore.orders import tables as t
from retailcore.orders.discounts import contra_lines, discount_net, posting_mode

ZERO = Decimal(0)


def revenue_lines(
    lines: Iterable[tuple[Any, ...]], currency: str, role: str = "sales_revenue"
) -> list[dict[str, Any]]:
    """Revenue and tax per product category and tax code, as the posting rules read them.

    ``lines`` are ``(category, net, taxes)`` with taxes ``[{code, base, amount}]``, or ``(category, net,
    taxes, income_account)`` where the line's product has its own income account (decision 0061): its
    revenue is then summed apart and the item names the account for ``sales_revenue``. A line's net
    counts once (with its first tax); each of its taxes counts on its own code with its base. A line
    without taxes (a zero-rated rule) counts its net on its category alone, without a tax code, as the
    POS close does. ``role`` is the role the own account stands in for (``sales_returns`` for refunds)."""
    totals: dict[tuple[str, str, str | None], list[Decimal]] = {}
    untaxed: dict[tuple[str, str | None], Decimal] = {}
    for category, net, taxes, *own in lines:
        account = own[0] if own else None
        if not taxes:
            untaxed[(category, account)] = untaxed.get((category, account), ZERO) + net
        for index, tax in enumerate(taxes):
            sums = totals.setdefault((category, tax["code"], account), [ZERO, ZERO, ZERO])
            sums[0] += net if index == 0 else ZERO
            sums[1] += Decimal(str(tax["amount"]))
            sums[2] += Decimal(str(tax["base"]))
    return [
        {
            "product_category": category,
            "tax_code": code,
            "net": str(round_to_currency(net, currency)),
            "tax": str(round_to_currency(tax, currency)),
            "tax_base": str(round_to_currency(base, currency)),
            **({"accounts": {role: account}} if account else {}),
        }
        for (category, code, account), (net, tax, base) in totals.items()
    ] + [
        {
            "product_category": category,
            "net": str(round_to_currency(net, currency)),
            "tax": "0",
            **({"accounts": {role: account}} if account else {}),
        }
        for (category, account), net in untaxed.items()
    ]


def discount_lines(
    lines: Iterable[Mapping[str, Any]], prices_include_tax: bool, currency: str
) -> list[dict[str, str]]:
    """The ``discounts`` list a contra-posting company's sales event carries (decision 0050)."""
    return contra_lines(
        (
            (
                line["product_category"],
                discount_net(Decimal(str(line["discount"])), line["taxes"], prices_include_tax, currency),
            )
            for line in lines
            if line["discount"]
        ),
        currency,
    )


def take_number(session: Session, company_id: uuid.UUID, prefix: str) -> int:
    """The next number of a company's counter (``SO``, ``INV2026``), without gaps."""
    return take_next(session, t.OrderSequence.__table__, {"company_id": company_id, "prefix": prefix})


def issue(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order: t.OrderRow,
    *,
    lines: Sequence[Mapping[str, Any]],
    date: dt.date,
    posting: str,
    cogs: Sequence[Mapping[str, Any]] | None = None,
) -> t.InvoiceRow:
    """Number and record the invoice of an order; ``InvoiceIssued`` posts it when ``posting`` is
    ``receivable``. ``lines`` are the order's lines ``{sku, product_category, quantity, unit_price,
    discount, net, tax, gross, taxes}``; they are kept on the invoice as written."""
    assert order.customer_id is not None
    currency = order.currency
    number = f"INV-{date.year}-{take_number(session, company.id, f'INV{date.year}'):06d}"
    kept = [
        {
            key: str(line[key])
            for key in (
                "sku",
                "product_category",
                "quantity",
                "unit_price",
                "discount",
                "net",
                "tax",
                "gross",
            )
        }
        | {"taxes": [dict(tax) for tax in line["taxes"]]}
        for line in lines
    ]
    by_code: dict[str, list[Decimal]] = {}
    for line in lines:
        for tax in line["taxes"]:
            sums = by_code.setdefault(tax["code"], [ZERO, ZERO])
            sums[0] += Decimal(str(tax["base"]))
            sums[1] += Decimal(str(tax["amount"]))
    taxes = [
        {
            "code": code,
            "base": str(round_to_currency(base, currency)),
            "amount": str(round_to_currency(amount, currency)),
        }
        for code, (base, amount) in sorted(by_code.items())
    ]
    # A product's own income account (decision 0061): a till's invoice credits it as the close would.
    income = income_accounts(
        session, {uuid.UUID(str(line["product_id"])) for line in lines if line.get("product_id") is not None}
    )
    sales = revenue_lines(
        (
            (
                line["product_category"],
                Decimal(str(line["net"])),
                line["taxes"],
                income.get(uuid.UUID(str(line["product_id"])))
                if line.get("product_id") is not None
                else None,
            )
            for line in lines
        ),
        currency,
    )
    contra = (
        discount_lines(lines, order.prices_include_tax, currency)
        if posting == "receivable" and posting_mode(session, company.id) == "contra"
        else []
    )
    invoice_id = new_id()
    event = record(
        session,
        ctx,
        type="InvoiceIssued",
        company_id=company.id,
        aggregate_type="Invoice",
        aggregate_id=invoice_id,
        payload={
            "date": date,
            "number": number,
            "reference": number,
            "order_id": order.id,
            "order_ref": order.number,
            "customer_id": order.customer_id,
            "currency": currency,
            "channel": order.channel,
            "store_id": order.store_id,
            "posting": posting,
            "net": round_to_currency(order.net_total, currency),
            "tax": round_to_currency(order.tax_total, currency),
            "gross": round_to_currency(order.gross_total, currency),
            "sales": sales,
            **({"discounts": contra} if contra else {}),
            # A POS sale's COGS when its invoice posts it (pos/receivables.py, decision 0060).
            **({"cogs": list(cogs)} if cogs else {}),
        },
        store_id=order.store_id,
    )
    invoice = t.InvoiceRow(
        id=invoice_id,
        company_id=company.id,
        number=number,
        order_id=order.id,
        customer_id=order.customer_id,
        date=date,
        currency=currency,
        net_total=order.net_total,
        tax_total=order.tax_total,
        gross_total=order.gross_total,
        posting=posting,
        lines=kept,
        taxes=taxes,
        event_id=event.id,
        created_at=utcnow(),
        created_by=ctx.actor,
    )
    session.add(invoice)
    session.flush()
    return invoice


# -- reading -------------------------------------------------------------------------------------------


class InvoiceView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    order_id: uuid.UUID
    order_number: str
    channel: str
    customer_id: uuid.UUID
    date: dt.date
    currency: str
    net_total: DecimalStr
    tax_total: DecimalStr
    gross_total: DecimalStr
    amount_due: DecimalStr
    """What the customer still owes on the order (delivered and not yet paid)."""
    posting: str
    lines: list[dict[str, Any]]
    taxes: list[dict[str, Any]]
    event_id: uuid.UUID
    created_at: dt.datetime
    created_by: str


def view(session: Session, invoice: t.InvoiceRow) -> InvoiceView:
    order = session.get(t.OrderRow, invoice.order_id)
    assert order is not None
    cur = invoice.currency
    return InvoiceView(
        id=invoice.id,
        company_id=invoice.company_id,
        number=invoice.number,
        order_id=invoice.order_id,
        order_number=order.number,
        channel=order.channel,
        customer_id=invoice.customer_id,
        date=invoice.date,
        currency=cur,
        net_total=round_to_currency(invoice.net_total, cur),
        tax_total=round_to_currency(invoice.tax_total, cur),
        gross_total=round_to_currency(invoice.gross_total, cur),
        amount_due=round_to_currency(order.receivable_balance, cur),
        posting=invoice.posting,
        lines=invoice.lines,
        taxes=invoice.taxes,
        event_id=invoice.event_id,
        created_at=invoice.created_at,
        created_by=invoice.created_by,
    )


def get_invoice(
    session: Session, principal: Principal, company: Company, invoice_id: uuid.UUID
) -> InvoiceView:
    invoice = session.get(t.InvoiceRow, invoice_id)
    if invoice is None or invoice.company_id != company.id:
        raise NotFound(f"no invoice {invoice_id}")
    order = session.get(t.OrderRow, invoice.order_id)
    if order is None or not principal.sees_store(order.store_id):
        raise NotFound(f"no invoice {invoice_id}")
    return view(session, invoice)


def list_invoices(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    customer_id: uuid.UUID | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[InvoiceView], uuid.UUID | None]:
    """Invoices oldest first, ``limit`` at a time after ``cursor``."""
    query = select(t.InvoiceRow).where(t.InvoiceRow.company_id == company.id)
    if customer_id is not None:
        query = query.where(t.InvoiceRow.customer_id == customer_id)
    if date_from is not None:
        query = query.where(t.InvoiceRow.date >= date_from)
    if date_to is not None:
        query = query.where(t.InvoiceRow.date <= date_to)
    if principal.store_id is not None:
        query = query.join(t.OrderRow, t.OrderRow.id == t.InvoiceRow.order_id).where(
            t.OrderRow.store_id == principal.store_id
        )
    rows, next_cursor = keyset_page(session, query, t.InvoiceRow.id, limit, cursor)
    return [view(session, row) for row in rows], next_cursor
