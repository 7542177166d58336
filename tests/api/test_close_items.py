"""The close's own entries and measures (issue 17, decision 0041), with worked numbers.

* Accruals: two B2B orders shipped this month and not invoiced (100.00 owed; 30.00 of which 10.00 was
  paid after delivery, 20.00 owed) accrue 120.00 from receivable to unbilled receivable on the month's
  last day, reversed on the next month's first day; a second run posts nothing; invoicing the first
  order makes the accrual stale (red) and the next run posts only its -100.00; a locked month refuses.
* Customer deposits: green on a consistent book, red naming the order whose capture entry was reversed
  by hand, and red with an unattributed row for an entry on the deposits account by hand.
* The tax return per box from a layout as data, and its CSV.
* The close report's CSV lists the entries each check produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from settlement_shop import Shop
from sqlalchemy import func, select

from retailcore.accounting import tables as a
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Location

D = Decimal
TODAY = dt.datetime.now(dt.UTC).date()
PERIOD = TODAY.strftime("%Y-%m")
NEXT_FIRST = dt.date(TODAY.year + TODAY.month // 12, TODAY.month % 12 + 1, 1)
LAST_DAY = NEXT_FIRST - dt.timedelta(days=1)


@pytest.fixture
def shop(runtime, client, admin):
    return Shop(runtime, client, admin)


@pytest.fixture
def finance(auth, shop):
    return auth("finance", company="SHOP")


def role_balance(shop: Shop, role: str, on: dt.date) -> Decimal:
    """Debit minus credit of the role's posted lines up to ``on``."""
    with shop.runtime.session_factory() as session:
        total = session.scalar(
            select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(
                Account.company_id == shop.id,
                Account.role == role,
                a.JournalLine.state == "posted",
                a.JournalLine.date <= on,
            )
        )
        return total if total is not None else D(0)


def events_of(shop: Shop) -> int:
    with shop.runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.company_id == shop.id))


def b2b_order(client, admin, shop: Shop, customer: dict, price: str, quantity: str) -> dict:
    product = shop._product(price)
    body = {
        "company_id": shop.company["id"],
        "channel": "b2b",
        "customer_id": customer["id"],
        "lines": [{"product_id": product["id"], "quantity": quantity}],
    }
    placed = client.post(f"{API}/orders", json=body, headers=admin)
    assert placed.status_code == 201, placed.text
    shipped = client.post(f"{API}/orders/{placed.json()['id']}/fulfillments", json={}, headers=admin)
    assert shipped.status_code == 200, shipped.text
    return shipped.json()


def checklist(client, finance) -> dict:
    found = client.get(f"{API}/periods/{PERIOD}/close-checklist", headers=finance)
    assert found.status_code == 200, found.text
    return found.json()


def item(found: dict, code: str) -> dict:
    [only] = [i for i in found["items"] if i["code"] == code]
    return only


def accrue(client, finance) -> dict:
    ran = client.post(f"{API}/periods/{PERIOD}/accruals", json={}, headers=finance)
    assert ran.status_code == 200, ran.text
    return ran.json()


