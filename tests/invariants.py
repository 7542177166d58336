"""What must hold after any sequence of sales and returns (the property tests of returns and of POS
refunds check the same things at their end)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.inventory import tables as i
from retailcore.inventory.valuation import check_agreement
from retailcore.orders import tables as t
from retailcore.returns.tables import OrderLineReturn, ReturnLineRow

FAR_AHEAD = dt.date(2026, 12, 31) + dt.timedelta(days=3650)


def assert_stock_books_and_refunds_hold(session: Session, company_id: uuid.UUID) -> None:
    """On hand is the sum of the moves; every entry balances; the stock accounts agree with the
    valuation; no line is refunded beyond what it sold, in quantity and in money, and its counter says
    what its return lines say."""
    moved: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(Decimal)
    for move in session.scalars(select(i.StockMove).where(i.StockMove.company_id == company_id)):
        moved[(move.product_id, move.to_location_id)] += move.quantity
        moved[(move.product_id, move.from_location_id)] -= move.quantity
    for quant in session.scalars(select(i.StockQuant).where(i.StockQuant.company_id == company_id)):
        assert quant.quantity == moved[(quant.product_id, quant.location_id)]
    unbalanced = session.execute(
        select(a.JournalLine.entry_id)
        .group_by(a.JournalLine.entry_id)
        .having(func.sum(a.JournalLine.debit) != func.sum(a.JournalLine.credit))
    ).all()
    assert unbalanced == []
    check = check_agreement(session, company_id, FAR_AHEAD)
    assert check.agrees, check.roles
    for line in session.scalars(select(t.OrderLineRow).where(t.OrderLineRow.company_id == company_id)):
        counter = session.get(OrderLineReturn, line.id, populate_existing=True)
        refunded = session.execute(
            select(
                func.coalesce(func.sum(ReturnLineRow.refunded_quantity), 0),
                func.coalesce(func.sum(ReturnLineRow.refunded_net), 0),
                func.coalesce(func.sum(ReturnLineRow.refunded_tax), 0),
            ).where(ReturnLineRow.order_line_id == line.id)
        ).one()
        assert Decimal(refunded[0]) <= line.fulfilled_quantity
        assert Decimal(refunded[1]) <= line.net and Decimal(refunded[2]) <= line.tax
        if counter is not None:
            assert counter.refunded_quantity == Decimal(refunded[0])
            assert counter.returned_quantity <= line.fulfilled_quantity
