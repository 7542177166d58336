"""POS refund invariants over random sequences of till sales, till refunds (the whole or part of a line,
in the same or a later session), exchanges (refund lines and new sale lines in one ticket, the
difference paid or paid out by card) and returns through /returns on the same lines (both backends): on
hand is the sum of the moves, every entry balances, the books' stock accounts agree with the valuation
once the sessions are closed, refunds_payable is back at zero, and no line is refunded beyond what it
sold, whoever refunded it."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from invariants import FAR_AHEAD, assert_stock_books_and_refunds_hold
from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.valuation import check_agreement
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.orders import tables as t
from retailcore.pos import commands as pc
from retailcore.pos import services as pos
from retailcore.returns import commands as rc
from retailcore.returns import services as returns
from retailcore.returns.tables import OrderLineReturn

sale = st.tuples(st.just("sale"), st.integers(1, 4), st.sampled_from(["0", "0.35", "1.00"]))
refund = st.tuples(st.just("refund"), st.integers(0, 5), st.integers(1, 3), st.sampled_from(["CASH", "CARD"]))
give_back = st.tuples(st.just("return"), st.integers(0, 5), st.integers(1, 3))
exchange = st.tuples(st.just("exchange"), st.integers(0, 5), st.integers(1, 3), st.integers(1, 3))
close = st.tuples(st.just("close"))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(sale, refund, give_back, close, exchange), min_size=1, max_size=12))
def test_till_sales_and_refunds_keep_stock_books_and_refund_limits(runtime, company, operations):
    company_id = uuid.UUID(company["id"])
    ctx = CommandContext(system_principal("property"))
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, company_id)
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
        for code, kind, gateway in (("CASH", "cash", None), ("CARD", "card", "psp")):
            s.create(
                session,
                ctx,
                s.PAYMENT_METHOD,
                c.CreatePaymentMethod(
                    company_id=company_id, code=code, name=code, kind=kind, gateway=gateway
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
                list_price=Decimal("3.99"),
                cost_method="average",
            ),
        ).id
        stock = session.scalar(
            select(Location.id).where(Location.store_id == store.id, Location.kind == "stock")
        )
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        move_stock(
            session,
            ctx,
            company_row,
            kind="receipt",
            lines=[MoveLine(product, Decimal(100), supplier, stock, Decimal("1.37"))],
            date=dt.date(2026, 1, 1),
        )
        terminal = pos.create_terminal(
            session, ctx, company_row, pc.CreateTerminal(store_id=store.id, code="PT", name="PT")
        )
        till = pos.open_session(session, ctx, terminal.id, Decimal(0))
        sold: list[t.OrderLineRow] = []
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        for operation in operations:
            if operation[0] == "close":
                pos.close_session(session, ctx, till.id, {"CASH": pos.expected_cash(session, till, [])})
                till = pos.open_session(session, ctx, terminal.id, Decimal(0))
                continue
            if operation[0] == "sale":
                _, quantity, discount = operation
                client_uuid = uuid.uuid4()
                gross = Decimal("3.99") * quantity - Decimal(discount)
                pos.ingest_batch(
                    session,
                    ctx,
                    till.id,
                    [
                        pc.SaleIn(
                            client_uuid=client_uuid,
                            sold_at=now,
                            lines=[
                                pc.SaleLineIn(
                                    product_id=product,
                                    quantity=Decimal(quantity),
                                    unit_price=Decimal("3.99"),
                                    discount=Decimal(discount),
                                )
                            ],
                            payments=[pc.PaymentIn(payment_method_code="CARD", amount=gross)],
                        )
                    ],
                )
                sold.append(
                    session.scalar(
                        select(t.OrderLineRow)
                        .join(t.OrderRow, t.OrderRow.id == t.OrderLineRow.order_id)
                        .where(t.OrderRow.client_uuid == client_uuid)
                    )
                )
                continue
            if not sold:
                continue
            line = sold[operation[1] % len(sold)]
            quantity = Decimal(operation[2])
            try:
                with session.begin_nested():
                    if operation[0] == "return":
                        opened = returns.request_return(
                            session,
                            ctx,
                            company_row,
                            rc.RequestReturn(
                                order_id=line.order_id,
                                store_id=store.id,
                                reason="other",
                                lines=[rc.ReturnLineIn(order_line_id=line.id, quantity=quantity)],
                            ),
                        )
                        returns.receive_return(session, ctx, company_row, opened.id, rc.ReceiveReturn())
                        continue
                    before = session.get(OrderLineReturn, line.id, populate_existing=True)
                    done = before.refunded_quantity if before is not None else Decimal(0)
                    net, taxes = returns.line_refund(line, done, quantity, "EUR")
                    due = net + sum((tax["amount"] for tax in taxes), Decimal(0))
                    if operation[0] == "exchange":
                        # The goods back pay for new ones: only the difference moves, by card.
                        new = operation[3]
                        difference = Decimal("3.99") * new - due
                        ticket = uuid.uuid4()
                        pos.ingest_batch(
                            session,
                            ctx,
                            till.id,
                            [
                                pc.SaleIn(
                                    client_uuid=ticket,
                                    sold_at=now,
                                    lines=[
                                        pc.SaleLineIn(
                                            product_id=product,
                                            quantity=-quantity,
                                            unit_price=Decimal(0),
                                            refund_of=line.id,
                                        ),
                                        pc.SaleLineIn(
                                            product_id=product,
                                            quantity=Decimal(new),
                                            unit_price=Decimal("3.99"),
                                        ),
                                    ],
                                    payments=[
                                        pc.PaymentIn(payment_method_code="CARD", amount=abs(difference))
                                    ]
                                    if difference
                                    else [],
                                )
                            ],
                        )
                        sold.append(
                            session.scalar(
                                select(t.OrderLineRow)
                                .join(t.OrderRow, t.OrderRow.id == t.OrderLineRow.order_id)
                                .where(t.OrderRow.client_uuid == ticket)
                            )
                        )
                        continue
                    pos.ingest_batch(
                        session,
                        ctx,
                        till.id,
                        [
                            pc.SaleIn(
                                client_uuid=uuid.uuid4(),
                                sold_at=now,
                                lines=[
                                    pc.SaleLineIn(
                                        product_id=product,
                                        quantity=-quantity,
                                        unit_price=Decimal(0),
                                        refund_of=line.id,
                                    )
                                ],
                                payments=[pc.PaymentIn(payment_method_code=operation[3], amount=due)],
                            )
                        ],
                    )
            except Conflict as error:
                assert error.code == "return-exceeds-sold", error.code
        session.flush()
        # With the last session open, its sales and refunds await its close (the stock check says so).
        open_check = check_agreement(session, company_id, FAR_AHEAD)
        assert open_check.agrees, open_check.roles
        pos.close_session(session, ctx, till.id, {"CASH": pos.expected_cash(session, till, [])})
        session.flush()
        payable = session.scalar(
            select(func.coalesce(func.sum(a.JournalLine.debit - a.JournalLine.credit), 0))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(Account.company_id == company_id, Account.role == "refunds_payable")
        )
        assert Decimal(payable) == 0  # exchanges through it net to zero at every close
        assert_stock_books_and_refunds_hold(session, company_id)
        session.rollback()