def test_accruals_post_reverse_next_period_rerun_by_difference_and_respect_the_lock(
    client, admin, create, finance, shop
):
    customer = create("/customers", {"company_id": shop.company["id"], "name": "Trade Co"})
    first = b2b_order(client, admin, shop, customer, "50.00", "2")  # 100.00 owed
    second = b2b_order(client, admin, shop, customer, "30.00", "1")
    paid = client.post(
        f"{API}/orders/{second['id']}/payments",
        json={"gateway": "stripe", "reference": "ch_after_delivery", "amount": "10.00"},
        headers=admin,
    )
    assert paid.status_code == 200, paid.text  # 10.00 of 30.00 settled: 20.00 owed

    before = item(checklist(client, finance), "accruals")
    assert before["status"] == "red"
    assert (before["figures"]["shipped_not_invoiced"], before["figures"]["to_accrue"]) == ("130.00", "120.00")
    assert (before["figures"]["accrued"], before["figures"]["ran"]) == ("0.00", False)
    assert role_balance(shop, "receivable", LAST_DAY) == D("120.00")

    run = accrue(client, finance)

    assert (run["date"], run["reversal_date"]) == (LAST_DAY.isoformat(), NEXT_FIRST.isoformat())
    assert sorted(p["amount"] for p in run["posted"]) == ["100.00", "20.00"]
    accrual, reversal = run["entries"]
    assert (accrual["date"], accrual["amount"], accrual["reversal_of"]) == (
        LAST_DAY.isoformat(),
        "120.00",
        None,
    )
    assert (reversal["date"], reversal["amount"]) == (NEXT_FIRST.isoformat(), "120.00")
    assert reversal["reversal_of"] == accrual["number"]
    # The month's last day shows the 120.00 as unbilled; the next month's first day is back to receivable.
    assert role_balance(shop, "unbilled_receivable", LAST_DAY) == D("120.00")
    assert role_balance(shop, "receivable", LAST_DAY) == D("0.00")
    assert role_balance(shop, "unbilled_receivable", NEXT_FIRST) == D("0.00")
    assert role_balance(shop, "receivable", NEXT_FIRST) == D("120.00")
    after = item(checklist(client, finance), "accruals")
    assert (after["status"], after["figures"]["accrued"], after["figures"]["ran"]) == (
        "green",
        "120.00",
        True,
    )
    assert [e["number"] for e in after["entries"]] == [accrual["number"], reversal["number"]]

    # Idempotent: a second run finds the accruals current and posts nothing.
    events = events_of(shop)
    again = accrue(client, finance)
    assert (again["posted"], again["entries"]) == ([], [])
    assert events_of(shop) == events

    # The first order is invoiced (today, within the month): its 100.00 is billed, the accrual is stale,
    # and the next run posts only its difference, -100.00 (sides swapped), and that reversal.
    invoiced = client.post(f"{API}/orders/{first['id']}/invoice", json={}, headers=admin)
    assert invoiced.status_code == 201, invoiced.text
    stale = item(checklist(client, finance), "accruals")
    assert (stale["status"], stale["figures"]["to_accrue"], stale["figures"]["difference"]) == (
        "red",
        "20.00",
        "-100.00",
    )
    fixed = accrue(client, finance)
    assert [(p["order_ref"], p["amount"]) for p in fixed["posted"]] == [(first["number"], "-100.00")]
    assert role_balance(shop, "unbilled_receivable", LAST_DAY) == D("20.00")
    assert role_balance(shop, "unbilled_receivable", NEXT_FIRST) == D("0.00")
    assert item(checklist(client, finance), "accruals")["status"] == "green"

    # The close report (CSV): the accruals row, then its four entries.
    report = client.get(f"{API}/periods/{PERIOD}/close-report", params={"format": "csv"}, headers=finance)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = [r for r in csv.DictReader(io.StringIO(report.text)) if r["code"] == "accruals"]
    assert rows[0]["status"] == "green" and rows[0]["entry_number"] == ""
    assert [(r["entry_date"], r["amount"]) for r in rows[1:]] == [
        (LAST_DAY.isoformat(), "120.00"),
        (LAST_DAY.isoformat(), "100.00"),
        (NEXT_FIRST.isoformat(), "120.00"),
        (NEXT_FIRST.isoformat(), "100.00"),
    ]
    assert all(r["reversal_of"] for r in rows[1:] if r["entry_date"] == NEXT_FIRST.isoformat())
    page = client.get(f"{API}/periods/{PERIOD}/close-report", headers=finance)
    assert accrual["number"] in page.text

    # Locked: the month's accruals are final; a run is refused and writes nothing.
    locked = client.put(f"{API}/ledger/lock-date", json={"lock_date": LAST_DAY.isoformat()}, headers=finance)
    assert locked.status_code == 200, locked.text
    events = events_of(shop)
    refused = client.post(f"{API}/periods/{PERIOD}/accruals", json={}, headers=finance)
    assert_problem(refused, 409, "period-locked")
    assert events_of(shop) == events
    assert client.post(f"{API}/periods/{PERIOD}/accruals", json={}, headers=admin).status_code == 403


