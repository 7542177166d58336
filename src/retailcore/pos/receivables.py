"""Customers and invoices at the till (decision 0060).

* **COGS placement.** A POS sale invoiced at the till has its revenue posted by its invoice
  (``InvoiceIssued``, decision 0009). Its COGS follows the company's ``pos_invoiced_cogs`` setting:
  ``at_close`` (the default: the session's closing entry, with the other sales' COGS) or
  ``with_invoice`` (a ``cogs`` list in the invoice's payload, posted in the invoice's entry). The choice
  is taken when the sale is ingested, and recorded per order in ``pos_invoice_cogs`` when the invoice
  takes it: the close leaves those sales' COGS out and the stock-ledger check no longer counts it as
  awaiting the close. A sale's COGS is posted by exactly one of the two.
* **Receivable per customer at the close.** What a payment method flagged
  ``split_receivable_per_customer`` pays at the till on an invoiced sale is kept in the session's totals
  under the customer (``receivable`` total keyed by the customer's id, instead of ``""``); the close posts
  one receivable credit per customer (``customer_payments``), carrying the customer dimension, so the
  customer's statement shows the invoice settled.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.accounting.posting.engine import select_rule
from retailcore.accounting.services import rules_for
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory.services import STOCK_ROLE
from retailcore.masterdata.commands import CompanyScoped
from retailcore.masterdata.tables import Company, PaymentMethod
from retailcore.orders.carry_out import CarryOutSale
from retailcore.pos import revenue
from retailcore.pos.tables import PosCogsSettings, PosInvoiceCogs

ZERO = Decimal(0)
Placement = Literal["at_close", "with_invoice"]
WITH_INVOICE = "cogs_with_invoice"
"""The flag a sale carries in ``extra`` while its COGS is posted by its invoice."""


class SetCogsPlacement(CompanyScoped):
    pos_invoiced_cogs: Placement = Field(
        description="Where the COGS of a POS sale invoiced at the till is posted: `at_close` (the"
        " session's closing entry, the default) or `with_invoice` (the invoice's entry, with its revenue)."
    )


class CogsPlacementView(BaseModel):
    company_id: uuid.UUID
    pos_invoiced_cogs: Placement
    updated_by: str | None
    version: int


def placement(session: Session, company_id: uuid.UUID) -> str:
    found = session.scalar(
        select(PosCogsSettings.pos_invoiced_cogs).where(PosCogsSettings.company_id == company_id)
    )
    return found or "at_close"


def placement_view(session: Session, company: Company) -> CogsPlacementView:
    row = session.get(PosCogsSettings, company.id)
    if row is None:
        return CogsPlacementView(
            company_id=company.id, pos_invoiced_cogs="at_close", updated_by=None, version=0
        )
    return CogsPlacementView(
        company_id=company.id,
        pos_invoiced_cogs=row.pos_invoiced_cogs,  # type: ignore[arg-type]
        updated_by=row.updated_by,
        version=row.version,
    )


def set_placement(
    session: Session, ctx: CommandContext, company: Company, request: SetCogsPlacement
) -> CogsPlacementView:
    """From now on: sales ingested after the change follow it; sales already ingested keep theirs."""
    if request.pos_invoiced_cogs == "with_invoice":
        rule = select_rule(
            rules_for(session, company.id, "InvoiceIssued"),
            "InvoiceIssued",
            {"posting": "receivable"},
            dt.date.today(),
        )
        if rule is None or not any(line.for_each == "cogs" for line in rule.lines):
            raise ValidationFailed(
                "the company's rule for invoices issued at the till posts no COGS: add its cogs lines first",
                code="invoice-rule-posts-no-cogs",
                problems=[FieldProblem("pos_invoiced_cogs", "the invoice rule has no lines for_each cogs")],
            )
    row = session.get(PosCogsSettings, company.id, with_for_update=True)
    before = row.pos_invoiced_cogs if row is not None else "at_close"
    if row is None:
        row = PosCogsSettings(
            company_id=company.id,
            pos_invoiced_cogs=request.pos_invoiced_cogs,
            updated_at=utcnow(),
            updated_by=ctx.actor,
            version=1,
        )
        session.add(row)
    else:
        row.pos_invoiced_cogs, row.updated_at, row.updated_by = request.pos_invoiced_cogs, utcnow(), ctx.actor
        row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PosInvoicedCogsPlacementSet",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"pos_invoiced_cogs": request.pos_invoiced_cogs, "before": before},
    )
    return placement_view(session, company)


def invoice_cogs(
    sale: CarryOutSale, expense: Mapping[uuid.UUID, str] | None = None
) -> list[dict[str, Any]] | None:
    """The sale's COGS per category (and product's own expense account, decision 0061), as the
    invoice's ``cogs`` list (the close's shape); None when the close posts it."""
    if not sale.extra.get(WITH_INVOICE):
        return None
    stock_role = STOCK_ROLE["stock"]
    by_key: dict[str, Decimal] = {}
    for line in sale.lines:
        key = revenue.cogs_key(line["category"], stock_role, line, expense or {})
        by_key[key] = by_key.get(key, ZERO) + line["cost"]
    return [revenue.cogs_item(key, str(cost)) for key, cost in sorted(by_key.items()) if cost]


def take_with_invoices(
    session: Session, company_id: uuid.UUID, session_id: uuid.UUID, sales: Sequence[CarryOutSale]
) -> None:
    """Flag the invoiced sales whose COGS their invoice posts (when the company says so) and record
    them; called before the sales' totals are taken."""
    invoiced = [sale for sale in sales if sale.invoiced]
    if not invoiced or placement(session, company_id) != "with_invoice":
        return
    rows = []
    for sale in invoiced:
        sale.extra[WITH_INVOICE] = True
        cost = sum((line["cost"] for line in sale.lines), ZERO)
        rows.append(
            {
                "order_id": sale.order_id,
                "company_id": company_id,
                "session_id": session_id,
                "date": sale.booked_on or sale.sold_at.date(),
                "cost": cost,
            }
        )
    insert_rows(session, PosInvoiceCogs.__table__, rows)


