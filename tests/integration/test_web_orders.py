"""Web orders persisted and driven end to end: placement with sourcing and reservations, capture as a
customer deposit, fulfilment recognizing revenue and COGS, cancellation giving everything back."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import Reservation
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.orders import services as svc
from retailcore.orders import tables as t

D = Decimal
VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    """ACME with warehouse W1 and stores S1, S2; VAT 20% included; helpers to drive orders."""
    stores = {code: uuid.UUID(store_factory(code)["id"]) for code in ("S1", "S2")}
    stores["W1"] = uuid.UUID(store_factory("W1", kind="warehouse")["id"])
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post("/api/v1/tax-rules", json=rule, headers=admin).status_code == 201

    class Shop:
        company_id = uuid.UUID(company["id"])
        store_ids = stores

        def location(self, kind: str, store: str = "W1") -> uuid.UUID:
            with runtime.session_factory() as session:
                query = select(Location.id).where(
                    Location.company_id == self.company_id, Location.kind == kind
                )
                if kind in ("stock", "backroom", "damaged"):
                    query = query.where(Location.store_id == stores[store])
                return session.scalar(query)

        def product(self, sku: str, price: str = "30", category: str = "Cat/A", **fields) -> uuid.UUID:
            body = {
                **fields,
                "company_id": company["id"],
                "sku": sku,
                "name": sku,
                "category": category,
                "list_price": price,
                "cost_method": "average",
            }
            response = client.post("/api/v1/products", json=body, headers=admin)
            assert response.status_code == 201, response.text
            return uuid.UUID(response.json()["id"])

        def run(self, work):
            with transaction(runtime.session_factory) as session:
                company_row = session.get(Company, self.company_id)
                return work(session, CommandContext(system_principal()), company_row)

        def receive(self, product, quantity, cost="10.00", store="W1"):
            line = MoveLine(
                product, D(quantity), self.location("supplier"), self.location("stock", store), D(cost)
            )
            return self.run(
                lambda s, ctx, c: move_stock(
                    s, ctx, c, kind="receipt", lines=[line], date=dt.date(2026, 3, 1)
                )
            )

        def place(self, lines, **fields) -> svc.OrderView:
            body = svc.PlaceOrder(lines=[svc.LineIn(product_id=p, quantity=D(q)) for p, q in lines], **fields)
            return self.run(lambda s, ctx, c: svc.place_order(s, ctx, c, body))

        def capture(self, order, amount, reference="psp-1") -> svc.OrderView:
            body = svc.CapturePayment(gateway="stripe", reference=reference, amount=D(amount))
            return self.run(lambda s, ctx, c: svc.capture_payment(s, ctx, c, order.id, body))

        def fulfill(self, order) -> svc.OrderView:
            return self.run(lambda s, ctx, c: svc.fulfill(s, ctx, c, order.id))

        def cancel(self, order) -> svc.OrderView:
            return self.run(
                lambda s, ctx, c: svc.cancel(s, ctx, c, order.id, svc.CancelOrder(reason="changed mind"))
            )

        def quant(self, product, store="W1") -> tuple[Decimal, Decimal]:
            with runtime.session_factory() as session:
                row = session.get(i.StockQuant, (product, self.location("stock", store)))
                return (row.quantity, row.reserved) if row else (D(0), D(0))

        def reservations(self) -> list[tuple[str, Decimal, uuid.UUID]]:
            with runtime.session_factory() as session:
                rows = session.scalars(select(Reservation).order_by(Reservation.order_line_ref))
                return [(row.state, row.quantity, row.location_id) for row in rows]

        def balance(self, role: str, **where) -> Decimal:
            with runtime.session_factory() as session:
                query = (
                    select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == self.company_id, Account.role == role)
                )
                for name, value in where.items():
                    query = query.where(getattr(a.JournalLine, name) == value)
                total = session.scalar(query)
                return total if total is not None else D(0)

        def count(self, table) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(table))

        def session(self):
            return runtime.session_factory()

        def customer(self, code: str) -> uuid.UUID:
            body = {"company_id": company["id"], "code": code, "name": code}
            response = client.post("/api/v1/customers", json=body, headers=admin)
            assert response.status_code == 201, response.text
            return uuid.UUID(response.json()["id"])

        def set_company(self, **changes) -> None:
            response = client.patch(f"/api/v1/companies/{company['id']}", json=changes, headers=admin)
            assert response.status_code == 200, response.text

        def event_types(self) -> list[str]:
            with runtime.session_factory() as session:
                return list(session.scalars(select(Event.type).order_by(Event.position)))

    return Shop()


def test_a_shipped_web_order_holds_the_payment_as_deposit_until_fulfilment(shop):
    shirt = shop.product("SHIRT", price="30", category="Cat/A")
    mug = shop.product("MUG", price="12.50", category="Cat/B")
    shop.receive(shirt, "10", cost="10.00")
    shop.receive(mug, "5", cost="4.00")

    order = shop.place([(shirt, "2"), (mug, "1")])

    assert (order.number, order.state, order.fulfillment_mode) == ("SO-000001", "confirmed", "ship")
    assert order.store_id == shop.store_ids["W1"]
    assert (order.net_total, order.tax_total, order.gross_total) == (D("60.42"), D("12.08"), D("72.50"))
    assert order.prices_include_tax is True
    assert [(line.net, line.tax, line.gross) for line in order.lines] == [
        (D("50.00"), D("10.00"), D("60.00")),
        (D("10.42"), D("2.08"), D("12.50")),
    ]
    assert shop.quant(shirt) == (D(10), D(2))
    assert shop.quant(mug) == (D(5), D(1))
    assert [state for state, _, _ in shop.reservations()] == ["active", "active"]

    paid = shop.capture(order, "72.50")
    assert paid.paid_amount == D("72.50")
    assert shop.balance("card_clearing") == D("72.50")
    assert shop.balance("customer_deposits") == D("-72.50")
    assert shop.balance("sales_revenue") == 0

    done = shop.fulfill(order)

    assert done.state == "fulfilled"
    assert [line.fulfilled_quantity for line in done.lines] == [D(2), D(1)]
    assert shop.balance("card_clearing") == D("72.50")
    assert shop.balance("customer_deposits") == 0
    assert shop.balance("receivable") == 0
    assert shop.balance("sales_revenue", product_category="Cat/A") == D("-50.00")
    assert shop.balance("sales_revenue", product_category="Cat/B") == D("-10.42")
    assert shop.balance("output_tax", tax_code="FR-VAT-20") == D("-12.08")
    assert shop.balance("cogs") == D("24.00")
    assert shop.balance("inventory") == D("100.00") + D("20.00") - D("24.00")
    assert shop.quant(shirt) == (D(8), D(0))
    assert shop.quant(mug) == (D(4), D(0))
    assert [state for state, _, _ in shop.reservations()] == ["consumed", "consumed"]
    types = shop.event_types()
    assert types.index("OrderConfirmed") < types.index("PaymentCaptured") < types.index("OrderFulfilled")


def test_an_unpaid_part_is_receivable_at_fulfilment(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "3")
    order = shop.place([(shirt, "1")])
    shop.capture(order, "10.00")

    shop.fulfill(order)

    assert shop.balance("customer_deposits") == 0
    assert shop.balance("receivable") == D("20.00")
    assert shop.balance("sales_revenue") == D("-25.00")
    assert shop.balance("output_tax") == D("-5.00")


def test_click_and_collect_reserves_at_the_pickup_store(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "5", store="W1")
    shop.receive(shirt, "2", store="S2")

    order = shop.place(
        [(shirt, "2")], fulfillment_mode="click_and_collect", pickup_store_id=shop.store_ids["S2"]
    )

    assert (order.fulfillment_mode, order.store_id) == ("click_and_collect", shop.store_ids["S2"])
    assert shop.quant(shirt, store="S2") == (D(2), D(2))
    assert shop.quant(shirt, store="W1") == (D(5), D(0))
    assert order.lines[0].location_id == shop.location("stock", "S2")

    shop.fulfill(order)
    assert shop.quant(shirt, store="S2") == (D(0), D(0))


def test_ship_falls_back_to_the_store_with_most_available(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "1", store="W1")
    shop.receive(shirt, "3", store="S1")
    shop.receive(shirt, "4", store="S2")

    order = shop.place([(shirt, "2")])

    assert (order.fulfillment_mode, order.store_id) == ("ship_from_store", shop.store_ids["S2"])
    assert shop.quant(shirt, store="S2") == (D(4), D(2))


def test_a_paid_then_cancelled_order_leaves_every_balance_and_reservation_at_zero(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "5")
    order = shop.place([(shirt, "2")])
    shop.capture(order, "60.00")

    cancelled = shop.cancel(order)

    assert cancelled.state == "cancelled"
    assert cancelled.reason == "changed mind"
    assert cancelled.paid_amount == 0
    assert [(p.state, p.refunded) for p in cancelled.payments] == [("refunded", D("60.00"))]
    assert [line.cancelled_quantity for line in cancelled.lines] == [D(2)]
    assert shop.balance("card_clearing") == 0
    assert shop.balance("customer_deposits") == 0
    assert shop.balance("sales_revenue") == 0
    assert shop.quant(shirt) == (D(5), D(0))
    assert [state for state, _, _ in shop.reservations()] == ["released"]
    assert "PaymentRefunded" in shop.event_types()
    with pytest.raises(Conflict) as refused:
        shop.fulfill(order)
    assert refused.value.code == "invalid-state-transition"


def test_a_fulfilled_order_cannot_be_cancelled_and_a_later_payment_settles_its_receivable(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "5")
    order = shop.place([(shirt, "1")])
    fulfilled = shop.fulfill(order)
    assert (fulfilled.deposit_balance, fulfilled.receivable_balance) == (D(0), D("30.00"))
    assert shop.balance("receivable") == D("30.00")

    with pytest.raises(Conflict) as refused:
        shop.cancel(order)
    assert refused.value.code == "invalid-state-transition"
    with pytest.raises(Conflict) as over:
        shop.capture(order, "30.01")
    assert over.value.code == "overpayment"

    paid = shop.capture(order, "30.00")  # captured after the goods left: no deposit, the claim is settled
    assert (paid.deposit_balance, paid.receivable_balance, paid.paid_amount) == (D(0), D(0), D("30.00"))
    assert shop.balance("receivable") == D(0)
    assert shop.balance("customer_deposits") == D(0)
    assert shop.balance("card_clearing") == D("30.00")


def test_unavailable_stock_is_refused_at_placement_with_nothing_written(shop):
    shirt = shop.product("SHIRT")
    mug = shop.product("MUG")
    shop.receive(shirt, "5")
    shop.receive(mug, "1")
    before = (shop.count(t.OrderRow), shop.count(Reservation), len(shop.event_types()))

    with pytest.raises(Conflict) as refused:
        shop.place([(shirt, "2"), (mug, "3")])

    assert refused.value.code == "insufficient-stock"
    assert [p.field for p in refused.value.problems] == ["lines.1.quantity"]
    assert "MUG" in refused.value.problems[0].message
    assert (shop.count(t.OrderRow), shop.count(Reservation), len(shop.event_types())) == before
    assert shop.quant(shirt) == (D(5), D(0))
    assert shop.place([(shirt, "1")]).number == "SO-000001"  # the refused placement took no number


def test_overpayment_and_duplicate_references_are_refused(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "5")
    order = shop.place([(shirt, "1")])

    with pytest.raises(Conflict) as over:
        shop.capture(order, "30.01")
    assert over.value.code == "overpayment"
    shop.capture(order, "10.00", reference="psp-1")
    with pytest.raises(Conflict) as duplicate:
        shop.capture(order, "10.00", reference="psp-1")
    assert duplicate.value.code == "duplicate-payment-reference"


# -- unpaid orders let go of their stock -------------------------------------------------------------


def _sweep(shop, now):
    return shop.run(lambda s, ctx, c: svc.expire_unpaid_orders(s, ctx, c, now))


def _available(shop, product, store="W1") -> Decimal:
    with shop.session() as session:
        location = shop.location("stock", store)
        quant = session.get(i.StockQuant, (product, location))
        return quant.quantity - quant.reserved


def test_a_confirmed_unpaid_order_is_due_for_payment_after_the_companys_hold(shop):
    shirt = shop.product("SHIRT", channels=["pos", "web", "marketplace"])
    shop.receive(shirt, "10")
    hold = dt.timedelta(minutes=1440)  # the company's default

    before = dt.datetime.now(dt.UTC)
    web = shop.place([(shirt, "1")])
    marketplace = shop.place([(shirt, "1")], channel="marketplace")
    after = dt.datetime.now(dt.UTC)
    assert web.payment_due_at is not None and before + hold <= web.payment_due_at <= after + hold
    assert marketplace.payment_due_at is not None

    b2b = shop.place([(shirt, "1")], channel="b2b", customer_id=shop.customer("BIGCO"))
    assert b2b.payment_due_at is None  # on account: invoiced and paid on terms

    draft = shop.place([(shirt, "1")], confirm=False)
    assert draft.payment_due_at is None  # a draft promises nothing yet
    confirmed = shop.run(lambda s, ctx, c: svc.confirm_order(s, ctx, c, draft.id))
    assert confirmed.payment_due_at is not None and confirmed.payment_due_at >= after + hold

    assert shop.capture(web, "5.00").payment_due_at is None  # any payment clears it

    shop.set_company(unpaid_order_hold_minutes=None)
    assert shop.place([(shirt, "1")]).payment_due_at is None  # no hold: kept until cancelled


def test_an_authorized_payment_clears_the_due_time(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "3")
    draft = shop.place([(shirt, "1")], confirm=False)
    body = svc.TakePayment(gateway="stripe", reference="psp-9", amount=D("30.00"), capture=False)
    shop.run(lambda s, ctx, c: svc.take_payment(s, ctx, c, draft.id, body))

    confirmed = shop.run(lambda s, ctx, c: svc.confirm_order(s, ctx, c, draft.id))

    assert confirmed.payment_due_at is None  # authorized before it was confirmed: not unpaid


def test_the_sweep_cancels_unpaid_orders_once_due_and_their_stock_is_available_again(shop):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "10")
    unpaid = shop.place([(shirt, "3")])
    paid = shop.place([(shirt, "2")])
    shop.capture(paid, "60.00")
    authorized = shop.place([(shirt, "1")])
    body = svc.TakePayment(gateway="stripe", reference="psp-2", amount=D("30.00"), capture=False)
    shop.run(lambda s, ctx, c: svc.take_payment(s, ctx, c, authorized.id, body))
    assert _available(shop, shirt) == D(4)
    due = unpaid.payment_due_at
    assert due is not None

    assert _sweep(shop, due - dt.timedelta(seconds=1)) == []  # not yet
    mark = len(shop.event_types())

    [cancelled] = _sweep(shop, due + dt.timedelta(minutes=5))

    assert (cancelled.id, cancelled.state, cancelled.payment_due_at) == (unpaid.id, "cancelled", None)
    assert cancelled.reason == f"unpaid: no payment by {due.isoformat(timespec='seconds')}"
    assert [line.cancelled_quantity for line in cancelled.lines] == [D(3)]
    assert _available(shop, shirt) == D(7)  # the 3 are free again
    assert shop.quant(shirt) == (D(10), D(3))
    with shop.session() as session:
        states = dict(session.execute(select(Reservation.order_ref, Reservation.state)).all())
        event = session.scalar(select(Event).where(Event.type == "OrderCancelled"))
    assert states == {unpaid.number: "released", paid.number: "active", authorized.number: "active"}
    assert event.payload["reason_code"] == "payment-timeout"
    assert event.payload["order_ref"] == unpaid.number
    assert shop.event_types()[mark:].count("ReservationReleased") == 1
    with shop.session() as session:
        untouched = {row.number: row.state for row in session.scalars(select(t.OrderRow))}
    assert untouched == {unpaid.number: "cancelled", paid.number: "confirmed", authorized.number: "confirmed"}

    # A second sweep, even much later, finds nothing more to do and writes nothing.
    events = len(shop.event_types())
    assert _sweep(shop, due + dt.timedelta(days=30)) == []
    assert len(shop.event_types()) == events


def test_two_sweeps_at_once_cancel_each_order_once(shop, runtime):
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "10")
    orders = [shop.place([(shirt, "1")]) for _ in range(3)]
    later = max(order.payment_due_at for order in orders) + dt.timedelta(minutes=1)
    barrier = threading.Barrier(2, timeout=10)
    cancelled: list[uuid.UUID] = []

    def sweep() -> None:
        barrier.wait()
        with transaction(runtime.session_factory) as session:
            company = session.get(Company, shop.company_id)
            done = svc.expire_unpaid_orders(session, CommandContext(system_principal()), company, later)
        cancelled.extend(order.id for order in done)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(cancelled) == sorted(order.id for order in orders)
    assert shop.event_types().count("OrderCancelled") == 3
    assert shop.quant(shirt) == (D(10), D(0))


def test_an_order_customers_receivable_carries_the_customer_from_delivery_to_payment(shop):
    """A web order of BIGCO delivered unpaid (30.00 due), then paid: the receivable it leaves and the
    payment that settles it are both BIGCO's lines; the revenue line is nobody's (decision 0060)."""
    shirt = shop.product("SHIRT")
    shop.receive(shirt, "5")
    bigco = shop.customer("BIGCO")
    order = shop.place([(shirt, "1")], customer_id=bigco)
    shop.fulfill(order)
    assert shop.balance("receivable", customer_id=bigco) == D("30.00")

    shop.capture(order, "30.00")

    assert shop.balance("receivable", customer_id=bigco) == D(0)
    with shop.session() as session:
        lines = session.execute(
            select(Account.role, a.JournalLine.debit, a.JournalLine.credit)
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(a.JournalLine.customer_id == bigco)
            .order_by(a.JournalLine.date, a.JournalLine.id)
        ).all()
        revenue_customers = set(
            session.scalars(
                select(a.JournalLine.customer_id)
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.role == "sales_revenue")
            )
        )
    assert lines == [("receivable", D("30.00"), D(0)), ("receivable", D(0), D("30.00"))]
    assert revenue_customers == {None}
