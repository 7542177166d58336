"""Returns over HTTP: a web order returned in store, refunded to its card at the sale's prices; partial
receipts and refunds; dispositions at the original cost; every refusal writes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.returns import services as returns_services

D = Decimal
VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def shop(runtime, client, admin, company, store_factory, product_factory):
    """Warehouse W1 with 10 SHIRT (30.00 incl. 20% VAT) bought at 10.00; store S1 receives returns."""
    warehouse = store_factory("W1", kind="warehouse")
    store = store_factory("S1")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    shirt = product_factory("SHIRT", list_price="30.00", category="Tops", cost_method="average")
    company_id = uuid.UUID(company["id"])

    def location(kind, store_id=None):
        with runtime.session_factory() as session:
            query = select(Location.id).where(Location.company_id == company_id, Location.kind == kind)
            if store_id is not None:
                query = query.where(Location.store_id == uuid.UUID(store_id))
            return session.scalar(query)

    def receive(quantity, cost):
        with transaction(runtime.session_factory) as session:
            move_stock(
                session,
                CommandContext(system_principal()),
                session.get(Company, company_id),
                kind="receipt",
                lines=[
                    MoveLine(
                        uuid.UUID(shirt["id"]),
                        D(quantity),
                        location("supplier"),
                        location("stock", warehouse["id"]),
                        D(cost),
                    )
                ],
                date=dt.date(2026, 3, 1),
            )

    receive(10, "10.00")

    class Shop:
        pass

    s = Shop()
    s.company, s.warehouse, s.store, s.shirt, s.location, s.receive = (
        company,
        warehouse,
        store,
        shirt,
        location,
        receive,
    )

    def web_order(quantity="3", discount="3.00", pay=True):
        body = {
            "company_id": company["id"],
            "lines": [{"product_id": shirt["id"], "quantity": quantity, "discount": discount}],
        }
        placed = client.post(f"{API}/orders", json=body, headers=admin)
        assert placed.status_code == 201, placed.text
        order = placed.json()
        if pay:
            paid = client.post(
                f"{API}/orders/{order['id']}/payments",
                json={
                    "gateway": "stripe",
                    "reference": f"pi_{order['number']}",
                    "amount": order["gross_total"],
                },
                headers=admin,
            )
            assert paid.status_code == 200, paid.text
        done = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
        assert done.status_code == 200, done.text
        return done.json()

    def balance(role):
        with runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
            )
            return total if total is not None else D(0)

    def on_hand(kind, store_id):
        with runtime.session_factory() as session:
            row = session.get(i.StockQuant, (uuid.UUID(shirt["id"]), location(kind, store_id)))
            return row.quantity if row else D(0)

    def unbalanced_entries():
        with runtime.session_factory() as session:
            rows = session.execute(
                select(a.JournalLine.entry_id)
                .group_by(a.JournalLine.entry_id)
                .having(func.sum(a.JournalLine.debit) != func.sum(a.JournalLine.credit))
            )
            return list(rows)

    s.web_order, s.balance, s.on_hand, s.unbalanced_entries = web_order, balance, on_hand, unbalanced_entries
    return s


def ask(client, headers, shop, order, quantity="1", condition="resaleable", **fields):
    body = {
        "company_id": shop.company["id"],
        "order_id": order["id"],
        "store_id": "S1",
        "reason": "wrong_size",
        "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": quantity, "condition": condition}],
        **fields,
    }
    return client.post(f"{API}/returns", json=body, headers=headers)


def test_a_web_order_returned_in_store_is_refunded_to_its_card_at_the_sales_prices(client, admin, shop):
    order = shop.web_order()  # 3 x 30.00 - 3.00 discount = 87.00 (72.50 + 14.50 VAT)
    assert (order["net_total"], order["tax_total"]) == ("72.50", "14.50")

    asked = ask(client, admin, shop, order)
    assert asked.status_code == 201, asked.text
    ret = asked.json()
    assert (ret["number"], ret["status"], ret["channel"]) == ("RT-000001", "requested", "web")

    received = client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "received"
    line = received.json()["lines"][0]
    assert line["received_quantity"] == "1.00" and line["cost"] == "10.00"  # the sale's unit cost
    assert shop.on_hand("stock", shop.store["id"]) == D(1)  # back to sellable stock in the store

    refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
    assert refunded.status_code == 200, refunded.text
    body = refunded.json()
    assert body["status"] == "refunded"
    assert body["refunded_total"] == "29.00"  # 24.17 + 4.83, a third of the line
    assert (body["lines"][0]["refunded_net"], body["lines"][0]["refunded_tax"]) == ("24.17", "4.83")

    card = client.get(f"{API}/orders/{order['id']}", headers=admin).json()["payments"][0]
    assert (card["refunded"], card["state"]) == ("29.00", "partially_refunded")
    assert shop.balance("sales_returns") == D("24.17")
    assert shop.balance("refunds_payable") == 0  # approved and paid: cleared
    assert shop.balance("card_clearing") == D("87.00") - D("29.00")
    assert shop.balance("customer_deposits") == 0  # a return never touches the order's deposit
    assert shop.balance("inventory") == D("80.00")  # 10 x 10.00 - 3 sold + 1 back at 10.00
    assert shop.balance("cogs") == D("20.00")
    assert shop.unbalanced_entries() == []


def test_the_refunds_of_a_line_in_parts_add_up_to_the_line_and_never_more(client, admin, shop):
    order = shop.web_order()
    totals = []
    for _ in range(3):
        ret = ask(client, admin, shop, order).json()
        client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
        refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
        assert refunded.status_code == 200, refunded.text
        totals.append(
            (refunded.json()["lines"][0]["refunded_net"], refunded.json()["lines"][0]["refunded_tax"])
        )
    assert totals == [("24.17", "4.83"), ("24.16", "4.84"), ("24.17", "4.83")]
    assert shop.balance("sales_returns") == D("72.50")

    beyond = ask(client, admin, shop, order)
    assert_problem(beyond, 409, "return-exceeds-sold", ("lines.0.quantity",))


def test_partial_receipt_then_partial_refund_with_a_restocking_fee_to_store_credit(
    client, admin, shop, create
):
    customer = create("/customers", {"company_id": shop.company["id"], "code": "C1", "name": "Cleo"})
    order = shop.web_order(quantity="2", discount="0")  # 60.00 = 50.00 + 10.00
    ret = ask(client, admin, shop, order, quantity="2", customer_id=customer["id"]).json()
    line_id = ret["lines"][0]["id"]

    part = client.post(
        f"{API}/returns/{ret['id']}/receive",
        json={"lines": [{"return_line_id": line_id, "quantity": "1", "condition": "damaged"}]},
        headers=admin,
    )
    assert part.status_code == 200, part.text
    assert shop.on_hand("damaged", shop.store["id"]) == D(1)
    recorded = []

    def balance_keeper(session, ctx, **credit):
        recorded.append(credit)

    returns_services.on_store_credit(balance_keeper)
    try:
        refund = client.post(
            f"{API}/returns/{ret['id']}/refund",
            json={"restocking_fee": "3.00", "tenders": [{"kind": "store_credit", "amount": "27.00"}]},
            headers=admin,
        )
    finally:
        returns_services._credit_hooks.remove(balance_keeper)
    assert recorded == [
        {
            "company_id": uuid.UUID(shop.company["id"]),
            "customer_id": uuid.UUID(customer["id"]),
            "amount": D("27.00"),
            "source": "return",
            "reference": ret["number"],
            "post": False,
        }
    ]
    assert refund.status_code == 200, refund.text
    assert (refund.json()["status"], refund.json()["refunded_total"]) == ("received", "27.00")
    assert shop.balance("store_credit_liability") == D("-27.00")
    # The payments context keeps the customer's balance of what the ledger owes them.
    statement = client.get(f"{API}/store-credits/{customer['id']}", headers=admin).json()
    assert statement["balance"] == "27.00"
    assert [(m["source"], m["amount"]) for m in statement["movements"]] == [("return", "27.00")]
    # The fee carries the line's VAT (policy restocking_fee_taxable, on by default): 2.50 + 0.50.
    assert shop.balance("restocking_fees") == D("-2.50")
    assert shop.balance("output_tax") == D("-10.00") + D("5.00") - D("0.50")
    assert shop.balance("damaged_goods") == D("10.00")
    assert shop.balance("refunds_payable") == 0

    # Nothing more received, so nothing more to refund.
    assert_problem(client.post(f"{API}/returns/{ret['id']}/refund", headers=admin), 409, "nothing-to-refund")
    # The rest never comes: cancelling closes the return, and that unit can be returned again.
    closed = client.post(f"{API}/returns/{ret['id']}/cancel", json={"reason": "kept it"}, headers=admin)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "refunded"
    assert ask(client, admin, shop, order, quantity="1").status_code == 201
    assert shop.unbalanced_entries() == []


def test_inspection_sends_defective_goods_on_to_the_damaged_location(client, admin, shop):
    order = shop.web_order(quantity="1", discount="0")
    ret = ask(client, admin, shop, order).json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    assert shop.on_hand("stock", shop.store["id"]) == D(1)
    inspected = client.post(
        f"{API}/returns/{ret['id']}/inspect",
        json={"lines": [{"return_line_id": ret["lines"][0]["id"], "condition": "defective"}]},
        headers=admin,
    )
    assert inspected.status_code == 200, inspected.text
    assert inspected.json()["status"] == "inspected"
    assert shop.on_hand("stock", shop.store["id"]) == 0
    assert shop.on_hand("damaged", shop.store["id"]) == D(1)
    assert shop.balance("damaged_goods") == D("10.00")


def test_refusals_write_nothing(client, admin, shop, snapshot):
    order = shop.web_order(quantity="2", discount="0")
    before = snapshot()
    unknown = client.post(
        f"{API}/returns",
        json={
            "company_id": shop.company["id"],
            "order_id": order["id"],
            "store_id": "S1",
            "reason": "other",
            "lines": [{"order_line_id": str(uuid.uuid4()), "quantity": "1"}],
        },
        headers=admin,
    )
    assert_problem(unknown, 422, "unknown-order-line", ("lines.0.order_line_id",))
    assert_problem(ask(client, admin, shop, order, quantity="3"), 409, "return-exceeds-sold")
    no_receipt = client.post(
        f"{API}/returns",
        json={
            "company_id": shop.company["id"],
            "store_id": "S1",
            "reason": "other",
            "lines": [{"product_id": shop.shirt["id"], "quantity": "1", "unit_price": "30.00"}],
        },
        headers=admin,
    )
    assert_problem(no_receipt, 409, "no-receipt-not-allowed")
    assert snapshot() == before

    ret = ask(client, admin, shop, order, quantity="2").json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    tender_id = client.get(f"{API}/orders/{order['id']}", headers=admin).json()["payments"][0]["id"]
    before = snapshot()
    over = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "card", "tender_id": tender_id, "amount": "60.01"}]},
        headers=admin,
    )
    assert_problem(over, 422, "tenders-do-not-add-up")
    cash = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "cash", "amount": "60.00"}]},
        headers=admin,
    )
    assert_problem(cash, 409, "cash-refund-not-allowed")
    credit = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "store_credit", "amount": "60.00"}]},
        headers=admin,
    )
    assert_problem(credit, 422, "validation-failed")  # no customer on the return
    assert snapshot() == before


def test_a_card_is_never_refunded_beyond_what_it_captured_nor_when_uncaptured(client, admin, shop):
    # Paid 20.00 of 60.00 by card, the rest is receivable: the card gives back at most 20.00.
    body = {"company_id": shop.company["id"], "lines": [{"product_id": shop.shirt["id"], "quantity": "2"}]}
    order = client.post(f"{API}/orders", json=body, headers=admin).json()
    client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_part", "amount": "20.00"},
        headers=admin,
    )
    client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_auth", "amount": "10.00", "capture": False},
        headers=admin,
    )
    order = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin).json()
    captured, authorized = order["payments"][0]["id"], order["payments"][1]["id"]
    ret = ask(client, admin, shop, order, quantity="1").json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)

    over = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "card", "tender_id": captured, "amount": "30.00"}]},
        headers=admin,
    )
    assert_problem(over, 409, "refund-exceeds-captured", ("tenders.0.amount",))
    uncaptured = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "card", "tender_id": authorized, "amount": "30.00"}]},
        headers=admin,
    )
    assert_problem(uncaptured, 409, "tender-not-captured")
    owed = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "on_account", "amount": "30.00"}, {"kind": "cash", "amount": "0.01"}]},
        headers=admin,
    )
    assert_problem(owed, 422, "tenders-do-not-add-up")
    # A digital refund to a card reference for the rest is allowed.
    split = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={
            "tenders": [
                {"kind": "card", "tender_id": captured, "amount": "20.00"},
                {"kind": "card", "gateway": "stripe", "reference": "card_9", "amount": "10.00"},
            ]
        },
        headers=admin,
    )
    assert split.status_code == 200, split.text
    assert shop.balance("refunds_payable") == 0
    assert shop.unbalanced_entries() == []


def test_a_return_in_a_locked_period_lands_on_the_first_open_day(client, admin, auth, shop, runtime):
    order = shop.web_order(quantity="1", discount="0")
    ret = ask(client, admin, shop, order).json()
    today = dt.datetime.now(dt.UTC).date()
    finance = auth("finance", company="ACME")
    locked = client.put(
        f"{API}/ledger/lock-date",
        json={"company_id": shop.company["id"], "lock_date": today.isoformat()},
        headers=finance,
    )
    assert locked.status_code in (200, 201), locked.text
    assert client.post(f"{API}/returns/{ret['id']}/receive", headers=admin).status_code == 200
    assert client.post(f"{API}/returns/{ret['id']}/refund", headers=admin).status_code == 200
    with runtime.session_factory() as session:
        dates = set(
            session.scalars(select(a.JournalEntry.date).where(a.JournalEntry.reference == ret["number"]))
        )
    assert dates == {today + dt.timedelta(days=1)}


def test_an_idempotent_replay_refunds_once(client, admin, shop, snapshot):
    order = shop.web_order(quantity="1", discount="0")
    headers = {**admin, "Idempotency-Key": "ret-1"}
    first = ask(client, headers, shop, order)
    second = ask(client, headers, shop, order)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    ret = first.json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    key = {**admin, "Idempotency-Key": "refund-1"}
    once = client.post(f"{API}/returns/{ret['id']}/refund", headers=key)
    after = snapshot()
    twice = client.post(f"{API}/returns/{ret['id']}/refund", headers=key)
    assert once.status_code == twice.status_code == 200
    assert twice.json() == once.json()
    assert snapshot() == after


def test_no_receipt_returns_by_policy_and_role_and_the_report(client, admin, auth, shop):
    policy = client.post(
        f"{API}/return-policy",
        json={"company_id": shop.company["id"], "no_receipt_allowed": True, "cash_refunds_allowed": True},
        headers=admin,
    )
    assert policy.status_code == 200, policy.text
    body = {
        "company_id": shop.company["id"],
        "store_id": "S1",
        "reason": "changed_mind",
        "lines": [{"product_id": shop.shirt["id"], "quantity": "1", "unit_price": "24.00"}],
    }
    cashier = auth("cashier", company="ACME", store="S1")
    assert_problem(client.post(f"{API}/returns", json=body, headers=cashier), 403)
    manager = auth("store_manager", company="ACME", store="S1")
    ret = client.post(f"{API}/returns", json=body, headers=manager)
    assert ret.status_code == 201, ret.text
    assert ret.json()["no_receipt"] is True
    rid = ret.json()["id"]
    assert client.post(f"{API}/returns/{rid}/receive", headers=manager).status_code == 200
    refunded = client.post(f"{API}/returns/{rid}/refund", headers=manager)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_total"] == "24.00"
    assert shop.balance("cash_drawer") == D("-24.00")
    assert shop.balance("output_tax") == D("4.00")

    report = client.get(f"{API}/returns/report?by=cashier&no_receipt=true", headers=admin)
    assert report.status_code == 200, report.text
    [row] = report.json()["items"]
    assert (row["lines"], row["refunded_quantity"], row["refunded_net"]) == (1, "1.00", "20.00")
    listed = client.get(f"{API}/returns?reason=changed_mind&status=refunded", headers=admin).json()
    assert [item["id"] for item in listed["items"]] == [rid]
    assert listed["next_cursor"] is None


def test_refunding_an_invoiced_order_issues_a_credit_note(client, admin, shop, create):
    customer = create("/customers", {"company_id": shop.company["id"], "code": "B1", "name": "Bob"})
    order = shop.web_order(quantity="2", discount="0")
    invoiced = client.post(
        f"{API}/orders/{order['id']}/invoice", json={"customer_id": customer["id"]}, headers=admin
    )
    assert invoiced.status_code == 201, invoiced.text
    ret = ask(client, admin, shop, order).json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin).json()
    year = dt.datetime.now(dt.UTC).year
    assert refunded["credit_note_number"] == f"CN-{year}-000001"
    notes = client.get(f"{API}/credit-notes", headers=admin).json()
    [note] = notes["items"]
    assert (note["invoice_number"], note["gross_total"]) == (invoiced.json()["number"], "30.00")
    assert client.get(f"{API}/credit-notes/{note['id']}", headers=admin).json() == note


def test_the_cli_lists_and_shows_returns(client, admin, shop):
    import json

    from typer.testing import CliRunner

    from retailcore.entrypoints.cli.main import app

    order = shop.web_order(quantity="1", discount="0")
    ret = ask(client, admin, shop, order).json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
    runner = CliRunner()

    listed = runner.invoke(app, ["returns", "list", "--output", "json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert (row["number"], row["order_number"], row["status"], row["refunded_total"]) == (
        "RT-000001",
        order["number"],
        "refunded",
        "30.00",
    )
    shown = runner.invoke(app, ["returns", "show", "RT-000001"])
    assert shown.exit_code == 0, shown.output
    assert "RT-000001" in shown.stdout and "refunded" in shown.stdout
    document = runner.invoke(app, ["returns", "show", ret["id"], "--output", "json"])
    assert json.loads(document.stdout)["lines"][0]["refunded_quantity"] == "1.00"
    missing = runner.invoke(app, ["returns", "show", "RT-999999"])
    assert missing.exit_code == 1 and "no return" in missing.stderr


def test_goods_delivered_unpaid_come_back_off_the_receivable_with_a_credit_note(client, admin, shop, create):
    customer = create("/customers", {"company_id": shop.company["id"], "code": "D1", "name": "Dora"})
    order = shop.web_order(quantity="2", discount="0", pay=False)  # 60.00 delivered, nothing paid
    assert order["receivable_balance"] == "60.00"
    invoice = client.post(
        f"{API}/orders/{order['id']}/invoice", json={"customer_id": customer["id"]}, headers=admin
    ).json()
    ret = ask(client, admin, shop, order).json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)  # what is owed first
    assert refunded.status_code == 200, refunded.text
    after = client.get(f"{API}/orders/{order['id']}", headers=admin).json()
    assert after["receivable_balance"] == "30.00"
    assert shop.balance("receivable") == D("30.00")
    assert shop.balance("refunds_payable") == 0
    note = client.get(f"{API}/credit-notes", headers=admin).json()["items"][0]
    assert (note["invoice_number"], note["gross_total"], note["customer_id"]) == (
        invoice["number"],
        "30.00",
        customer["id"],
    )
    # The customer pays 10.00: the other unit cannot come off more than the 20.00 still owed.
    paid = client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_late", "amount": "10.00"},
        headers=admin,
    )
    assert paid.status_code == 200, paid.text
    second = ask(client, admin, shop, order).json()
    client.post(f"{API}/returns/{second['id']}/receive", headers=admin)
    over = client.post(
        f"{API}/returns/{second['id']}/refund",
        json={
            "tenders": [{"kind": "on_account", "amount": "20.00"}, {"kind": "on_account", "amount": "10.00"}]
        },
        headers=admin,
    )
    assert_problem(over, 409, "refund-exceeds-receivable", ("tenders.1.amount",))


def test_an_exchange_settles_the_return_and_the_new_sale_for_the_difference(client, admin, shop, create):
    customer = create("/customers", {"company_id": shop.company["id"], "code": "E1", "name": "Eve"})
    order = shop.web_order(quantity="1", discount="0")  # 30.00 paid by card
    ret = ask(client, admin, shop, order, customer_id=customer["id"]).json()
    client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    body = {
        "company_id": shop.company["id"],
        "customer_id": customer["id"],
        "lines": [{"product_id": shop.shirt["id"], "quantity": "2"}],
    }
    new = client.post(f"{API}/orders", json=body, headers=admin).json()  # 60.00
    other = create("/customers", {"company_id": shop.company["id"], "code": "E2", "name": "Eli"})
    stranger = client.post(f"{API}/orders", json={**body, "customer_id": other["id"]}, headers=admin).json()
    refused = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "exchange", "order_id": stranger["id"], "amount": "30.00"}]},
        headers=admin,
    )
    assert_problem(refused, 409, "customer-mismatch", ("tenders.0.order_id",))

    exchanged = client.post(
        f"{API}/returns/{ret['id']}/refund",
        json={"tenders": [{"kind": "exchange", "order_id": new["id"], "amount": "30.00"}]},
        headers=admin,
    )
    assert exchanged.status_code == 200, exchanged.text
    after = client.get(f"{API}/orders/{new['id']}", headers=admin).json()
    assert after["paid_amount"] == "30.00"  # the customer pays only the difference
    assert after["payments"][0]["kind"] == "store_credit"
    assert shop.balance("store_credit_liability") == 0
    assert shop.balance("refunds_payable") == 0
    assert shop.balance("customer_deposits") == D("-30.00")  # the new order's deposit, until it ships
    card = client.get(f"{API}/orders/{order['id']}", headers=admin).json()["payments"][0]
    assert card["refunded"] == "0.00"  # nothing went back to the old card
    assert shop.unbalanced_entries() == []


def test_undelivered_goods_and_receipts_beyond_the_return_are_refused(client, admin, shop, snapshot):
    body = {"company_id": shop.company["id"], "lines": [{"product_id": shop.shirt["id"], "quantity": "1"}]}
    undelivered = client.post(f"{API}/orders", json=body, headers=admin).json()
    before = snapshot()
    assert_problem(ask(client, admin, shop, undelivered), 409, "order-not-delivered", ("order_id",))
    assert snapshot() == before

    order = shop.web_order(quantity="2", discount="0")
    ret = ask(client, admin, shop, order, quantity="2").json()
    line_id = ret["lines"][0]["id"]
    before = snapshot()
    beyond = client.post(
        f"{API}/returns/{ret['id']}/receive",
        json={"lines": [{"return_line_id": line_id, "quantity": "3"}]},
        headers=admin,
    )
    assert_problem(beyond, 409, "receipt-exceeds-return", ("lines.0.quantity",))
    unknown = client.post(
        f"{API}/returns/{ret['id']}/receive",
        json={"lines": [{"return_line_id": str(uuid.uuid4()), "quantity": "1"}]},
        headers=admin,
    )
    assert_problem(unknown, 422, "invalid-reference", ("lines.0.return_line_id",))
    early = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
    assert_problem(early, 409, "invalid-state-transition", ("status",))  # nothing received yet
    assert snapshot() == before
    assert client.post(f"{API}/returns/{ret['id']}/receive", headers=admin).status_code == 200
    again = client.post(f"{API}/returns/{ret['id']}/receive", headers=admin)
    assert_problem(again, 409, "nothing-to-receive")
    holds = client.post(f"{API}/returns/{ret['id']}/cancel", headers=admin)
    assert_problem(holds, 409, "return-holds-goods")
