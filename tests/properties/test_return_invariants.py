"""Return invariants over random sequences of sales and returns (both backends): on hand is the sum of
the moves, every entry balances, the books' stock accounts agree with the valuation, and no order line
is ever refunded beyond what it sold (in quantity or in money)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from invariants import assert_stock_books_and_refunds_hold
from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata.tables import Company, Location
from retailcore.orders import services as orders
from retailcore.returns import commands as rc
from retailcore.returns import services as returns

sale = st.tuples(st.just("sale"), st.integers(1, 4), st.sampled_from(["0", "1.00", "2.35"]))
give_back = st.tuples(
    st.just("return"),
    st.integers(0, 5),  # which sale
    st.integers(1, 3),  # quantity
    st.sampled_from(["resaleable", "damaged", "defective"]),
    st.sampled_from(["0", "0.50"]),  # restocking fee
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(sale, give_back), min_size=1, max_size=10))
def test_sales_and_returns_keep_stock_books_and_refund_limits(runtime, company, operations):
    company_id = uuid.UUID(company["id"])
    ctx = CommandContext(system_principal("property"))
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, company_id)
        warehouse = s.create_store(
            session, ctx, c.CreateStore(company_id=company_id, code="PW", name="PW", kind="warehouse")
        )
        store = s.create_store(session, ctx, c.CreateStore(company_id=company_id, code="PS", name="PS"))
        s.create(
            session,
            ctx,
            s.TAX_RULE,
            c.CreateTaxRule(
                company_id=company_id,
                jurisdiction="FR",
                tax_category="standard",
                taxes=[c.TaxLine(code="VAT20", name="VAT", rate_percent=Decimal(20), price_included=True)],
            ),
        )
        product = s.create(
            session,
            ctx,
            s.PRODUCT,
            c.CreateProduct(
                company_id=company_id,
                sku="R-1",
                name="R",
                category="Prop",
                list_price=Decimal("19.99"),
                cost_method="average",
            ),
        ).id

        def where(kind: str, store_id: uuid.UUID | None = None) -> uuid.UUID:
            query = select(Location.id).where(Location.company_id == company_id, Location.kind == kind)
            if store_id is not None:
                query = query.where(Location.store_id == store_id)
            return session.scalar(query)

        move_stock(
            session,
            ctx,
            company_row,
            kind="receipt",
            lines=[
                MoveLine(
                    product, Decimal(100), where("supplier"), where("stock", warehouse.id), Decimal("7.13")
                )
            ],
            date=dt.date(2026, 1, 1),
        )
        sold: list[orders.OrderView] = []
        for operation in operations:
            if operation[0] == "sale":
                _, quantity, discount = operation
                placed = orders.place_order(
                    session,
                    ctx,
                    company_row,
                    orders.PlaceOrder(
                        lines=[
                            orders.LineIn(
                                product_id=product, quantity=Decimal(quantity), discount=Decimal(discount)
                            )
                        ]
                    ),
                )
                orders.take_payment(
                    session,
                    ctx,
                    company_row,
                    placed.id,
                    orders.TakePayment(gateway="psp", reference=f"p{len(sold)}", amount=placed.gross_total),
                )
                sold.append(orders.fulfill(session, ctx, company_row, placed.id))
                continue
            _, which, quantity, condition, fee = operation
            if not sold:
                continue
            order = sold[which % len(sold)]
            try:
                with session.begin_nested():
                    opened = returns.request_return(
                        session,
                        ctx,
                        company_row,
                        rc.RequestReturn(
                            order_id=order.id,
                            store_id=store.id,
                            reason="other",
                            lines=[
                                rc.ReturnLineIn(
                                    order_line_id=order.lines[0].id,
                                    quantity=Decimal(quantity),
                                    condition=condition,
                                )
                            ],
                        ),
                    )
                    returns.receive_return(session, ctx, company_row, opened.id, rc.ReceiveReturn())
                    returns.refund_return(
                        session, ctx, company_row, opened.id, rc.RefundReturn(restocking_fee=Decimal(fee))
                    )
            except Conflict as error:
                assert error.code in ("return-exceeds-sold", "refund-exceeds-captured"), error.code

        session.flush()
        assert_stock_books_and_refunds_hold(session, company_id)
        session.rollback()
