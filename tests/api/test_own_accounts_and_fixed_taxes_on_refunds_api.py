"""A product's own income account at the till and on returns (decision 0061): the session's close
credits it, the session's refunds, a till invoice and a return refund debit or credit it; other products
stay on the roles' accounts. Fixed-amount taxes (decision 0058) refund per unit, at the till and on a
no-receipt return."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
VAT = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}
ECO = {"code": "ECO", "name": "Eco fee", "kind": "fixed", "amount": "0.10", "price_included": True}


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory, product_factory):
    """Store S1 with 10 WRAP (own accounts 4050 and 5030), 10 MUG and 10 BULB (eco fee 0.10 a unit
    inside the price, then 20% VAT) at 1.00; prices include VAT; refunds without receipt allowed."""
    store = store_factory("S1")
    for path, body in (
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT]}),
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "eco", "taxes": [ECO, VAT]}),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("accounts", {"code": "4050", "name": "Gift wrap sales", "type": "income"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    policy = {"company_id": company["id"], "no_receipt_allowed": True, "cash_refunds_allowed": True}
    assert client.post(f"{API}/return-policy", json=policy, headers=admin).status_code == 200
    products = {
        "wrap": product_factory("WRAP", list_price="6.00", category="Gifts"),
        "mug": product_factory("MUG", list_price="12.00", category="Gifts"),
        "bulb": product_factory("BULB", list_price="1.20", category="Home", tax_category="eco"),
    }
    own = client.put(
        f"{API}/products/{products['wrap']['id']}/accounts",
        json={"income_account": "4050", "expense_account": "5030"},
        headers=admin,
    )
    assert own.status_code == 200, own.text
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[
                MoveLine(uuid.UUID(p["id"]), D(10), supplier, stock, D("1.00")) for p in products.values()
            ],
            date=dt.date(2026, 3, 1),
        )
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    ).json()
    cashier = auth("cashier", company="ACME", store="S1")
    session = client.post(
        f"{API}/pos/sessions", json={"terminal_id": terminal["id"], "opening_float": "50.00"}, headers=cashier
    ).json()

    def sell(*sales, headers=None):
        response = client.post(
            f"{API}/pos/sessions/{session['id']}/sales:batch",
            json={"sales": list(sales)},
            headers=headers or cashier,
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(sales)

    def close(cash):
        response = client.post(
            f"{API}/pos/sessions/{session['id']}/close", json={"counted": {"CASH": cash}}, headers=cashier
        )
        assert response.status_code == 200, response.text
        return response.json()

    def sides(code=None, role=None):
        """(debit, credit) of an account by code, or of the role's account."""
        with runtime.session_factory() as db:
            account = Account.code == code if code is not None else Account.role == role
            debit, credit = db.execute(
                select(func.sum(a.JournalLine.debit), func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, account)
            ).one()
            return (debit or D(0), credit or D(0))

    def payload(type_):
        with runtime.session_factory() as db:
            return db.scalars(
                select(Event.payload).where(Event.company_id == company_id, Event.type == type_)
            ).all()

    return {
        "company": company,
        "manager": manager,
        "sell": sell,
        "close": close,
        "sides": sides,
        "payload": payload,
        **products,
    }


def _ticket(*lines, paid, **extra):
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
        "lines": list(lines),
        "payments": [{"payment_method_code": "CASH", "amount": paid}],
        **extra,
    }


def _line(product, quantity, unit_price, **fields):
    return {"product_id": product["id"], "quantity": quantity, "unit_price": unit_price, **fields}


def _pos_line(client, admin, product):
    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]
    for order in orders:
        for line in client.get(f"{API}/orders/{order['id']}", headers=admin).json()["lines"]:
            if line["product_id"] == product["id"]:
                return line["id"]
    raise AssertionError("not sold")


def test_a_till_sale_and_refund_of_a_product_with_its_own_income_account(client, admin, till):
    # 2 WRAP at 6.00 (10.00 net, 2.00 VAT) and 1 MUG at 12.00 (10.00 net) on one ticket.
    till["sell"](_ticket(_line(till["wrap"], 2, "6.00"), _line(till["mug"], 1, "12.00"), paid="24.00"))
    # 1 WRAP back at its original price: 5.00 net, 1.00 VAT, 6.00 paid out.
    line_id = _pos_line(client, admin, till["wrap"])
    refund = _ticket(_line(till["wrap"], -1, "6.00", refund_of=line_id, reason="wrong_size"), paid="6.00")
    till["sell"](refund)

    till["close"]("68.00")  # 50.00 float + 24.00 - 6.00

    # The close credits the WRAP's 10.00 to 4050, the MUG's 10.00 to the sales_revenue role's account;
    # the refunds' entry debits 4050 with 5.00, not the sales_returns role's account.
    assert till["sides"](code="4050") == (D("5.00"), D("10.00"))
    assert till["sides"](role="sales_revenue") == (D(0), D("10.00"))
    assert till["sides"](role="sales_returns") == (D(0), D(0))
    assert till["sides"](role="output_tax") == (D("1.00"), D("4.00"))
    # COGS at 1.00 a unit: the WRAP's 2 out, 1 back, net 1.00 to 5030; the MUG's 1.00 to the cogs role's.
    assert till["sides"](code="5030") == (D("1.00"), D(0))
    assert till["sides"](role="cogs") == (D("1.00"), D(0))
    [closed] = till["payload"]("PosSessionClosed")
    revenue = sorted(
        (item["product_category"], D(item["net"]), item.get("accounts", {}).get("sales_revenue", ""))
        for item in closed["sales"]
        if "product_category" in item
    )
    assert revenue == [("Gifts", D("10.00"), ""), ("Gifts", D("10.00"), "4050")]
    cogs = sorted(
        (i["stock_role"], D(i["cost"]), i.get("accounts", {}).get("cogs", "")) for i in closed["cogs"]
    )
    assert cogs == [("inventory", D("1.00"), ""), ("inventory", D("1.00"), "5030")]
    [refunded] = till["payload"]("ReturnRefunded")
    assert [
        (i["product_category"], D(i["net"]), i["accounts"]) for i in refunded["lines"] if "accounts" in i
    ] == [("Gifts", D("5.00"), {"sales_returns": "4050"})]