def flag_recorded(session: Session, sales: Iterable[CarryOutSale]) -> None:
    """Flag recorded sales whose invoice posted their COGS (for the totals' recomputation)."""
    listed = list(sales)
    ids = [sale.order_id for sale in listed]
    if not ids:
        return
    taken = set(session.scalars(select(PosInvoiceCogs.order_id).where(PosInvoiceCogs.order_id.in_(ids))))
    for sale in listed:
        if sale.order_id in taken:
            sale.extra[WITH_INVOICE] = True


def posted_with_invoices(
    session: Session, company_id: uuid.UUID, as_of: dt.date, unposted_sessions: Any
) -> Decimal:
    """COGS invoices posted on or before ``as_of`` in sessions whose close is not posted by then
    (``unposted_sessions``: a select of their ids): the stock left, the ledger has it already."""
    value = session.scalar(
        select(func.sum(PosInvoiceCogs.cost)).where(
            PosInvoiceCogs.company_id == company_id,
            PosInvoiceCogs.date <= as_of,
            PosInvoiceCogs.session_id.in_(unposted_sessions),
        )
    )
    return value or ZERO


def split_methods(session: Session, company_id: uuid.UUID, sales: Sequence[CarryOutSale]) -> frozenset[str]:
    """The codes of the payment methods whose payments on invoices are split per customer (looked up
    only when the sales include an invoiced one)."""
    if not any(sale.invoiced for sale in sales):
        return frozenset()
    return frozenset(
        session.scalars(
            select(PaymentMethod.code).where(
                PaymentMethod.company_id == company_id,
                PaymentMethod.split_receivable_per_customer.is_(True),
            )
        )
    )


def receivable_keys(sale: CarryOutSale, split: frozenset[str]) -> dict[str, Decimal]:
    """What an invoiced sale paid at the till, by receivable total key: ``""`` (aggregated at the
    close) or the customer's id (a line of its own, for methods that split per customer)."""
    keys: dict[str, Decimal] = {}
    for tender in sale.tenders:
        if tender["kind"] == "on_account":
            continue
        key = (
            str(sale.customer_id)
            if sale.customer_id is not None and tender.get("payment_method_code") in split
            else ""
        )
        keys[key] = keys.get(key, ZERO) + tender["amount"]
    return {key: amount for key, amount in keys.items() if amount}


def customer_payments(
    session: Session, company_id: uuid.UUID, on: dt.date, rows: Iterable[Any]
) -> tuple[list[dict[str, Any]], Decimal]:
    """The close's ``customer_payments`` (a receivable credit per customer) and what joins the aggregate
    ``invoice_payments`` instead: all of it when the close's rule in force has no line for the list (a
    rule finance edited before decision 0060), so that the close still balances."""
    split = [
        {"customer_id": r.key, "amount": r.amount}
        for r in rows
        if r.kind == "receivable" and r.key and r.amount
    ]
    if not split:
        return [], ZERO
    rule = select_rule(rules_for(session, company_id, "PosSessionClosed"), "PosSessionClosed", {}, on)
    if rule is not None and any(line.for_each == "customer_payments" for line in rule.lines):
        return split, ZERO
    return [], sum((item["amount"] for item in split), ZERO)
