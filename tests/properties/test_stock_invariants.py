"""Stock invariants over random operations (both backends): on hand is the sum of the moves, the
valuation rebuilt from the moves equals the cached values, and the ledger's stock accounts agree."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.valuation import check_agreement, stock_valuation
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata.tables import Company, Location

quantities = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("40"), places=1)
costs = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99.99"), places=2)
operation = st.tuples(
    st.sampled_from(
        [
            "receipt",
            "delivery",
            "customer_return",
            "transfer",
            "scrap",
            "count_gain",
            "count_loss",
            "internal",
        ]
    ),
    st.integers(0, 2),  # product
    st.integers(0, 1),  # store
    quantities,
    costs,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=15))
def test_stock_and_books_agree_after_any_sequence(runtime, company, operations):
    company_id = uuid.UUID(company["id"])
    ctx = CommandContext(system_principal("property"))
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, company_id)
        stores = [
            s.create_store(session, ctx, c.CreateStore(company_id=company_id, code=f"P{n}", name=f"P{n}"))
            for n in range(2)
        ]
        products = [
            s.create(
                session,
                ctx,
                s.PRODUCT,
                c.CreateProduct(
                    company_id=company_id,
                    sku=f"P-{method}",
                    name=method,
                    category="Prop",
                    list_price=Decimal("50"),
                    cost_method=method,
                    standard_cost=Decimal("7.50"),
                ),
            ).id
            for method in ("fifo", "average", "standard")
        ]

        def where(kind: str, store: int | None = None) -> uuid.UUID:
            query = select(Location.id).where(Location.company_id == company_id, Location.kind == kind)
            if store is not None:
                query = query.where(Location.store_id == stores[store].id)
            return session.scalar(query)

        in_transit = where("in_transit")
        for day, (kind, product_index, store, quantity, cost) in enumerate(operations, start=1):
            product = products[product_index]
            stock, damaged = where("stock", store), where("damaged", store)
            other_stock = where("stock", 1 - store)
            plan = {
                "receipt": [("receipt", where("supplier"), stock, cost)],
                "delivery": [("delivery", stock, where("customer"), None)],
                "customer_return": [("customer_return", where("customer"), damaged, cost)],
                "transfer": [
                    ("transfer_out", stock, in_transit, None),
                    ("transfer_in", in_transit, other_stock, None),
                ],
                "scrap": [("scrap", stock, where("inventory_loss"), None)],
                "count_gain": [("count_gain", where("inventory_loss"), stock, None)],
                "count_loss": [("count_loss", stock, where("inventory_loss"), None)],
                "internal": [("internal", stock, damaged, None)],
            }[kind]
            for move_kind, source, destination, unit_cost in plan:
                move_stock(
                    session,
                    ctx,
                    company_row,
                    kind=move_kind,
                    lines=[MoveLine(product, quantity, source, destination, unit_cost)],
                    date=dt.date(2026, 1, 1) + dt.timedelta(days=day),
                    reference=f"op-{day}",
                )

        session.flush()
        as_of = dt.date(2026, 12, 31)
        moved: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(Decimal)
        for move in session.scalars(select(i.StockMove).where(i.StockMove.company_id == company_id)):
            moved[(move.product_id, move.to_location_id)] += move.quantity
            moved[(move.product_id, move.from_location_id)] -= move.quantity
        for quant in session.scalars(select(i.StockQuant).where(i.StockQuant.company_id == company_id)):
            assert quant.quantity == moved[(quant.product_id, quant.location_id)]

        valuation = stock_valuation(session, company_id, as_of, include_zero=True)
        quants = {
            (q.product_id, q.location_id): q
            for q in session.scalars(select(i.StockQuant).where(i.StockQuant.company_id == company_id))
        }
        for row in valuation.rows:
            quant = quants[(row.product_id, row.location_id)]
            assert (row.quantity, row.value) == (quant.quantity, quant.value)
        for cost_row in session.scalars(select(i.ProductCost).where(i.ProductCost.company_id == company_id)):
            rows = [r for r in valuation.rows if r.product_id == cost_row.product_id]
            assert sum(r.quantity for r in rows) == cost_row.quantity
            assert sum(r.value for r in rows) == cost_row.value

        check = check_agreement(session, company_id, as_of)
        assert check.agrees, check.roles
        session.rollback()