def test_customer_deposits_green_then_red_naming_the_order_and_the_entry_by_hand(
    client, admin, finance, shop
):
    kept = shop.order("40.00", "stripe", "ch_kept")
    planted = shop.order("25.00", "stripe", "ch_planted")
    delivered = shop.order("15.00", "stripe", "ch_delivered")
    shipped = client.post(f"{API}/orders/{delivered['id']}/fulfillments", json={}, headers=admin)
    assert shipped.status_code == 200, shipped.text

    deposits = item(checklist(client, finance), "customer_deposits")
    # Paid 80.00, delivered 15.00: 65.00 paid and undelivered, the deposits account's balance.
    assert deposits["status"] == "green"
    assert (deposits["figures"]["paid_not_delivered"], deposits["figures"]["ledger_balance"]) == (
        "65.00",
        "65.00",
    )
    assert deposits["figures"]["orders_with_deposit"] == 2
    # The shipped web order was paid for: it owes nothing, there is nothing unbilled to accrue.
    assert item(checklist(client, finance), "accruals")["figures"]["orders"] == []

    # Planted: the capture entry of one order reversed by hand (its lines keep the order's event).
    with shop.runtime.session_factory() as session:
        capture = session.scalar(
            select(a.JournalEntry.id)
            .join(Event, Event.id == a.JournalEntry.event_id)
            .where(Event.type == "PaymentCaptured", Event.aggregate_id == uuid.UUID(planted["id"]))
        )
    reversed_ = client.post(f"{API}/journal-entries/{capture}/reverse", json={}, headers=finance)
    assert reversed_.status_code in (200, 201), reversed_.text
    by_hand = {
        "company_id": shop.company["id"],
        "date": TODAY.isoformat(),
        "reference": "deposit by hand",
        "lines": [
            {"account_code": shop.code_of("bank"), "debit": "5.00"},
            {"account_code": shop.code_of("customer_deposits"), "credit": "5.00"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=by_hand, headers=finance).status_code == 201

    deposits = item(checklist(client, finance), "customer_deposits")

    assert deposits["status"] == "red"
    # Ledger: 65.00 - 25.00 + 5.00 = 45.00 against 65.00 of facts.
    assert (deposits["figures"]["ledger_balance"], deposits["figures"]["difference"]) == ("45.00", "-20.00")
    assert deposits["figures"]["differing_orders"] == [
        {"order": planted["number"], "deposit": "25.00", "ledger": "0.00", "difference": "-25.00"},
        {"order": None, "deposit": "0.00", "ledger": "5.00", "difference": "5.00"},
    ]
    assert kept["number"] not in str(deposits["figures"]["differing_orders"])
    refused = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert_problem(refused, 409, "close-refused")
    assert "customer_deposits" in refused.json()["detail"]


def tax_entries(client, finance, shop: Shop) -> None:
    """A standard-rate sale (1,000.00 + 200.00 VAT20), a reduced-rate one (100.00 + 5.00 VAT5) and a
    purchase (200.00 + 40.00 VAT20 deductible), by hand with their tax codes and bases."""

    def line(role: str, side: str, amount: str, **tax: str) -> dict:
        return {"account_code": shop.code_of(role), side: amount, **tax}

    entries = [
        [
            line("receivable", "debit", "1200.00"),
            line("sales_revenue", "credit", "1000.00"),
            line("output_tax", "credit", "200.00", tax_code="VAT20", tax_base="1000.00"),
        ],
        [
            line("receivable", "debit", "105.00"),
            line("sales_revenue", "credit", "100.00"),
            line("output_tax", "credit", "5.00", tax_code="VAT5", tax_base="100.00"),
        ],
        [
            line("input_tax", "debit", "40.00", tax_code="VAT20", tax_base="200.00"),
            line("opening_balance", "debit", "200.00"),
            line("payables", "credit", "240.00"),
        ],
    ]
    for number, lines in enumerate(entries):
        body = {
            "company_id": shop.company["id"],
            "date": TODAY.isoformat(),
            "reference": f"tax {number}",
            "lines": lines,
        }
        made = client.post(f"{API}/journal-entries", json=body, headers=finance)
        assert made.status_code == 201, made.text


def test_the_tax_return_per_rate_and_per_box_with_a_layout_as_data(client, finance, shop):
    tax_entries(client, finance, shop)

    found = client.get(
        f"{API}/reports/tax-return", params={"period": PERIOD, "format": "csv"}, headers=finance
    )

    assert found.status_code == 200 and found.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(found.text)))
    rates = {r["code"]: r for r in rows if r["section"] == "rate"}
    assert {code: (r["base_collected"], r["tax_collected"]) for code, r in rates.items()} == {
        "VAT20": ("1000.00", "200.00"),
        "VAT5": ("100.00", "5.00"),
    }
    assert (rates["VAT20"]["base_deductible"], rates["VAT20"]["tax_deductible"]) == ("200.00", "40.00")
    assert (rates["VAT20"]["net_payable"], rates["VAT5"]["net_payable"]) == ("160.00", "5.00")
    # The default layout: output tax 200 + 5, input tax 40, net 205 - 40, sales ex tax 1,000 + 100,
    # purchases ex tax 200.
    boxes = {r["code"]: r["amount"] for r in rows if r["section"] == "box"}
    assert boxes == {"1": "205.00", "2": "40.00", "3": "165.00", "4": "1100.00", "5": "200.00"}
    tax = item(checklist(client, finance), "tax_return")["figures"]
    assert [b["amount"] for b in tax["boxes"]] == ["205.00", "40.00", "165.00", "1100.00", "200.00"]
    assert tax["csv"] == f"/reports/tax-return?period={PERIOD}&format=csv"

    layout = client.get(f"{API}/reports/tax-return/boxes", headers=finance).json()
    assert layout["default"] is True and [b["box"] for b in layout["boxes"]] == ["1", "2", "3", "4", "5"]
    mine = [
        {
            "box": "A",
            "label": "Standard-rate output tax",
            "terms": [{"measure": "tax_collected", "tax_code": "VAT20"}],
        },
        {
            "box": "B",
            "label": "Reduced-rate output tax",
            "terms": [{"measure": "tax_collected", "tax_code": "VAT5"}],
        },
        {
            "box": "N",
            "label": "Net",
            "terms": [{"measure": "tax_collected"}, {"measure": "tax_deductible", "sign": "-"}],
        },
    ]
    replaced = client.put(f"{API}/reports/tax-return/boxes", json={"boxes": mine}, headers=finance)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["default"] is False
    found = client.get(f"{API}/reports/tax-return", params={"period": PERIOD}, headers=finance).json()
    assert [(b["box"], b["amount"]) for b in found["boxes"]] == [
        ("A", "200.00"),
        ("B", "5.00"),
        ("N", "165.00"),
    ]

    twice = client.put(f"{API}/reports/tax-return/boxes", json={"boxes": [mine[0], mine[0]]}, headers=finance)
    assert_problem(twice, 422)
    assert twice.json()["errors"][0]["field"] == "boxes.1.box"
    unknown = [{"box": "X", "label": "X", "terms": [{"measure": "vibes"}]}]
    assert_problem(
        client.put(f"{API}/reports/tax-return/boxes", json={"boxes": unknown}, headers=finance), 422
    )
    assert client.put(f"{API}/reports/tax-return/boxes", json={"boxes": []}, headers=finance).json()[
        "default"
    ]
    assert_problem(
        client.get(f"{API}/reports/tax-return", params={"period": "2026-13"}, headers=finance), 422
    )


