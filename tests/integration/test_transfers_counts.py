"""Transfers between stores (ship, partial receipts, loss in transit) and cycle counts, down to the
quants, the stock events and the ledger balances."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.adapters.schema import metadata
from retailcore.core.errors import Conflict, InvalidReference, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import counts
from retailcore.inventory import tables as i
from retailcore.inventory import transfers as tr
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.transfer_tables import CountSheet, Transfer
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
DAY = dt.date(2026, 3, 10)
PQ = tr.ProductQuantity


class Shop:
    """Company ACME with stores S1 and S2: products, stock, quants, balances, and a unit of work."""

    def __init__(self, runtime: Any, client: Any, admin: dict[str, str], company: dict, stores: dict) -> None:
        self.runtime, self.client, self.admin = runtime, client, admin
        self.company_id = uuid.UUID(company["id"])
        self.stores = {code: uuid.UUID(store["id"]) for code, store in stores.items()}

    def location(self, kind: str, store: str | None = None) -> uuid.UUID:
        with self.runtime.session_factory() as session:
            query = select(Location.id).where(Location.company_id == self.company_id, Location.kind == kind)
            if store is not None:
                query = query.where(Location.store_id == self.stores[store])
            return session.scalar(query)

    def product(
        self, sku: str, method: str = "fifo", standard: str = "0", category: str = "Cat/A"
    ) -> uuid.UUID:
        body = {
            "company_id": str(self.company_id),
            "sku": sku,
            "name": sku,
            "category": category,
            "list_price": "30",
            "cost_method": method,
            "standard_cost": standard,
        }
        response = self.client.post("/api/v1/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    def do(self, work: Callable[[Any, CommandContext, Company], Any]) -> Any:
        """Run a service call in one committed transaction, as the API would."""
        with transaction(self.runtime.session_factory) as session:
            return work(session, CommandContext(system_principal()), session.get(Company, self.company_id))

    def move(
        self, kind: str, product: uuid.UUID, quantity: str, source: uuid.UUID, target: uuid.UUID, cost=None
    ):
        line = MoveLine(product, D(quantity), source, target, D(cost) if cost is not None else None)
        return self.do(
            lambda s, ctx, c: move_stock(s, ctx, c, kind=kind, lines=[line], date=DAY, reference=kind)
        )

    def receive(self, product: uuid.UUID, quantity: str, cost: str, store: str = "S1", kind: str = "stock"):
        self.move("receipt", product, quantity, self.location("supplier"), self.location(kind, store), cost)

    def quant(self, product: uuid.UUID, location_id: uuid.UUID) -> tuple[Decimal, Decimal]:
        with self.runtime.session_factory() as session:
            row = session.get(i.StockQuant, (product, location_id))
            return (row.quantity, row.value) if row else (D(0), D(0))

    def balance(self, role: str) -> Decimal:
        with self.runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(
                    Account.company_id == self.company_id,
                    Account.role == role,
                    a.JournalLine.state == "posted",
                )
            )
            return total if total is not None else D(0)

    def stock_value(self) -> Decimal:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.sum(i.ProductCost.value))) or D(0)

    def events(self, type: str) -> list[Event]:
        with self.runtime.session_factory() as session:
            return list(session.scalars(select(Event).where(Event.type == type).order_by(Event.position)))

    def row_counts(self) -> dict[str, int]:
        with self.runtime.session_factory() as session:
            return {
                t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables
            }

    def transfer(self, transfer_id: uuid.UUID) -> Transfer:
        with self.runtime.session_factory() as session:
            transfer = tr.get_transfer(session, self.company_id, transfer_id)
            session.expunge_all()
            return transfer

    def sheet(self, sheet_id: uuid.UUID) -> CountSheet:
        with self.runtime.session_factory() as session:
            sheet = counts.get_sheet(session, self.company_id, sheet_id)
            session.expunge_all()
            return sheet


@pytest.fixture
def shop(runtime, client, admin, company, store_factory) -> Shop:
    return Shop(runtime, client, admin, company, {"S1": store_factory("S1"), "S2": store_factory("S2")})


# -- transfers --------------------------------------------------------------------------------------


def _create(shop: Shop, lines: list[PQ], source: str = "S1", target: str = "S2") -> uuid.UUID:
    return shop.do(
        lambda s, ctx, c: (
            tr.create_transfer(
                s, ctx, c, from_store_id=shop.stores[source], to_store_id=shop.stores[target], lines=lines
            ).id
        )
    )


def _step(shop: Shop, transfer_id: uuid.UUID, action: Callable[..., Transfer], **kwargs: Any) -> Transfer:
    def work(s, ctx, c):
        return action(s, ctx, c, tr.get_transfer(s, c.id, transfer_id, lock=True), **kwargs).state

    shop.do(work)
    return shop.transfer(transfer_id)


def test_transfer_shipped_received_in_part_and_closed_with_a_loss(shop):
    pen, ink = shop.product("PEN", "fifo"), shop.product("INK", "average")
    shop.receive(pen, "10", "4.00")
    shop.receive(ink, "6", "2.50")
    s1, s2 = shop.location("stock", "S1"), shop.location("stock", "S2")
    s2_back, transit = shop.location("backroom", "S2"), shop.location("in_transit")
    assert shop.balance("inventory") == D("55.00")

    transfer_id = _create(shop, [PQ(pen, D("6")), PQ(ink, D("4"))])
    draft = shop.transfer(transfer_id)
    assert (draft.number, draft.state) == ("TR-000001", "draft")
    assert shop.quant(pen, s1) == (D("10"), D("40.00"))  # a draft moves nothing

    shipped = _step(shop, transfer_id, tr.ship, date=DAY)
    assert shipped.state == "shipped"
    assert [line.shipped_quantity for line in shipped.lines] == [D("6"), D("4")]
    assert shop.quant(pen, s1) == (D("4"), D("16.00"))
    assert shop.quant(ink, s1) == (D("2"), D("5.00"))
    assert shop.quant(pen, transit) == (D("6"), D("24.00"))
    assert shop.quant(ink, transit) == (D("4"), D("10.00"))
    assert (shop.balance("inventory"), shop.balance("stock_in_transit")) == (D("21.00"), D("34.00"))

    partial = _step(shop, transfer_id, tr.receive, lines=[PQ(pen, D("4"))], date=DAY)
    assert partial.state == "partially_received"
    partial = _step(
        shop, transfer_id, tr.receive, lines=[PQ(ink, D("1")), PQ(pen, D("1"))], location_id=s2_back, date=DAY
    )
    assert partial.state == "partially_received"
    assert shop.quant(pen, s2) == (D("4"), D("16.00"))
    assert shop.quant(pen, s2_back) == (D("1"), D("4.00"))
    assert shop.quant(ink, s2_back) == (D("1"), D("2.50"))
    assert (shop.balance("inventory"), shop.balance("stock_in_transit")) == (D("43.50"), D("11.50"))

    closed = _step(shop, transfer_id, tr.close, date=DAY)
    assert closed.state == "closed"
    assert [(ln.received_quantity, ln.lost_quantity) for ln in closed.lines] == [
        (D("5"), D("1")),
        (D("1"), D("3")),
    ]
    assert shop.quant(pen, transit) == (D("0"), D("0.00"))
    assert shop.quant(ink, transit) == (D("0"), D("0.00"))
    assert shop.balance("stock_in_transit") == 0
    assert shop.balance("inventory_shrinkage") == D("11.50")  # 1 pen at 4.00 + 3 ink at 2.50
    assert shop.balance("inventory") == D("43.50") == shop.stock_value()

    # The document's own events, and the stock events that carry its number.
    (created,) = shop.events("TransferCreated")
    assert created.aggregate_id == transfer_id and created.payload["number"] == "TR-000001"
    (closed_event,) = shop.events("TransferClosed")
    assert closed_event.payload["lost_value"] == "11.50"
    (shipped_event,) = shop.events("TransferShipped")
    assert shipped_event.payload["transfer_number"] == "TR-000001"
    assert [e.payload["transfer_id"] for e in shop.events("TransferReceived")] == [str(transfer_id)] * 2
    (lost,) = shop.events("StockScrapped")
    assert lost.payload["kind"] == "transit_loss"
    assert sorted(item["cost"] for item in lost.payload["items"]) == ["4.00", "7.50"]

    # Numbers run on without gaps.
    assert shop.transfer(_create(shop, [PQ(pen, D("1"))])).number == "TR-000002"


def test_a_fully_received_transfer_closes_without_a_loss(shop):
    pen = shop.product("PEN")
    shop.receive(pen, "3", "1.10")
    transfer_id = _create(shop, [PQ(pen, D("3"))])
    _step(shop, transfer_id, tr.ship, date=DAY)
    assert _step(shop, transfer_id, tr.receive, lines=[PQ(pen, D("3"))], date=DAY).state == "received"
    assert _step(shop, transfer_id, tr.close, date=DAY).state == "closed"
    assert shop.events("StockScrapped") == []
    assert shop.balance("stock_in_transit") == 0
    assert shop.balance("inventory") == D("3.30")


def test_over_receipt_is_refused_and_nothing_is_written(shop):
    pen, ink = shop.product("PEN"), shop.product("INK")
    shop.receive(pen, "5", "1.00")
    shop.receive(ink, "5", "1.00")
    transfer_id = _create(shop, [PQ(pen, D("2")), PQ(ink, D("2"))])
    _step(shop, transfer_id, tr.ship, date=DAY)
    _step(shop, transfer_id, tr.receive, lines=[PQ(ink, D("1.5"))], date=DAY)
    before = shop.row_counts()
    with pytest.raises(ValidationFailed) as refused:
        # The first line is fine, the second asks for more than the 0.5 still on the road.
        _step(shop, transfer_id, tr.receive, lines=[PQ(pen, D("2")), PQ(ink, D("0.5001"))], date=DAY)
    assert refused.value.code == "over-receipt"
    assert refused.value.problems[0].field == "lines.1.quantity"
    assert shop.row_counts() == before
    assert shop.quant(pen, shop.location("stock", "S2")) == (D("0"), D("0"))
    assert [line.received_quantity for line in shop.transfer(transfer_id).lines] == [D("0"), D("1.5")]


def test_cancel_only_before_shipping_and_each_step_once(shop):
    pen = shop.product("PEN")
    shop.receive(pen, "5", "1.00")
    draft = _create(shop, [PQ(pen, D("1"))])
    assert _step(shop, draft, tr.cancel).state == "cancelled"
    assert len(shop.events("TransferCancelled")) == 1
    with pytest.raises(Conflict):
        _step(shop, draft, tr.ship, date=DAY)

    shipped = _create(shop, [PQ(pen, D("2"))])
    _step(shop, shipped, tr.ship, date=DAY)
    before = shop.row_counts()
    for action in (tr.cancel, tr.ship):
        with pytest.raises(Conflict) as refused:
            _step(shop, shipped, action)
        assert refused.value.code == "transfer-state"
    assert shop.row_counts() == before
    assert shop.transfer(shipped).state == "shipped"


def test_shipping_more_than_is_available_is_refused(shop):
    pen = shop.product("PEN")
    shop.receive(pen, "2", "1.00")
    transfer_id = _create(shop, [PQ(pen, D("3"))])
    with pytest.raises(Conflict) as refused:
        _step(shop, transfer_id, tr.ship, date=DAY)
    assert refused.value.code == "insufficient-stock"
    assert shop.transfer(transfer_id).state == "draft"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([PQ(uuid.uuid4(), D("1"))], "lines.0.product_id"),
        (["pen:0"], "lines.0.quantity"),
        (["pen:1", "pen:2"], "lines.1.product_id"),
        (["pen:0.00001"], "lines.0.quantity"),
    ],
)
def test_bad_transfer_lines_are_refused(shop, lines, field):
    pen = shop.product("PEN")
    parsed = [PQ(pen, D(x.split(":")[1])) if isinstance(x, str) else x for x in lines]
    with pytest.raises((ValidationFailed, InvalidReference)) as refused:
        _create(shop, parsed)
    assert refused.value.problems[0].field == field


def test_a_transfer_goes_to_another_store(shop):
    pen = shop.product("PEN")
    with pytest.raises(ValidationFailed) as refused:
        _create(shop, [PQ(pen, D("1"))], "S1", "S1")
    assert refused.value.problems[0].field == "to_store_id"


# -- counts -----------------------------------------------------------------------------------------


def _sheet(shop: Shop, location_id: uuid.UUID, **kwargs: Any) -> uuid.UUID:
    return shop.do(lambda s, ctx, c: counts.create_sheet(s, ctx, c, location_id=location_id, **kwargs).id)


def _count(shop: Shop, sheet_id: uuid.UUID, action: Callable[..., CountSheet], *args: Any, **kwargs: Any):
    shop.do(
        lambda s, ctx, c: action(s, ctx, c, counts.get_sheet(s, c.id, sheet_id, lock=True), *args, **kwargs)
    )
    return shop.sheet(sheet_id)


def test_count_with_gains_and_losses_posts_stock_counted_and_measures_accuracy(shop):
    gain, loss, close, found, exact, skipped = (
        shop.product("GAIN", "fifo"),
        shop.product("LOSS", "average"),
        shop.product("CLOSE", "fifo"),
        shop.product("FOUND", "standard", standard="3.00"),
        shop.product("EXACT", "fifo"),
        shop.product("SKIP", "fifo"),
    )
    shop.receive(gain, "10", "2.00")
    shop.receive(loss, "5", "4.00")
    shop.receive(close, "100", "1.00")
    shop.receive(exact, "50", "0.50")
    shop.receive(skipped, "3", "1.00")
    stock = shop.location("stock", "S1")
    inventory_before = shop.balance("inventory")

    sheet_id = _sheet(shop, stock)
    sheet = shop.sheet(sheet_id)
    assert (sheet.number, sheet.state, sheet.tolerance_percent) == ("CC-000001", "open", D("2"))
    # Every product with stock at the location, expected at its on hand (FOUND has none: not listed).
    assert {line.product_id: line.expected_quantity for line in sheet.lines} == {
        gain: D("10"),
        loss: D("5"),
        close: D("100"),
        exact: D("50"),
        skipped: D("3"),
    }

    entry = counts.CountEntry
    _count(shop, sheet_id, counts.record_counts, [entry(gain, D("11")), entry(loss, D("3"))])
    # Partial updates: a second pass corrects GAIN and adds the rest, including a product found.
    sheet = _count(
        shop,
        sheet_id,
        counts.record_counts,
        [entry(gain, D("12")), entry(close, D("99")), entry(found, D("2")), entry(exact, D("50"))],
    )
    by_product = {line.product_id: line for line in sheet.lines}
    assert by_product[found].expected_quantity == 0
    assert by_product[gain].difference == D("2")
    assert by_product[skipped].counted_quantity is None

    sheet = _count(shop, sheet_id, counts.submit)
    assert sheet.state == "submitted"
    assert not any(line.stock_moved for line in sheet.lines)
    sheet = _count(shop, sheet_id, counts.approve, date=DAY)
    assert sheet.state == "approved" and sheet.count_date == DAY

    # On hand is what was counted; the uncounted line is left alone.
    assert shop.quant(gain, stock) == (D("12"), D("24.00"))
    assert shop.quant(loss, stock) == (D("3"), D("12.00"))
    assert shop.quant(close, stock) == (D("99"), D("99.00"))
    assert shop.quant(found, stock) == (D("2"), D("6.00"))
    assert shop.quant(exact, stock) == (D("50"), D("25.00"))
    assert shop.quant(skipped, stock) == (D("3"), D("3.00"))
    by_product = {line.product_id: line for line in sheet.lines}
    assert by_product[loss].adjusted_quantity == D("-2")

    # Two StockCounted events: gains (+2 x 2.00, +2 x 3.00) and losses (-2 x 4.00, -1 x 1.00).
    counted = shop.events("StockCounted")
    assert [e.payload["kind"] for e in counted] == ["count_gain", "count_loss"]
    differences = [{item["sku"]: item["difference"] for item in e.payload["items"]} for e in counted]
    assert differences == [{"GAIN": "4.00", "FOUND": "6.00"}, {"LOSS": "-8.00", "CLOSE": "-1.00"}]
    assert all(e.payload["count_sheet_number"] == "CC-000001" for e in counted)
    assert shop.balance("inventory") == inventory_before + D("10.00") - D("9.00") == shop.stock_value()
    assert shop.balance("inventory_shrinkage") == D("-1.00")  # found more than lost

    # Within 2%: CLOSE (1 of 100) and EXACT; GAIN 20% off, LOSS 40% off, FOUND expected 0 but found 2.
    accuracy = counts.sheet_accuracy(sheet)
    assert (accuracy.lines_counted, accuracy.lines_within_tolerance, accuracy.percent) == (5, 2, D("40.00"))
    with shop.runtime.session_factory() as session:
        sheets, total = counts.accuracy_report(session, shop.company_id, store_id=shop.stores["S1"])
        assert (sheets, total.lines_counted, total.lines_within_tolerance, total.percent) == (
            1,
            5,
            2,
            D("40.00"),
        )
        outside = counts.accuracy_report(session, shop.company_id, date_from=DAY + dt.timedelta(days=1))
        assert outside[0] == 0 and outside[1].percent is None
    (approved,) = shop.events("CountSheetApproved")
    assert approved.payload["accuracy_percent"] == "40.00"
    assert approved.payload["value"] == "1.00"


def test_a_count_whose_stock_moved_since_the_snapshot_must_be_recounted(shop):
    pen, ink = shop.product("PEN"), shop.product("INK")
    shop.receive(pen, "10", "1.00")
    shop.receive(ink, "4", "1.00")
    stock = shop.location("stock", "S1")
    sheet_id = _sheet(shop, stock)
    shop.move("delivery", pen, "1", stock, shop.location("customer"))  # a sale during the count
    _count(
        shop, sheet_id, counts.record_counts, [counts.CountEntry(pen, D("8")), counts.CountEntry(ink, D("4"))]
    )
    sheet = _count(shop, sheet_id, counts.submit)
    assert {line.product_id: line.stock_moved for line in sheet.lines} == {pen: True, ink: False}
    before = shop.row_counts()
    with pytest.raises(Conflict) as refused:
        _count(shop, sheet_id, counts.approve, date=DAY)
    assert refused.value.code == "count-stale"
    assert shop.row_counts() == before

    sheet = _count(shop, sheet_id, counts.recount)
    lines = {line.product_id: line for line in sheet.lines}
    assert sheet.state == "open"
    assert (lines[pen].expected_quantity, lines[pen].counted_quantity) == (D("9"), None)
    assert lines[ink].counted_quantity == D("4")  # untouched lines keep their count
    _count(shop, sheet_id, counts.record_counts, [counts.CountEntry(pen, D("8"))])
    _count(shop, sheet_id, counts.submit)
    _count(shop, sheet_id, counts.approve, date=DAY)
    assert shop.quant(pen, stock) == (D("8"), D("8.00"))
    assert shop.balance("inventory_shrinkage") == D("1.00")


def test_a_category_count_lists_active_products_of_the_category_and_its_children(shop):
    top = shop.product("TOP", category="Apparel")
    child = shop.product("CHILD", category="Apparel/Tops")
    shop.product("OTHER", category="Apparel2")
    shop.receive(child, "2", "1.00", kind="backroom")
    backroom = shop.location("backroom", "S1")
    sheet = shop.sheet(_sheet(shop, backroom, category_prefix="Apparel", tolerance_percent=D("5")))
    assert (sheet.scope, sheet.category_prefix) == ("category", "Apparel")
    assert {line.product_id: line.expected_quantity for line in sheet.lines} == {top: D("0"), child: D("2")}
    other = shop.product("OTHER2", category="Shoes")
    with pytest.raises(ValidationFailed) as refused:
        _count(shop, sheet.id, counts.record_counts, [counts.CountEntry(other, D("1"))])
    assert refused.value.problems[0].field == "lines.0.product_id"


def test_counts_refuse_virtual_locations_and_empty_submissions(shop):
    with pytest.raises(ValidationFailed):
        _sheet(shop, shop.location("in_transit"))
    sheet_id = _sheet(shop, shop.location("stock", "S1"))
    with pytest.raises(ValidationFailed):
        _count(shop, sheet_id, counts.submit)
    assert _count(shop, sheet_id, counts.cancel).state == "cancelled"
    with pytest.raises(Conflict):
        _count(shop, sheet_id, counts.approve)


@pytest.mark.parametrize(
    ("expected", "counted", "tolerance", "within"),
    [
        ("100", "98", "2", True),
        ("100", "97.9", "2", False),
        ("0", "0", "2", True),
        ("0", "0.0001", "50", False),
        ("-2", "0", "2", False),
        ("10", "10", "0", True),
    ],
)
def test_tolerance(expected, counted, tolerance, within):
    assert counts.within_tolerance(D(expected), D(counted), D(tolerance)) is within
