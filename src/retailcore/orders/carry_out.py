"""POS sales as orders: channel ``pos``, fulfillment ``carry_out``, paid and handed over at once.

The POS context prices and taxes a terminal's sales, moves their goods and keeps its session totals;
it hands the sales to :func:`record_carry_out`, which writes them into the one order model (orders,
lines, payments) with set-based inserts, so a batch of a thousand sales is a handful of statements.
A POS sale is born ``fulfilled``; one the customer asked an invoice for is born ``invoiced``, and its
revenue goes to the customer's receivable (:mod:`retailcore.orders.invoices`) instead of the session.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.bulk import insert_values
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of
from retailcore.core.ids import new_ids
from retailcore.orders import tables as t
from retailcore.orders.model import OrderState

ZERO = Decimal(0)


@dataclass
class CarryOutSale:
    """One priced POS sale. ``lines`` and ``tenders`` are what the session totals are built from:
    lines ``{product_id, sku, category, tax_category, quantity, unit_price, discount, discounts, net, tax,
    gross, taxes: [{code, rate_percent, base, amount}], cost, location_id}`` (``discounts``: the records
    of :mod:`retailcore.orders.discounts`, or None) and tenders ``{payment_method_code,
    kind, gateway, amount}`` (after change); ids are UUIDs, amounts Decimals (in ``taxes``, decimal
    strings, as stored)."""

    order_id: uuid.UUID
    number: str
    client_uuid: uuid.UUID
    sold_at: dt.datetime
    store_id: uuid.UUID
    pos_session_id: uuid.UUID
    currency: str
    prices_include_tax: bool
    net: Decimal
    tax: Decimal
    gross: Decimal
    change: Decimal
    lines: list[dict[str, Any]]
    tenders: list[dict[str, Any]]
    customer_id: uuid.UUID | None = None
    invoiced: bool = False
    booked_on: dt.date | None = None
    """The day its goods and books land on; the local day of ``sold_at`` unless the till's clock was
    not believed or that day is locked (docs/decisions/0015)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def paid(self) -> Decimal:
        """What was paid at the till (on account is a claim, not a payment)."""
        return sum((t["amount"] for t in self.tenders if t["kind"] != "on_account"), ZERO)


def known_client_uuids(session: Session, company_id: uuid.UUID, client_uuids: Iterable[uuid.UUID]) -> set:
    """The POS sale ids already recorded (a replayed sale is skipped)."""
    wanted = list(client_uuids)
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(t.OrderRow.client_uuid).where(
                t.OrderRow.company_id == company_id, one_of(session, t.OrderRow.client_uuid, wanted)
            )
        )
    )


ORDER_COLUMNS = (
    "id", "company_id", "number", "channel", "fulfillment_mode", "state", "store_id", "customer_id",
    "currency", "prices_include_tax", "net_total", "tax_total", "gross_total", "reason",
    "deposit_balance", "receivable_balance", "change_given", "pos_session_id", "client_uuid",
    "ordered_at", "payment_due_at", "created_by", "updated_by", "created_at", "updated_at", "version",
    "shipping_amount", "shipping_discount", "shipping_discounts", "shipping_tax_category", "shipping_method",
    "shipping_net", "shipping_tax", "shipping_taxes",
)  # fmt: skip
SHIPPING = (None,) * 8
"""A POS sale is not shipped (decision 0057): no shipping columns."""
LINE_COLUMNS = (
    "id", "company_id", "order_id", "position", "product_id", "sku", "product_category", "quantity",
    "unit_price", "discount", "discounts", "tax_category", "net", "tax", "gross", "taxes",
    "fulfilled_quantity", "cancelled_quantity", "cost", "location_id", "reservation_id",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "id", "company_id", "order_id", "position", "kind", "payment_method_code", "gateway", "reference",
    "authorized", "captured", "refunded", "state",
)  # fmt: skip