def test_a_till_invoice_credits_the_products_own_income_account(client, admin, auth, till):
    customer = client.post(
        f"{API}/customers", json={"company_id": till["company"]["id"], "name": "Dana"}, headers=admin
    )
    assert customer.status_code == 201, customer.text
    placement = {"company_id": till["company"]["id"], "pos_invoiced_cogs": "with_invoice"}
    finance = auth("finance", company="ACME")
    chosen = client.put(f"{API}/pos-cogs-placement", json=placement, headers=finance)
    assert chosen.status_code == 200, chosen.text
    sale = _ticket(
        _line(till["wrap"], 2, "6.00"),
        _line(till["mug"], 1, "12.00"),
        paid="24.00",
        invoice=True,
        customer_id=customer.json()["id"],
    )
    till["sell"](sale)

    # The invoice posts the sale: 10.00 to 4050, 10.00 to the role's account, 24.00 receivable.
    assert till["sides"](code="4050") == (D(0), D("10.00"))
    assert till["sides"](role="sales_revenue") == (D(0), D("10.00"))
    assert till["sides"](role="receivable") == (D("24.00"), D(0))
    # Its COGS with the invoice (the company's choice): 2 WRAP at 1.00 to 5030, 1 MUG to the cogs role's.
    assert till["sides"](code="5030") == (D("2.00"), D(0))
    assert till["sides"](role="cogs") == (D("1.00"), D(0))
    till["close"]("74.00")  # the close settles the receivable and takes no revenue again
    assert till["sides"](code="4050") == (D(0), D("10.00"))
    assert till["sides"](role="sales_revenue") == (D(0), D("10.00"))
    assert till["sides"](code="5030") == (D("2.00"), D(0))


def test_a_fixed_tax_is_refunded_per_unit_at_the_till_without_receipt(client, admin, till):
    # 3 BULB back at 1.20: gross 3.60, eco fee 3 x 0.10 = 0.30, net (3.60 - 0.30) / 1.2 = 2.75, VAT 0.55
    # (charged once, the fee would be 0.10 and the net 2.92).
    refund = _ticket(_line(till["bulb"], -3, "1.20", reason="changed_mind"), paid="3.60")
    till["sell"](refund, headers=till["manager"])
    report = client.get(f"{API}/returns/report?by=reason&no_receipt=true", headers=admin).json()["items"]
    assert [(row["refunded_net"], row["refunded_tax"]) for row in report] == [("2.75", "0.85")]
    till["close"]("46.40")  # 50.00 - 3.60
    [refunded] = till["payload"]("ReturnRefunded")
    taxes = sorted(
        (i["tax_code"], D(i["tax"]), D(i["tax_base"])) for i in refunded["lines"] if "tax_code" in i
    )
    assert taxes == [("ECO", D("0.30"), D("2.75")), ("VAT20", D("0.55"), D("2.75"))]
    assert till["sides"](role="output_tax") == (D("0.85"), D(0))


def test_a_no_receipt_return_refunds_a_fixed_tax_per_unit_and_the_own_account(client, admin, till):
    body = {
        "company_id": till["company"]["id"],
        "store_id": "S1",
        "reason": "changed_mind",
        "lines": [
            {"product_id": till["bulb"]["id"], "quantity": "3", "unit_price": "1.20"},
            {"product_id": till["wrap"]["id"], "quantity": "1", "unit_price": "6.00"},
        ],
    }
    ret = client.post(f"{API}/returns", json=body, headers=till["manager"])
    assert ret.status_code == 201, ret.text
    rid = ret.json()["id"]
    assert client.post(f"{API}/returns/{rid}/receive", headers=till["manager"]).status_code == 200
    refunded = client.post(f"{API}/returns/{rid}/refund", headers=till["manager"])
    assert refunded.status_code == 200, refunded.text
    # BULB: 3.60 gross, 2.75 net, eco fee 0.30, VAT 0.55; WRAP: 6.00 gross, 5.00 net, VAT 1.00.
    assert refunded.json()["refunded_total"] == "9.60"
    lines = {line["product_id"]: line for line in refunded.json()["lines"]}
    assert (lines[till["bulb"]["id"]]["refunded_net"], lines[till["bulb"]["id"]]["refunded_tax"]) == (
        "2.75",
        "0.85",
    )
    assert till["sides"](role="output_tax") == (D("1.85"), D(0))
    # The WRAP's contra revenue goes to its own account 4050, the BULB's to sales_returns.
    assert till["sides"](code="4050") == (D("5.00"), D(0))
    assert till["sides"](role="sales_returns") == (D("2.75"), D(0))
