"""Purchase orders -> receipts -> vendor bills, three-way matched, and what reaches the books."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from retailcore.access.model import Principal, Role, system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.adapters.schema import metadata
from retailcore.core.errors import Conflict, InvalidReference, PermissionDenied, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import purchasing as svc
from retailcore.inventory import purchasing_tables as p
from retailcore.inventory import tables as i
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
VAT = "FR-VAT-20"


class Buyer:
    """Drives the purchasing service for company ACME with stores S1 and S2, and reads the books."""

    def __init__(self, runtime: Any, client: Any, admin: dict[str, str], company: dict, stores: dict) -> None:
        self.runtime = runtime
        self.client = client
        self.admin = admin
        self.company_id = uuid.UUID(company["id"])
        self.stores = {code: uuid.UUID(store["id"]) for code, store in stores.items()}
        self.finance = Principal(
            token_id=None, name="fiona", role=Role.finance, company_id=self.company_id, store_id=None
        )

    def ctx(self, principal: Principal | None = None) -> CommandContext:
        return CommandContext(principal or system_principal())

    def location(self, kind: str, store: str = "S1") -> uuid.UUID:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(Location.id).where(Location.store_id == self.stores[store], Location.kind == kind)
            )

    def product(self, sku: str, method: str = "fifo", standard: str = "0") -> uuid.UUID:
        body = {
            "company_id": str(self.company_id),
            "sku": sku,
            "name": sku,
            "category": "Cat/A",
            "list_price": "30",
            "cost_method": method,
            "standard_cost": standard,
        }
        response = self.client.post("/api/v1/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    def order(self, *lines: tuple[uuid.UUID, str, str], store: str = "S1", confirm: bool = True) -> dict:
        request = svc.CreatePurchaseOrder(
            supplier="Fabrikam Textiles",
            supplier_ref="FAB-01",
            store_id=self.stores[store],
            order_date=dt.date(2026, 3, 1),
            expected_date=dt.date(2026, 3, 10),
            lines=[svc.OrderLineIn(product_id=pr, quantity=D(q), unit_price=D(pc)) for pr, q, pc in lines],
        )
        with transaction(self.runtime.session_factory) as session:
            company = session.get(Company, self.company_id)
            order = svc.create_order(session, self.ctx(), company, request)
            if confirm:
                svc.confirm_order(session, self.ctx(), order)
            return svc.order_view(session, order).model_dump()

    def read(self, order_id: uuid.UUID) -> dict:
        with self.runtime.session_factory() as session:
            return svc.order_view(session, svc.get_order(session, system_principal(), order_id)).model_dump()

    def receive(self, order: dict, *lines: tuple[int, str], kind: str = "stock", day: int = 5) -> dict:
        request = svc.RecordReceipt(
            purchase_order_id=order["id"],
            date=dt.date(2026, 3, day),
            lines=[
                svc.ReceiptLineIn(
                    po_line_id=order["lines"][index]["id"], quantity=D(q), location_id=self.location(kind)
                )
                for index, q in lines
            ],
        )
        with transaction(self.runtime.session_factory) as session:
            return svc.receipt_view(session, svc.receive(session, self.ctx(), request)).model_dump()

    def bill(self, order: dict, *lines: tuple[int, str, str, str], day: int = 15) -> dict:
        """``lines``: (PO line index, quantity, unit price, tax)."""
        request = svc.RecordVendorBill(
            purchase_order_id=order["id"],
            bill_date=dt.date(2026, 3, day),
            supplier_invoice_ref="INV-778",
            lines=[
                svc.BillLineIn(
                    po_line_id=order["lines"][index]["id"],
                    quantity=D(q),
                    unit_price=D(price),
                    tax_code=VAT,
                    tax=D(tax),
                )
                for index, q, price, tax in lines
            ],
        )
        with transaction(self.runtime.session_factory) as session:
            return svc.bill_view(session, svc.record_vendor_bill(session, self.ctx(), request)).model_dump()

    def on_bill(self, bill_id: uuid.UUID, action: str, principal: Principal | None = None) -> dict:
        with transaction(self.runtime.session_factory) as session:
            bill = svc.get_bill(session, system_principal(), bill_id, lock=True)
            if action == "approve":
                svc.approve_bill_exception(
                    session, self.ctx(principal or self.finance), bill, "agreed by phone"
                )
            else:
                svc.cancel_bill(session, self.ctx(principal), bill, "wrong price")
            return svc.bill_view(session, bill).model_dump()

    def on_order(self, order_id: uuid.UUID, action: str) -> dict:
        with transaction(self.runtime.session_factory) as session:
            order = svc.get_order(session, system_principal(), order_id, lock=True)
            getattr(svc, f"{action}_order")(session, self.ctx(), order)
            return svc.order_view(session, order).model_dump()

    def balance(self, role: str) -> Decimal:
        with self.runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == self.company_id, Account.role == role)
            )
            return total if total is not None else D(0)

    def stock_value(self) -> Decimal:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.sum(i.ProductCost.value))) or D(0)

    def events(self, type: str) -> list[Event]:
        with self.runtime.session_factory() as session:
            return list(session.scalars(select(Event).where(Event.type == type).order_by(Event.position)))

    def exceptions(self) -> list[i.StockException]:
        with self.runtime.session_factory() as session:
            return list(
                session.scalars(
                    select(i.StockException)
                    .where(i.StockException.kind == "bill_mismatch")
                    .order_by(i.StockException.id)
                )
            )

    def counts(self) -> dict[str, int]:
        with self.runtime.session_factory() as session:
            return {
                t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables
            }


@pytest.fixture
def buyer(runtime, client, admin, company, store_factory) -> Buyer:
    stores = {"S1": store_factory("S1"), "S2": store_factory("S2")}
    return Buyer(runtime, client, admin, company, stores)


def quantities(order: dict, name: str) -> list[Decimal]:
    return [line[name] for line in order["lines"]]


def test_order_received_in_two_deliveries_and_billed_at_the_po_price_clears_grni(buyer):
    shirt, mug = buyer.product("SHIRT", "fifo"), buyer.product("MUG", "average")
    order = buyer.order((shirt, "10", "4.50"), (mug, "5", "12.00"))
    assert order["number"] == "PO-000001"
    assert order["state"] == "confirmed"
    assert order["currency"] == "EUR"
    assert order["total"] == D("105.00")

    first = buyer.receive(order, (0, "6"), (1, "5"))
    assert first["number"] == "RC-000001"
    assert first["purchase_value"] == D("87.00")
    order = buyer.read(order["id"])
    assert order["state"] == "partially_received"
    assert quantities(order, "received_quantity") == [D("6"), D("5")]
    assert quantities(order, "backorder_quantity") == [D("4"), D("0")]
    assert buyer.balance("inventory") == D("87.00")
    assert buyer.balance("goods_received_not_invoiced") == D("-87.00")

    buyer.receive(order, (0, "4"), kind="backroom", day=8)
    order = buyer.read(order["id"])
    assert order["state"] == "received"
    assert quantities(order, "backorder_quantity") == [D("0"), D("0")]
    assert quantities(order, "to_bill_quantity") == [D("10"), D("5")]
    assert buyer.balance("inventory") == D("105.00") == buyer.stock_value()
    assert buyer.balance("goods_received_not_invoiced") == D("-105.00")
    receipts = buyer.events("GoodsReceived")
    assert [e.payload["reference"] for e in receipts] == ["PO-000001", "PO-000001"]
    assert receipts[1].payload["receipt_number"] == "RC-000002"

    bill = buyer.bill(order, (0, "10", "4.50", "9.00"), (1, "5", "12.00", "12.00"))
    assert bill["state"] == "matched"
    assert bill["number"] == "BILL-000001"
    assert (bill["net_amount"], bill["tax_amount"], bill["total"]) == (D("105.00"), D("21.00"), D("126.00"))
    assert bill["mismatches"] == []
    assert buyer.balance("inventory") == D("105.00")
    assert buyer.balance("goods_received_not_invoiced") == D("0.00")
    assert buyer.balance("input_tax") == D("21.00")
    assert buyer.balance("payables") == D("-126.00")
    order = buyer.read(order["id"])
    assert quantities(order, "billed_quantity") == [D("10"), D("5")]
    assert order["state"] == "closed"  # fully received and billed

    [posted] = buyer.events("VendorBillRecorded")
    assert posted.payload["goods_amount"] == "105.00"
    assert posted.payload["taxes"] == [{"tax_code": VAT, "tax": "21.00", "tax_base": "105.00"}]
    assert posted.payload["total"] == "126.00"
    assert posted.payload["supplier"] == "Fabrikam Textiles"
    with buyer.runtime.session_factory() as session:
        entry = session.scalar(select(a.JournalEntry).where(a.JournalEntry.event_id == posted.id))
        assert entry.state == "posted" and entry.number == "PURCH/2026/000001"
        assert entry.date == dt.date(2026, 3, 15)
        tax_line = next(line for line in entry.lines if line.tax_code == VAT)
        assert (tax_line.debit, tax_line.tax_base) == (D("21.00"), D("105.00"))


def test_over_receipt_is_refused_naming_the_line_and_writes_nothing(buyer):
    shirt, mug = buyer.product("SHIRT"), buyer.product("MUG")
    order = buyer.order((shirt, "10", "4.50"), (mug, "2", "3.00"))
    buyer.receive(order, (0, "6"))
    before = buyer.counts()
    with pytest.raises(Conflict) as refused:
        buyer.receive(order, (1, "1"), (0, "3"), (0, "2"))  # 6 + 3 + 2 = 11 > 10
    assert refused.value.code == "over-receipt"
    assert [problem.field for problem in refused.value.problems] == ["lines.2.quantity"]
    assert refused.value.detail == (
        "over-receipt on PO-000001 for SHIRT (lines.2): ordered 10.00, already received 6.00,"
        " this receipt 5.00: 1.00 more than ordered"
    )
    assert buyer.counts() == before
    order = buyer.read(order["id"])
    assert quantities(order, "received_quantity") == [D("6"), D("0")]
    assert buyer.balance("inventory") == D("27.00")


def test_receipts_go_into_a_stock_location_of_the_orders_store(buyer):
    shirt = buyer.product("SHIRT")
    order = buyer.order((shirt, "10", "4.50"))
    request = svc.RecordReceipt(
        purchase_order_id=order["id"],
        lines=[
            svc.ReceiptLineIn(
                po_line_id=order["lines"][0]["id"], quantity=D(1), location_id=buyer.location("stock", "S2")
            )
        ],
    )
    with pytest.raises(ValidationFailed) as refused, transaction(buyer.runtime.session_factory) as session:
        svc.receive(session, buyer.ctx(), request)
    assert refused.value.problems[0].field == "lines.0.location_id"
    damaged = request.model_copy(
        update={"lines": [request.lines[0].model_copy(update={"location_id": buyer.location("damaged")})]}
    )
    with pytest.raises(ValidationFailed), transaction(buyer.runtime.session_factory) as session:
        svc.receive(session, buyer.ctx(), damaged)


def test_a_bill_priced_outside_the_tolerance_is_held_and_posts_only_when_finance_approves(buyer):
    shirt = buyer.product("SHIRT")
    order = buyer.order((shirt, "10", "4.50"))
    buyer.receive(order, (0, "10"))
    bill = buyer.bill(order, (0, "10", "4.70", "9.40"))  # 4.4 % over the PO price
    assert bill["state"] == "exception"
    assert bill["posted_event_id"] is None
    assert buyer.events("VendorBillRecorded") == []
    assert buyer.balance("payables") == D("0")
    assert buyer.balance("goods_received_not_invoiced") == D("-45.00")
    [mismatch] = bill["mismatches"]
    assert mismatch["kind"] == "price" and mismatch["line"] == 0 and mismatch["sku"] == "SHIRT"
    assert (mismatch["po_unit_price"], mismatch["billed_unit_price"]) == ("4.50", "4.70")
    assert mismatch["difference"] == "0.20"
    [exception] = buyer.exceptions()
    assert exception.status == "open" and exception.store_id == buyer.stores["S1"]
    assert exception.product_id == shirt
    assert exception.details["bill_number"] == "BILL-000001"
    assert "line 0 (SHIRT) price off by 0.20" in exception.message
    assert buyer.read(order["id"])["lines"][0]["billed_quantity"] == D("0")

    integration = Principal(
        token_id=None, name="shop-sync", role=Role.integration, company_id=buyer.company_id, store_id=None
    )
    with pytest.raises(PermissionDenied):
        buyer.on_bill(bill["id"], "approve", integration)

    approved = buyer.on_bill(bill["id"], "approve")
    assert approved["state"] == "posted"
    assert approved["approved_by"] == "fiona" and approved["approved_at"] is not None
    [posted] = buyer.events("VendorBillRecorded")
    assert posted.actor == "fiona" and posted.payload["approved_by"] == "fiona"
    assert buyer.balance("payables") == D("-56.40")
    assert buyer.balance("input_tax") == D("9.40")
    # GRNI is cleared at the received value; the approved 2.00 price difference is a price variance.
    assert buyer.balance("goods_received_not_invoiced") == D("0.00")
    assert buyer.balance("price_variance") == D("2.00")
    [exception] = buyer.exceptions()
    assert exception.status == "resolved" and exception.updated_by == "fiona"
    assert exception.details["resolution"] == "approved"
    assert buyer.read(order["id"])["state"] == "closed"

    with pytest.raises(Conflict) as again:
        buyer.on_bill(bill["id"], "approve")
    assert again.value.code == "invalid-state-transition"


def test_a_price_within_the_tolerance_matches(buyer):
    shirt, button = buyer.product("SHIRT"), buyer.product("BUTTON")
    order = buyer.order((shirt, "10", "4.50"), (button, "100", "0.10"))
    buyer.receive(order, (0, "10"), (1, "100"))
    # 4.59 is 2 % above 4.50; 0.11 is 10 % above 0.10 but within the 0.01 absolute tolerance
    bill = buyer.bill(order, (0, "10", "4.59", "0"), (1, "100", "0.11", "0"))
    assert bill["state"] == "matched"
    assert buyer.balance("payables") == D("-56.90")
    assert buyer.balance("goods_received_not_invoiced") == D("0.00")
    assert buyer.balance("price_variance") == D("1.90")


def test_the_tolerance_is_configurable_per_company_by_finance(buyer):
    shirt = buyer.product("SHIRT")
    order = buyer.order((shirt, "10", "4.50"))
    buyer.receive(order, (0, "10"))
    change = svc.ChangePurchasingSettings(price_tolerance_percent=D("5"), price_tolerance_amount=D("0"))
    with pytest.raises(PermissionDenied), transaction(buyer.runtime.session_factory) as session:
        svc.change_settings(session, buyer.ctx(), session.get(Company, buyer.company_id), change)
    with transaction(buyer.runtime.session_factory) as session:
        svc.change_settings(session, buyer.ctx(buyer.finance), session.get(Company, buyer.company_id), change)
    assert buyer.bill(order, (0, "5", "4.70", "0"))["state"] == "matched"  # 4.4 % < 5 %
    assert buyer.bill(order, (0, "5", "4.75", "0"))["state"] == "exception"  # 5.6 % > 5 %
    [changed] = buyer.events("PurchasingSettingsChanged")
    assert changed.payload["before"]["price_tolerance_percent"] == "2.00"
    assert changed.payload["after"]["price_tolerance_percent"] == "5.00"


def test_billing_more_than_received_and_not_yet_billed_is_an_exception(buyer):
    shirt = buyer.product("SHIRT")
    order = buyer.order((shirt, "10", "4.50"))
    buyer.receive(order, (0, "6"))
    held = buyer.bill(order, (0, "8", "4.50", "7.20"))
    assert held["state"] == "exception"
    [mismatch] = held["mismatches"]
    assert mismatch["kind"] == "quantity"
    assert (mismatch["billed_quantity"], mismatch["received_quantity"]) == ("8.00", "6.00")
    assert mismatch["difference"] == "2.00"
    assert buyer.balance("payables") == D("0")

    cancelled = buyer.on_bill(held["id"], "cancel")
    assert cancelled["state"] == "cancelled" and cancelled["cancelled_by"] == "cli"
    assert buyer.exceptions()[0].status == "resolved"

    assert buyer.bill(order, (0, "4", "4.50", "3.60"))["state"] == "matched"
    # 6 received, 4 billed: 2 more match, 3 more do not (two lines of one bill count together)
    again = buyer.bill(order, (0, "2", "4.50", "1.80"), (0, "1", "4.50", "0.90"))
    assert again["state"] == "exception"
    assert [(m["line"], m["kind"], m["difference"]) for m in again["mismatches"]] == [(1, "quantity", "1.00")]
    assert buyer.balance("payables") == D("-21.60")
    assert buyer.balance("goods_received_not_invoiced") == D("-9.00")
    with pytest.raises(Conflict):
        buyer.on_bill(cancelled["id"], "cancel")


def test_state_transitions_are_declared_and_refused_with_a_clear_error(buyer):
    shirt = buyer.product("SHIRT")
    draft = buyer.order((shirt, "10", "4.50"), confirm=False)
    assert draft["state"] == "draft"
    with pytest.raises(Conflict) as not_confirmed:
        buyer.receive(draft, (0, "1"))
    assert "confirm it first" in not_confirmed.value.detail
    with pytest.raises(Conflict) as unbillable:
        buyer.bill(draft, (0, "1", "4.50", "0"))
    assert unbillable.value.code == "invalid-state-transition"

    confirmed = buyer.on_order(draft["id"], "confirm")
    with pytest.raises(Conflict) as twice:
        buyer.on_order(draft["id"], "confirm")
    assert twice.value.code == "invalid-state-transition"
    assert twice.value.detail == (
        "purchase order PO-000001 is confirmed and cannot be confirmed"
        " (allowed from confirmed: cancelled, partially_received, received)"
    )
    with pytest.raises(Conflict):
        buyer.on_order(draft["id"], "close")  # nothing received: cancel it instead

    buyer.receive(confirmed, (0, "4"))
    with pytest.raises(Conflict) as has_receipts:
        buyer.on_order(draft["id"], "cancel")
    assert has_receipts.value.code == "purchase-order-has-receipts"
    assert buyer.read(draft["id"])["state"] == "partially_received"

    closed = buyer.on_order(draft["id"], "close")
    assert closed["state"] == "closed" and closed["closed_by"] == "cli"
    [close_event] = buyer.events("PurchaseOrderClosed")
    assert close_event.payload["dropped_backorder"][0]["backorder_quantity"] == "6.0000"
    with pytest.raises(Conflict):
        buyer.receive(closed, (0, "1"))
    # goods received before closing can still be billed
    assert buyer.bill(closed, (0, "4", "4.50", "3.60"))["state"] == "matched"

    other = buyer.order((shirt, "1", "4.50"))
    assert buyer.on_order(other["id"], "cancel")["state"] == "cancelled"
    with pytest.raises(Conflict):
        buyer.on_order(other["id"], "confirm")
    assert svc.TRANSITIONS["cancelled"] == frozenset() == svc.TRANSITIONS["closed"]


def test_numbers_are_gap_free_per_company_and_bad_orders_are_refused(buyer):
    shirt = buyer.product("SHIRT")
    assert buyer.order((shirt, "1", "1"))["number"] == "PO-000001"
    with pytest.raises(InvalidReference) as bad:
        buyer.order((shirt, "1", "1"), (uuid.uuid4(), "1", "1"))
    assert bad.value.problems[0].field == "lines.1.product_id"
    assert buyer.order((shirt, "1", "1"))["number"] == "PO-000002"
    with buyer.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(p.PurchaseOrder)) == 2
    request = svc.CreatePurchaseOrder(
        supplier="X",
        store_id=buyer.stores["S1"],
        order_date=dt.date(2026, 3, 2),
        expected_date=dt.date(2026, 3, 1),
        lines=[svc.OrderLineIn(product_id=shirt, quantity=D(1), unit_price=D(1))],
    )
    with pytest.raises(ValidationFailed) as late, transaction(buyer.runtime.session_factory) as session:
        svc.create_order(session, buyer.ctx(), session.get(Company, buyer.company_id), request)
    assert late.value.problems[0].field == "expected_date"


def test_standard_cost_products_still_clear_grni_at_the_purchase_price(buyer):
    widget = buyer.product("WIDGET", "standard", standard="4.00")
    order = buyer.order((widget, "10", "4.50"))
    buyer.receive(order, (0, "10"))
    assert buyer.balance("inventory") == D("40.00")
    assert buyer.balance("price_variance") == D("5.00")
    buyer.bill(order, (0, "10", "4.50", "9.00"))
    assert buyer.balance("goods_received_not_invoiced") == D("0.00")
    assert buyer.balance("payables") == D("-54.00")