def test_grni_is_measured_against_the_receipts_not_billed_at_the_period_end(client, admin, finance, shop):
    product = shop._product("12.00")  # 100 units received outside purchasing at 1.00: 100.00 on GRNI
    with shop.runtime.session_factory() as session:
        stock = session.scalar(
            select(Location.id).where(
                Location.store_id == uuid.UUID(shop.warehouse["id"]), Location.kind == "stock"
            )
        )
    first = f"{PERIOD}-01"
    order = {
        "company_id": shop.company["id"],
        "supplier": "Fabrikam",
        "store_id": shop.warehouse["id"],
        "order_date": first,
        "lines": [{"product_id": product["id"], "quantity": "10", "unit_price": "4.50"}],
    }
    po = client.post(f"{API}/purchase-orders", json=order, headers=admin)
    assert po.status_code == 201, po.text
    po = client.post(f"{API}/purchase-orders/{po.json()['id']}/confirm", headers=admin).json()
    line = po["lines"][0]["id"]
    receipt = {
        "purchase_order_id": po["id"],
        "date": first,
        "lines": [{"po_line_id": line, "quantity": "10", "location_id": str(stock)}],
    }
    assert client.post(f"{API}/receipts", json=receipt, headers=admin).status_code == 201
    bill = {
        "purchase_order_id": po["id"],
        "bill_date": first,
        "lines": [{"po_line_id": line, "quantity": "6", "unit_price": "4.50"}],
    }
    billed = client.post(f"{API}/vendor-bills", json=bill, headers=finance)
    assert billed.status_code == 201 and billed.json()["state"] == "matched", billed.text

    grni = item(checklist(client, finance), "grni")

    # 100.00 outside purchasing + 45.00 received on the order - 27.00 billed = 118.00, the balance.
    assert grni["status"] == "amber"
    figures = grni["figures"]
    assert (figures["balance"], figures["received_outside_purchasing"]) == ("118.00", "100.00")
    assert (figures["received_not_billed_on_orders"], figures["difference"]) == ("18.00", "0.00")
    assert [(r["purchase_order"], D(r["quantity"]), r["value"]) for r in figures["uninvoiced_lines"]] == [
        (po["number"], D(4), "18.00")
    ]

    by_hand = {
        "company_id": shop.company["id"],
        "date": TODAY.isoformat(),
        "reference": "GRNI by hand",
        "lines": [
            {"account_code": shop.code_of("opening_balance"), "debit": "3.00"},
            {"account_code": shop.code_of("goods_received_not_invoiced"), "credit": "3.00"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=by_hand, headers=finance).status_code == 201
    grni = item(checklist(client, finance), "grni")
    assert (grni["status"], grni["figures"]["balance"], grni["figures"]["difference"]) == (
        "red",
        "121.00",
        "3.00",
    )


def test_an_accrual_is_refused_at_the_ledger_events_door(client, finance, shop):
    body = {
        "company_id": shop.company["id"],
        "type": "ShippedNotInvoicedAccrued",
        "payload": {"date": LAST_DAY.isoformat(), "orders": [{"order_ref": "X", "amount": "10.00"}]},
    }
    refused = client.post(f"{API}/ledger/events", json=body, headers=finance)
    assert_problem(refused, 422, "balance-event-needs-its-flow")
    assert "/accruals" in refused.json()["detail"]