def record_carry_out(
    session: Session, company_id: uuid.UUID, sales: Sequence[CarryOutSale], actor: str
) -> None:
    """Write the sales, their lines and their payments: three set-based inserts (COPY on PostgreSQL),
    built as value lists in column order (a batch is tens of thousands of values)."""
    if not sales:
        return
    now = utcnow()
    fulfilled, invoiced = OrderState.fulfilled.value, OrderState.invoiced.value
    orders: list[list[Any]] = []
    lines: list[list[Any]] = []
    payments: list[list[Any]] = []
    line_ids = iter(new_ids(sum(len(sale.lines) for sale in sales)))
    payment_ids = iter(new_ids(sum(len(sale.tenders) for sale in sales)))
    for sale in sales:
        order_id = sale.order_id
        orders.append(
            [
                order_id, company_id, sale.number, "pos", "carry_out",
                invoiced if sale.invoiced else fulfilled,
                sale.store_id, sale.customer_id, sale.currency, sale.prices_include_tax,
                sale.net, sale.tax, sale.gross, "", ZERO,
                sale.gross - sale.paid if sale.invoiced else ZERO,
                sale.change, sale.pos_session_id, sale.client_uuid, sale.sold_at,
                None,  # paid at the till: never waits for a payment
                actor, actor, now, now, 1, *SHIPPING,
            ]
        )  # fmt: skip
        for position, line in enumerate(sale.lines, start=1):
            quantity = line["quantity"]
            lines.append(
                [
                    next(line_ids), company_id, order_id, position, line["product_id"], line["sku"],
                    line["category"], quantity, line["unit_price"], line["discount"], line["discounts"],
                    line["tax_category"], line["net"], line["tax"], line["gross"], line["taxes"],
                    quantity, ZERO, line["cost"], line["location_id"], None,
                ]
            )  # fmt: skip
        for position, tender in enumerate(sale.tenders):
            amount, kind, code = tender["amount"], tender["kind"], tender["payment_method_code"]
            payments.append(
                [
                    next(payment_ids), company_id, order_id, position, kind, code, tender["gateway"],
                    tender.get("reference") or f"{code or kind}#{position}", amount, amount, ZERO,
                    "captured" if kind == "card" else "accepted",
                ]
            )  # fmt: skip
    insert_values(session, t.OrderRow.__table__, ORDER_COLUMNS, orders)
    insert_values(session, t.OrderLineRow.__table__, LINE_COLUMNS, lines)
    insert_values(session, t.OrderPaymentRow.__table__, PAYMENT_COLUMNS, payments)


def session_sales(session: Session, pos_session_id: uuid.UUID) -> list[CarryOutSale]:
    """The session's sales as recorded (for audits and the totals' recomputation; never on close)."""
    rows = list(session.scalars(select(t.OrderRow).where(t.OrderRow.pos_session_id == pos_session_id)))
    ids = [row.id for row in rows]
    # Invoiced at the till (posted to receivable), as opposed to an invoice asked for afterwards.
    at_till = set(
        session.scalars(
            select(t.InvoiceRow.order_id).where(
                t.InvoiceRow.order_id.in_(ids), t.InvoiceRow.posting == "receivable"
            )
        )
    )
    lines: dict[uuid.UUID, list[dict[str, Any]]] = {row.id: [] for row in rows}
    tenders: dict[uuid.UUID, list[dict[str, Any]]] = {row.id: [] for row in rows}
    if ids:
        for line in session.scalars(
            select(t.OrderLineRow).where(t.OrderLineRow.order_id.in_(ids)).order_by(t.OrderLineRow.position)
        ):
            lines[line.order_id].append(
                {
                    "product_id": line.product_id,
                    "sku": line.sku,
                    "category": line.product_category,
                    "tax_category": line.tax_category,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "discount": line.discount,
                    "discounts": line.discounts,
                    "net": line.net,
                    "tax": line.tax,
                    "gross": line.gross,
                    "taxes": line.taxes,
                    "cost": line.cost,
                    "location_id": line.location_id,
                }
            )
        for payment in session.scalars(
            select(t.OrderPaymentRow)
            .where(t.OrderPaymentRow.order_id.in_(ids))
            .order_by(t.OrderPaymentRow.position)
        ):
            tenders[payment.order_id].append(
                {
                    "payment_method_code": payment.payment_method_code,
                    "kind": payment.kind,
                    "gateway": payment.gateway,
                    "amount": payment.captured - payment.refunded,
                }
            )
    return [
        CarryOutSale(
            order_id=row.id,
            number=row.number,
            client_uuid=row.client_uuid,  # type: ignore[arg-type]
            sold_at=row.ordered_at,  # type: ignore[arg-type]
            store_id=row.store_id,  # type: ignore[arg-type]
            pos_session_id=pos_session_id,
            currency=row.currency,
            prices_include_tax=row.prices_include_tax,
            net=row.net_total,
            tax=row.tax_total,
            gross=row.gross_total,
            change=row.change_given,
            lines=lines[row.id],
            tenders=tenders[row.id],
            customer_id=row.customer_id,
            invoiced=row.id in at_till,
        )
        for row in rows
    ]
