"""Stock valuation at any date, and its agreement with the ledger.

The valuation is rebuilt from the moves (and value adjustments) up to the date, in one set-based query:
a move adds its quantity and value to its destination and takes them from its source. Valued locations
map to account roles (stock and backroom: ``inventory``; damaged: ``damaged_goods``; in transit:
``stock_in_transit``); the check compares the valuation per role with the ledger's balance of the
accounts holding that role at the same date. Any difference is reported, never corrected silently.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.inventory import tables as i
from retailcore.inventory.services import STOCK_ROLE, VALUED
from retailcore.masterdata.tables import Account, Location, Product


@dataclass(frozen=True)
class ValuationRow:
    product_id: uuid.UUID
    sku: str
    product_category: str
    location_id: uuid.UUID
    location_code: str
    location_kind: str
    store_id: uuid.UUID | None
    quantity: Decimal
    value: Decimal


@dataclass(frozen=True)
class Valuation:
    as_of: dt.date
    rows: list[ValuationRow]
    total_quantity: Decimal
    total_value: Decimal


def stock_valuation(
    session: Session,
    company_id: uuid.UUID,
    as_of: dt.date,
    *,
    store_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    include_zero: bool = False,
) -> Valuation:
    """Quantity and value per product and valued location at the end of ``as_of``."""
    m = i.StockMove
    adj = i.StockValueAdjustment
    zero_quantity = literal(Decimal(0), type_=m.quantity.type)
    movements = union_all(
        select(
            m.product_id,
            m.to_location_id.label("location_id"),
            m.quantity.label("quantity"),
            m.value.label("value"),
        ).where(m.company_id == company_id, m.date <= as_of),
        select(m.product_id, m.from_location_id, -m.quantity, -m.value).where(
            m.company_id == company_id, m.date <= as_of
        ),
        select(adj.product_id, adj.location_id, zero_quantity, adj.value).where(
            adj.company_id == company_id, adj.date <= as_of
        ),
    ).subquery()
    quantity = func.sum(movements.c.quantity).label("quantity")
    value = func.sum(movements.c.value).label("value")
    query = (
        select(
            Product.id,
            Product.sku,
            Product.category,
            Location.id,
            Location.code,
            Location.kind,
            Location.store_id,
            quantity,
            value,
        )
        .select_from(movements)
        .join(Location, Location.id == movements.c.location_id)
        .join(Product, Product.id == movements.c.product_id)
        .where(Location.kind.in_(VALUED))
        .group_by(
            Product.id,
            Product.sku,
            Product.category,
            Location.id,
            Location.code,
            Location.kind,
            Location.store_id,
        )
        .order_by(Product.sku, Location.code)
    )
    if store_id is not None:
        query = query.where(Location.store_id == store_id)
    if product_id is not None:
        query = query.where(Product.id == product_id)
    rows = [
        ValuationRow(*row[:7], quantity=row.quantity or Decimal(0), value=row.value or Decimal(0))
        for row in session.execute(query)
    ]
    if not include_zero:
        rows = [r for r in rows if r.quantity != 0 or r.value != 0]
    return Valuation(
        as_of=as_of,
        rows=rows,
        total_quantity=sum((r.quantity for r in rows), Decimal(0)),
        total_value=sum((r.value for r in rows), Decimal(0)),
    )


@dataclass(frozen=True)
class RoleAgreement:
    role: str
    stock_value: Decimal
    ledger_balance: Decimal
    awaiting_posting: Decimal = Decimal(0)
    """Stock value that has left (positive) or entered (negative) stock and that a later event posts:
    the COGS of POS sales in sessions not yet closed. The ledger still carries it."""

    @property
    def difference(self) -> Decimal:
        return self.ledger_balance - self.awaiting_posting - self.stock_value


AwaitingPosting = Callable[[Session, uuid.UUID, dt.date], dict[str, Decimal]]
"""Per account role, the stock value moved on or before a date whose posting comes later."""

AWAITING_POSTING: list[AwaitingPosting] = []
"""Registered by the contexts that defer stock postings (the POS registers its open sessions)."""


def register_awaiting_posting(provider: AwaitingPosting) -> None:
    if provider not in AWAITING_POSTING:
        AWAITING_POSTING.append(provider)


@dataclass(frozen=True)
class AgreementCheck:
    as_of: dt.date
    roles: list[RoleAgreement]

    @property
    def agrees(self) -> bool:
        return all(r.difference == 0 for r in self.roles)


def check_agreement(session: Session, company_id: uuid.UUID, as_of: dt.date) -> AgreementCheck:
    """Stock valuation per account role against the ledger's posted balances at the same date."""
    valuation = stock_valuation(session, company_id, as_of, include_zero=True)
    by_role: dict[str, Decimal] = {role: Decimal(0) for role in sorted(set(STOCK_ROLE.values()))}
    for row in valuation.rows:
        by_role[STOCK_ROLE[row.location_kind]] += row.value
    balances = dict(
        session.execute(
            select(Account.role, func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(
                a.JournalLine.company_id == company_id,
                a.JournalLine.state == "posted",
                a.JournalLine.date <= as_of,
                Account.role.in_(by_role),
            )
            .group_by(Account.role)
        ).all()
    )
    awaiting: dict[str, Decimal] = {}
    for provider in AWAITING_POSTING:
        for role, value in provider(session, company_id, as_of).items():
            awaiting[role] = awaiting.get(role, Decimal(0)) + value
    return AgreementCheck(
        as_of=as_of,
        roles=[
            RoleAgreement(role, value, balances.get(role) or Decimal(0), awaiting.get(role, Decimal(0)))
            for role, value in by_role.items()
        ],
    )
