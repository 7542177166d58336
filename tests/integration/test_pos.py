"""POS sessions: offline sales ingested into running totals, closed into one aggregated entry."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from retailcore.access.model import Principal, Role, system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, PermissionDenied, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location, PaymentMethod, Tax
from retailcore.orders.tables import OrderRow
from retailcore.pos import commands as c
from retailcore.pos import services as svc
from retailcore.pos.tables import PosSession

D = Decimal
SOLD_AT = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # inside the till clock window


@pytest.fixture
def till(runtime, client, admin, company, store_factory):
    """ACME, store S1 with VAT 20 % included, coffee (Drinks) and sandwiches (Food) in stock, a terminal."""
    store = store_factory("S1")
    company_id = uuid.UUID(company["id"])
    store_id = uuid.UUID(store["id"])

    def post(path, body):
        response = client.post(f"/api/v1/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    vat = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20", "price_included": True}
    post("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [vat]})
    post("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"})
    post("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"})
    products = {}
    for sku, category in (("COFFEE", "Drinks"), ("SANDWICH", "Food")):
        body = {"sku": sku, "name": sku, "category": category, "list_price": "5", "cost_method": "average"}
        products[sku] = uuid.UUID(post("products", body)["id"])

    class Till:
        def __init__(self) -> None:
            self.company_id = company_id
            self.store_id = store_id
            self.coffee = products["COFFEE"]
            self.sandwich = products["SANDWICH"]
            with transaction(runtime.session_factory) as session:
                stock = session.scalar(
                    select(Location.id).where(Location.store_id == store_id, Location.kind == "stock")
                )
                supplier = session.scalar(
                    select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
                )
                move_stock(
                    session,
                    self.ctx(),
                    session.get(Company, company_id),
                    kind="receipt",
                    lines=[
                        MoveLine(self.coffee, D(10), supplier, stock, D("2.00")),
                        MoveLine(self.sandwich, D(10), supplier, stock, D("3.00")),
                    ],
                    date=dt.date(2026, 3, 1),
                )
                terminal = svc.create_terminal(
                    session,
                    self.ctx(),
                    session.get(Company, company_id),
                    c.CreateTerminal(store_id=store_id, code="T1", name="Till 1"),
                )
                self.terminal_id = terminal.id
            self.stock_location = stock

        def ctx(self, role: Role | None = None) -> CommandContext:
            if role is None:
                return CommandContext(system_principal())
            return CommandContext(Principal(None, role.value, role, company_id, store_id))

        def open(self, opening_float: str = "100.00", role: Role | None = None) -> uuid.UUID:
            with transaction(runtime.session_factory) as session:
                return svc.open_session(session, self.ctx(role), self.terminal_id, D(opening_float)).id

        def sale(self, lines, payments, client_uuid=None):
            return c.SaleIn(
                client_uuid=client_uuid or uuid.uuid4(),
                sold_at=SOLD_AT,
                lines=[
                    c.SaleLineIn(product_id=product, quantity=D(qty), unit_price=D(price))
                    for product, qty, price in lines
                ],
                payments=[
                    c.PaymentIn(payment_method_code=code, amount=D(amount)) for code, amount in payments
                ],
            )

        def three_sales(self):
            return [
                # cash with change: 2 coffees 7.20, paid 10.00, 2.80 back
                self.sale([(self.coffee, "2", "3.60")], [("CASH", "10.00")]),
                # card
                self.sale([(self.sandwich, "1", "6.00")], [("CARD", "6.00")]),
                # split: 9.60 = 5.00 cash + 4.60 card
                self.sale(
                    [(self.coffee, "1", "3.60"), (self.sandwich, "1", "6.00")],
                    [("CASH", "5.00"), ("CARD", "4.60")],
                ),
            ]

        def ingest(self, session_id, sales, role=None):
            with transaction(runtime.session_factory) as session:
                return svc.ingest_batch(session, self.ctx(role), session_id, sales)

        def close(self, session_id, counted, role=None):
            with transaction(runtime.session_factory) as session:
                closed = svc.close_session(
                    session, self.ctx(role), session_id, {k: D(v) for k, v in counted.items()}
                )
                return closed.closing_event_id

        def entry(self, event_id) -> dict[tuple[str, str], Decimal]:
            """The entry of an event: debit minus credit per (account role, label)."""
            with runtime.session_factory() as session:
                rows = session.execute(
                    select(Account.role, a.JournalLine.label, a.JournalLine.debit - a.JournalLine.credit)
                    .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(a.JournalEntry.event_id == event_id)
                )
                result: dict[tuple[str, str], Decimal] = {}
                for role, label, amount in rows:
                    result[(role, label)] = result.get((role, label), D(0)) + amount
                return result

        def balance(self, role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == company_id, Account.role == role)
                )
                return total if total is not None else D(0)

        def on_hand(self, product) -> Decimal:
            with runtime.session_factory() as session:
                return session.scalar(
                    select(i.StockQuant.quantity).where(
                        i.StockQuant.product_id == product, i.StockQuant.location_id == self.stock_location
                    )
                )

        def count(self, model, **where) -> int:
            with runtime.session_factory() as session:
                query = select(func.count()).select_from(model)
                for name, value in where.items():
                    query = query.where(getattr(model, name) == value)
                return session.scalar(query)

        def session_row(self, session_id) -> PosSession:
            with runtime.session_factory() as session:
                return session.get(PosSession, session_id)

    return Till()


EXACT_ENTRY = {
    ("cash_drawer", "POS tender cash"): D("12.20"),
    ("card_clearing", "POS tender card"): D("10.60"),
    ("sales_revenue", "POS sales Drinks"): D("-9.00"),
    ("sales_revenue", "POS sales Food"): D("-10.00"),
    ("output_tax", "POS sales tax VAT20"): D("-3.80"),
    # COGS from the valuation consumed at sale time: 3 coffees x 2.00, 2 sandwiches x 3.00
    ("cogs", "POS COGS Drinks"): D("6.00"),
    ("cogs", "POS COGS Food"): D("6.00"),
    ("inventory", "POS stock out Drinks"): D("-6.00"),
    ("inventory", "POS stock out Food"): D("-6.00"),
}


def exact_entry(handed_over: str) -> dict[tuple[str, str], Decimal]:
    """The close of the three sales, with the counted cash going from the drawer to the safe."""
    return {
        **EXACT_ENTRY,
        ("cash_in_transit", "Counted cash to the safe"): D(handed_over),
        ("cash_drawer", "Counted cash to the safe"): -D(handed_over),
    }


def test_a_session_closes_into_one_aggregated_pos_entry(till):
    session_id = till.open("100.00")
    result = till.ingest(session_id, till.three_sales())
    assert (result.accepted, result.duplicates, result.rescued) == (3, 0, 0)

    event_id = till.close(session_id, {"CASH": "112.20", "CARD": "10.60"})

    assert till.entry(event_id) == exact_entry("112.20")
    row = till.session_row(session_id)
    assert (row.state, row.expected_cash, row.cash_difference) == ("closed", D("112.20"), D("0.00"))
    assert row.differences == {"card|stripe": "0.00", "cash|": "0.00"}
    assert till.count(a.JournalEntry, event_id=event_id) == 1
    # Goods left the store's stock at sale time; their COGS is posted once, in the closing entry.
    assert till.on_hand(till.coffee) == D(7)
    assert till.on_hand(till.sandwich) == D(8)
    assert till.balance("cogs") == D("12.00")
    assert till.balance("sales_revenue") == D("-19.00")
    assert till.balance("output_tax") == D("-3.80")
    # The float came from the safe and the counted cash went back to it: the drawer is at zero.
    assert till.balance("cash_drawer") == D(0)
    assert till.balance("cash_in_transit") == D("12.20")


def test_the_same_batch_twice_is_taken_once(till):
    session_id = till.open()
    sales = till.three_sales()
    till.ingest(session_id, sales)
    again = till.ingest(session_id, sales)
    assert (again.accepted, again.duplicates) == (0, 3)
    assert till.count(OrderRow, channel="pos") == 3
    assert till.on_hand(till.coffee) == D(7)
    event_id = till.close(session_id, {"CASH": "112.20"})
    assert till.entry(event_id) == exact_entry("112.20")


def test_a_cash_shortage_goes_to_cash_difference_loss(till):
    session_id = till.open()
    till.ingest(session_id, till.three_sales())
    event_id = till.close(session_id, {"CASH": "107.20"})
    entry = till.entry(event_id)
    assert entry[("cash_difference_loss", "Cash short at close")] == D("5.00")
    assert entry[("cash_drawer", "Cash short at close")] == D("-5.00")
    assert sum(entry.values()) == 0
    assert till.session_row(session_id).cash_difference == D("-5.00")


def test_cash_movements_change_the_expected_cash(runtime, till):
    session_id = till.open()
    till.ingest(session_id, till.three_sales())
    with transaction(runtime.session_factory) as session:
        out = c.CashMovementIn(direction="out", amount=D("50.00"), reason="to the safe")
        svc.cash_movement(session, till.ctx(), session_id, out)
        svc.cash_movement(
            session,
            till.ctx(),
            session_id,
            c.CashMovementIn(direction="in", amount=D("5.00"), reason="coins"),
        )
    event_id = till.close(session_id, {"CASH": "67.20"})
    assert till.session_row(session_id).expected_cash == D("67.20")
    assert till.entry(event_id) == exact_entry("67.20")
    # float in (100), cash out to the safe (50), coins in (5), counted cash out (67.20): drawer at zero
    assert till.balance("cash_drawer") == D(0)


def test_a_shortage_above_the_threshold_needs_a_store_manager(till):
    session_id = till.open(role=Role.cashier)
    till.ingest(session_id, till.three_sales())
    with pytest.raises(Conflict) as refused:
        till.close(session_id, {"CASH": "80.00"}, role=Role.cashier)
    assert refused.value.code == "needs-approval"
    assert till.session_row(session_id).state == "open"
    event_id = till.close(session_id, {"CASH": "80.00"}, role=Role.store_manager)
    assert till.entry(event_id)[("cash_difference_loss", "Cash short at close")] == D("32.20")


def test_the_approval_threshold_is_the_company_setting(runtime, till):
    with transaction(runtime.session_factory) as session:
        session.get(Company, till.company_id).pos_approval_threshold = D("50.00")
    session_id = till.open(role=Role.cashier)
    till.ingest(session_id, till.three_sales())
    event_id = till.close(session_id, {"CASH": "80.00"}, role=Role.cashier)  # 32.20 short, under 50
    assert till.entry(event_id)[("cash_difference_loss", "Cash short at close")] == D("32.20")


def test_a_cashier_closes_only_their_own_session(till):
    session_id = till.open()  # opened by the back office, not by this cashier
    with pytest.raises(PermissionDenied):
        till.close(session_id, {"CASH": "100.00"}, role=Role.cashier)
    assert till.session_row(session_id).state == "open"


def test_sales_for_a_closed_session_land_in_a_rescue_session(till):
    session_id = till.open()
    first = till.three_sales()[:1]
    till.ingest(session_id, first)
    till.close(session_id, {"CASH": "107.20"})
    replay = till.ingest(session_id, first)  # a replay of a sale already taken stays a no-op
    assert (replay.accepted, replay.duplicates, replay.rescued) == (0, 1, 0)
    assert till.count(PosSession, is_rescue=True) == 0
    late = till.ingest(session_id, till.three_sales()[1:])
    assert (late.accepted, late.rescued) == (2, 2)
    rescue = till.session_row(late.session_id)
    assert rescue.is_rescue and rescue.state == "open" and rescue.terminal_id == till.terminal_id
    # a second late batch joins the same rescue session
    assert till.ingest(session_id, till.three_sales()[:1]).session_id == late.session_id
    assert till.count(OrderRow, pos_session_id=late.session_id) == 3


def test_a_batch_with_an_unpaid_sale_is_refused_whole(till):
    session_id = till.open()
    sales = till.three_sales()
    sales.append(till.sale([(till.coffee, "1", "3.60")], [("CARD", "3.00")]))
    with pytest.raises(ValidationFailed) as refused:
        till.ingest(session_id, sales)
    assert refused.value.code == "payment-short"
    assert refused.value.problems[0].field == "sales.3.payments"
    assert till.count(OrderRow, channel="pos") == 0
    # a card cannot be overpaid
    overpaid = till.sale([(till.coffee, "1", "3.60")], [("CARD", "5.00")])
    with pytest.raises(ValidationFailed, match="only cash"):
        till.ingest(session_id, [overpaid])


def test_running_totals_equal_the_recomputation(runtime, till):
    session_id = till.open()
    till.ingest(session_id, till.three_sales())
    till.ingest(session_id, till.three_sales())
    with runtime.session_factory() as session:
        running = svc.totals_as_dict(svc.running_totals(session, session_id))
        assert running == svc.recompute_totals(session, session_id)
        assert running[("tax", "VAT20")]["tax"] == D("7.60")
        assert running[("tender", "cash|")]["amount"] == D("24.40")
        assert running[("cogs", "Drinks|inventory")]["amount"] == D("12.00")
        # one stock operation per batch, posted with the session, not sale by sale
        events = select(func.count()).select_from(Event)
        assert session.scalar(events.where(Event.type == "PosGoodsIssued")) == 2
        assert session.scalar(events.where(Event.type == "GoodsIssued")) == 0


def test_one_open_session_per_terminal(till):
    till.open()
    with pytest.raises(Conflict) as refused:
        till.open()
    assert refused.value.code == "session-open"


def test_a_batch_publishes_the_new_availability_of_what_it_sold(runtime, till):
    session_id = till.open()
    with runtime.session_factory() as session:
        before = session.scalar(select(func.max(Event.position)))
    till.ingest(session_id, till.three_sales())
    with runtime.session_factory() as session:
        published = session.scalars(
            select(Event).where(Event.type == "AvailabilityChanged", Event.position > before)
        ).all()
    products = {event.payload["product_id"] for event in published}
    assert products == {str(till.coffee), str(till.sandwich)}


def test_the_next_batch_sees_master_data_changed_elsewhere(runtime, till):
    """Tax rates and payment methods come from the process's cache (decision 0070), the stamp read with
    the batch's first statement: a change committed by another process is taken by the next batch."""
    session_id = till.open()
    first = till.sale([(till.coffee, "1", "3.60")], [("CARD", "3.60")])
    till.ingest(session_id, [first])  # fills the cache
    with transaction(runtime.session_factory) as other:
        other.execute(update(Tax).where(Tax.company_id == till.company_id).values(rate_percent=D("10")))
        other.execute(
            update(PaymentMethod)
            .where(PaymentMethod.company_id == till.company_id, PaymentMethod.code == "CARD")
            .values(active=False)
        )
    with pytest.raises(ValidationFailed, match="no such active payment method"):
        till.ingest(session_id, [till.sale([(till.coffee, "1", "3.60")], [("CARD", "3.60")])])
    cash = till.sale([(till.coffee, "1", "3.30")], [("CASH", "3.30")])
    till.ingest(session_id, [cash])
    with runtime.session_factory() as session:
        taxes = dict(
            session.execute(
                select(OrderRow.client_uuid, OrderRow.tax_total).where(
                    OrderRow.client_uuid.in_([first.client_uuid, cash.client_uuid])
                )
            ).all()
        )
    assert taxes == {first.client_uuid: D("0.60"), cash.client_uuid: D("0.30")}
