"""Shipping on web, marketplace and b2b orders (decision 0057): the charge is taxed with the lines, a
free_shipping promotion in force zeroes it with a recorded discount (the quote agrees), the first
delivery posts it to shipping revenue, the invoice shows it, bad input writes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem, table_counts
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.promotions.tables import CouponRedemption, PromotionRow

D = Decimal
VAT_20 = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def shop(runtime, client, admin, company, store_factory, product_factory):
    """Warehouse W1 with 100 SHIRT (30.00, Apparel, cost 10.00) and store S1; VAT 20 % included on
    ``standard``; FREESHIP: free shipping on web orders from 50.00 of goods."""
    warehouse = store_factory("W1", kind="warehouse")
    store = store_factory("S1")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    shirt = product_factory(
        "SHIRT", list_price="30.00", category="Apparel", channels=["pos", "web", "marketplace"]
    )
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier, stock = (
            session.scalar(
                select(Location.id).where(
                    Location.company_id == company_id,
                    Location.kind == kind,
                    *([Location.store_id == uuid.UUID(warehouse["id"])] if kind == "stock" else []),
                )
            )
            for kind in ("supplier", "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[MoveLine(uuid.UUID(shirt["id"]), D(100), supplier, stock, D(10))],
            date=dt.date(2026, 3, 1),
        )
        row = PromotionRow(
            company_id=company_id,
            code="FREESHIP",
            name="Free shipping from 50",
            kind="free_shipping",
            rule={"threshold": "50.00"},
            channels=["web"],
            state="approved",
            created_by="test",
        )
        session.add(row)
        session.flush()
        promotion_id = row.id
    return {
        "company": company,
        "company_id": company_id,
        "store": store,
        "shirt": shirt["id"],
        "freeship": promotion_id,
    }


SHIPPING = {"amount": "6.00", "tax_category": "standard", "method": "express"}


def place(client, admin, shop, quantity, shipping=SHIPPING, status=201, **fields):
    body = {
        "company_id": shop["company"]["id"],
        "lines": [{"product_id": shop["shirt"], "quantity": quantity}],
        **fields,
    }
    if shipping is not None:
        body["shipping"] = shipping
    response = client.post(f"{API}/orders", json=body, headers=admin)
    assert response.status_code == status, response.text
    return response.json()


def quote(client, admin, shop, quantity, shipping=SHIPPING, channel="web"):
    body = {
        "company_id": shop["company"]["id"],
        "channel": channel,
        "lines": [{"product_id": shop["shirt"], "quantity": quantity}],
        "shipping": shipping,
    }
    return client.post(f"{API}/pricing/quote", json=body, headers=admin)


def pay_and_ship(client, admin, order, lines=None):
    paid = client.post(
        f"{API}/orders/{order['id']}/payments",
        json={
            "kind": "card",
            "gateway": "stripe",
            "reference": f"psp-{order['number']}",
            "amount": order["gross_total"],
        },
        headers=admin,
    )
    assert paid.status_code in (200, 201), paid.text
    body = {} if lines is None else {"lines": lines}
    shipped = client.post(f"{API}/orders/{order['id']}/fulfillments", json=body, headers=admin)
    assert shipped.status_code in (200, 201), shipped.text
    return shipped.json()


def balance(runtime, shop, role) -> Decimal:
    with runtime.session_factory() as session:
        total = session.scalar(
            select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(Account.company_id == shop["company_id"], Account.role == role)
        )
        return total if total is not None else D(0)


def entries_balance(runtime) -> None:
    """Every journal entry balances."""
    with runtime.session_factory() as session:
        rows = session.execute(
            select(
                a.JournalLine.entry_id, func.sum(a.JournalLine.debit), func.sum(a.JournalLine.credit)
            ).group_by(a.JournalLine.entry_id)
        ).all()
    assert rows
    assert all(debit == credit for _, debit, credit in rows), rows


def shown(discounts):
    return [(d["source"], d["code"], d["amount"]) for d in discounts]


def test_an_order_with_shipping_posts_shipping_revenue_and_its_tax(client, admin, runtime, shop):
    order = place(client, admin, shop, "1")

    # 30.00 of goods and 6.00 of shipping, VAT 20 % included in both: 5.00 + 1.00 for the shipping.
    assert order["shipping"] == {
        "method": "express",
        "tax_category": "standard",
        "amount": "6.00",
        "discount": "0.00",
        "discounts": [],
        "net": "5.00",
        "tax": "1.00",
        "gross": "6.00",
    }
    assert (order["net_total"], order["tax_total"], order["gross_total"]) == ("30.00", "6.00", "36.00")
    assert order["lines"][0]["gross"] == "30.00"
    quoted = quote(client, admin, shop, "1").json()
    assert (quoted["net"], quoted["tax"], quoted["gross"]) == ("30.00", "6.00", "36.00")
    assert quoted["shipping"]["net"] == "5.00"

    done = pay_and_ship(client, admin, order)

    assert done["state"] == "fulfilled"
    assert balance(runtime, shop, "card_clearing") == D("36.00")
    assert balance(runtime, shop, "customer_deposits") == 0
    assert balance(runtime, shop, "receivable") == 0
    assert balance(runtime, shop, "sales_revenue") == D("-25.00")
    assert balance(runtime, shop, "shipping_revenue") == D("-5.00")
    assert balance(runtime, shop, "output_tax") == D("-6.00")
    entries_balance(runtime)
    with runtime.session_factory() as session:
        account = session.scalar(
            select(Account).where(
                Account.company_id == shop["company_id"], Account.role == "shipping_revenue"
            )
        )
        assert (account.code, account.name) == ("4030", "Shipping income")


def test_shipping_is_recognised_once_with_the_first_delivery(client, admin, runtime, shop):
    body = {
        "company_id": shop["company"]["id"],
        "lines": [
            {"product_id": shop["shirt"], "quantity": "1"},
            {"product_id": shop["shirt"], "quantity": "1"},
        ],
        "shipping": {"amount": "4.80", "tax_category": "standard"},
        "channel": "marketplace",
    }
    response = client.post(f"{API}/orders", json=body, headers=admin)
    assert response.status_code == 201, response.text
    order = response.json()
    # A marketplace order: FREESHIP is for the web only, so 60.00 of goods still pay 4.80.
    assert order["shipping"]["discount"] == "0.00"
    assert order["gross_total"] == "64.80"
    first, second = order["lines"]

    pay_and_ship(client, admin, order, lines=[{"line_id": first["id"], "quantity": "1"}])
    assert balance(runtime, shop, "shipping_revenue") == D("-4.00")
    assert balance(runtime, shop, "sales_revenue") == D("-25.00")
    assert balance(runtime, shop, "customer_deposits") == D("-30.00")

    shipped = client.post(
        f"{API}/orders/{order['id']}/fulfillments",
        json={"lines": [{"line_id": second["id"], "quantity": "1"}]},
        headers=admin,
    )
    assert shipped.status_code in (200, 201), shipped.text
    assert balance(runtime, shop, "shipping_revenue") == D("-4.00")
    assert balance(runtime, shop, "sales_revenue") == D("-50.00")
    assert balance(runtime, shop, "output_tax") == D("-10.80")
    assert balance(runtime, shop, "customer_deposits") == 0
    entries_balance(runtime)


def test_free_shipping_over_its_threshold_zeroes_the_charge_with_a_recorded_discount(
    client, admin, runtime, shop
):
    quoted = quote(client, admin, shop, "2").json()
    order = place(client, admin, shop, "2")

    shipping = order["shipping"]
    assert (
        shipping["amount"],
        shipping["discount"],
        shipping["net"],
        shipping["tax"],
        shipping["gross"],
    ) == (
        "6.00",
        "6.00",
        "0.00",
        "0.00",
        "0.00",
    )
    assert shown(shipping["discounts"]) == [("promotion", "FREESHIP", "6.00")]
    assert shipping["discounts"][0]["promotion_id"] == str(shop["freeship"])
    assert order["gross_total"] == quoted["gross"] == "60.00"
    assert shown(quoted["shipping"]["discounts"]) == shown(shipping["discounts"])
    assert quoted["promotions"] == ["FREESHIP"]
    with runtime.session_factory() as session:
        confirmed = session.scalar(select(Event.payload).where(Event.type == "OrderConfirmed"))
    assert [d["code"] for d in confirmed["shipping_discounts"]] == ["FREESHIP"]

    pay_and_ship(client, admin, order)
    # Net posting (the default): nothing to shipping revenue, no discount account.
    assert balance(runtime, shop, "shipping_revenue") == 0
    assert balance(runtime, shop, "sales_discounts") == 0
    assert balance(runtime, shop, "sales_revenue") == D("-50.00")
    entries_balance(runtime)


def test_under_its_threshold_shipping_is_charged_and_the_quote_agrees(client, admin, shop):
    quoted = quote(client, admin, shop, "1").json()
    order = place(client, admin, shop, "1")
    assert order["shipping"]["discount"] == quoted["shipping"]["discount"] == "0.00"
    assert order["shipping"]["discounts"] == quoted["shipping"]["discounts"] == []
    assert order["gross_total"] == quoted["gross"] == "36.00"
    assert quoted["promotions"] == []


def test_a_contra_posting_company_posts_the_shipping_discount_apart(client, admin, auth, runtime, shop):
    response = client.put(
        f"{API}/discount-posting",
        json={"company_id": shop["company"]["id"], "posting": "contra"},
        headers=auth("finance", company="ACME"),
    )
    assert response.status_code == 200, response.text
    order = place(client, admin, shop, "2")
    pay_and_ship(client, admin, order)
    # The shipping before its discount is revenue (5.00 net of tax), the free shipping a discount.
    assert balance(runtime, shop, "shipping_revenue") == D("-5.00")
    assert balance(runtime, shop, "sales_discounts") == D("5.00")
    assert balance(runtime, shop, "output_tax") == D("-10.00")
    entries_balance(runtime)


def test_the_invoice_shows_the_shipping_line(client, admin, runtime, shop):
    customer = client.post(
        f"{API}/customers",
        json={"company_id": shop["company"]["id"], "code": "B1", "name": "Buyer"},
        headers=admin,
    )
    assert customer.status_code == 201, customer.text
    order = place(client, admin, shop, "1", channel="b2b", customer_id=customer.json()["id"])
    pay_and_ship(client, admin, order)
    invoice = client.post(f"{API}/orders/{order['id']}/invoice", json={}, headers=admin)
    assert invoice.status_code in (200, 201), invoice.text
    body = invoice.json()
    assert [(line["sku"], line["net"], line["tax"], line["gross"]) for line in body["lines"]] == [
        ("SHIRT", "25.00", "5.00", "30.00"),
        ("SHIPPING", "5.00", "1.00", "6.00"),
    ]
    assert body["gross_total"] == "36.00"


@pytest.mark.parametrize(
    ("shipping", "fields", "field"),
    [
        ({"amount": "-1.00", "tax_category": "standard"}, {}, "shipping.amount"),
        ({"amount": "6.001", "tax_category": "standard"}, {}, "shipping.amount"),
        ({"amount": "6.00", "tax_category": "reduced"}, {}, "shipping.tax_category"),
        ({"amount": "6.00"}, {}, "shipping.tax_category"),
        (SHIPPING, {"fulfillment_mode": "click_and_collect", "pickup_store_id": "S1"}, "shipping"),
    ],
)
def test_bad_shipping_is_refused_naming_the_field_with_nothing_written(
    client, admin, runtime, shop, shipping, fields, field
):
    before = table_counts(runtime)
    response = client.post(
        f"{API}/orders",
        json={
            "company_id": shop["company"]["id"],
            "lines": [{"product_id": shop["shirt"], "quantity": "1"}],
            "shipping": shipping,
            **fields,
        },
        headers=admin,
    )
    assert_problem(response, 422, fields=(field,))
    assert table_counts(runtime) == before


def test_a_quote_refuses_shipping_on_a_pos_sale_and_an_unknown_tax_category(client, admin, shop):
    assert_problem(quote(client, admin, shop, "1", channel="pos"), 422, fields=("shipping",))
    bad = {"amount": "6.00", "tax_category": "reduced"}
    assert_problem(quote(client, admin, shop, "1", shipping=bad), 422, fields=("shipping.tax_category",))


def test_a_draft_with_shipping_confirms_for_the_same_total_and_a_cancel_gives_the_shipping_back(
    client, admin, runtime, shop
):
    draft = place(client, admin, shop, "1", confirm=False)
    assert (draft["state"], draft["gross_total"]) == ("draft", "36.00")
    confirmed = client.post(f"{API}/orders/{draft['id']}/confirm", json={}, headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["state"], confirmed.json()["gross_total"]) == ("confirmed", "36.00")
    paid = client.post(
        f"{API}/orders/{draft['id']}/payments",
        json={"kind": "card", "gateway": "stripe", "reference": "psp-draft", "amount": "36.00"},
        headers=admin,
    )
    assert paid.status_code in (200, 201), paid.text
    cancelled = client.post(f"{API}/orders/{draft['id']}/cancel", json={"reason": "changed"}, headers=admin)
    assert cancelled.status_code == 200, cancelled.text
    # Nothing was delivered: the whole deposit, shipping included, goes back; no shipping revenue.
    assert cancelled.json()["deposit_balance"] == "0.00"
    assert balance(runtime, shop, "customer_deposits") == 0
    assert balance(runtime, shop, "card_clearing") == 0
    assert balance(runtime, shop, "shipping_revenue") == 0
    entries_balance(runtime)


def test_the_openapi_document_shows_the_shipping_of_an_order(client):
    schemas = client.get(f"{API}/openapi.json").json()["components"]["schemas"]
    assert {"amount", "tax_category", "method"} <= schemas["ShippingIn"]["properties"].keys()
    assert schemas["ShippingIn"]["required"] == ["amount", "tax_category"]
    assert "shipping" in schemas["PlaceOrder"]["properties"]
    assert "shipping" in schemas["OrderView"]["properties"]
    assert {"discounts", "net", "tax", "gross"} <= schemas["ShippingView"]["properties"].keys()
    assert "shipping" in schemas["PriceQuote"]["properties"]


def test_a_full_return_refunds_the_goods_not_the_shipping(client, admin, runtime, shop):
    order = place(client, admin, shop, "1")
    pay_and_ship(client, admin, order)
    asked = client.post(
        f"{API}/returns",
        json={
            "company_id": shop["company"]["id"],
            "order_id": order["id"],
            "store_id": "S1",
            "reason": "wrong_size",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": "1", "condition": "resaleable"}],
        },
        headers=admin,
    )
    assert asked.status_code == 201, asked.text
    received = client.post(f"{API}/returns/{asked.json()['id']}/receive", headers=admin)
    assert received.status_code == 200, received.text
    refunded = client.post(f"{API}/returns/{asked.json()['id']}/refund", headers=admin)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_total"] == "30.00"
    assert balance(runtime, shop, "card_clearing") == D("6.00")
    assert balance(runtime, shop, "sales_returns") == D("25.00")
    assert balance(runtime, shop, "shipping_revenue") == D("-5.00")
    entries_balance(runtime)


def test_free_shipping_follows_its_customer_groups_and_dates(client, admin, runtime, shop):
    with transaction(runtime.session_factory) as session:
        row = session.get(PromotionRow, shop["freeship"])
        row.customer_groups = ["vip"]
    vip = client.post(
        f"{API}/customers",
        json={"company_id": shop["company"]["id"], "code": "V1", "name": "Vee", "customer_group": "vip"},
        headers=admin,
    )
    assert vip.status_code == 201, vip.text
    guest = place(client, admin, shop, "2")
    assert (guest["shipping"]["discount"], guest["gross_total"]) == ("0.00", "66.00")
    member = place(client, admin, shop, "2", customer_id=vip.json()["id"])
    assert shown(member["shipping"]["discounts"]) == [("promotion", "FREESHIP", "6.00")]

    with transaction(runtime.session_factory) as session:
        row = session.get(PromotionRow, shop["freeship"])
        row.ends_at = dt.datetime(2026, 1, 1)  # over (local time)
    later = place(client, admin, shop, "2", customer_id=vip.json()["id"])
    assert (later["shipping"]["discount"], later["gross_total"]) == ("0.00", "66.00")


def test_a_coupon_granting_free_shipping_is_recorded_and_redeemed_for_it(client, admin, runtime, shop):
    with transaction(runtime.session_factory) as session:
        session.add(
            PromotionRow(
                company_id=shop["company_id"],
                code="SHIPFREE",
                name="Free shipping by coupon",
                kind="free_shipping",
                rule={},
                coupon_only=True,
                state="approved",
                created_by="test",
            )
        )
    coupon = client.post(
        f"{API}/coupons",
        json={"company_id": shop["company"]["id"], "promotion": "SHIPFREE", "code": "SHIPNOW", "max_uses": 1},
        headers=admin,
    )
    assert coupon.status_code == 201, coupon.text
    order = place(client, admin, shop, "1", coupons=["SHIPNOW"])
    assert shown(order["shipping"]["discounts"]) == [("coupon", "SHIPNOW", "6.00")]
    assert order["gross_total"] == "30.00"
    with runtime.session_factory() as session:
        redemption = session.scalar(select(CouponRedemption))
    assert (redemption.order_id, redemption.amount) == (uuid.UUID(order["id"]), D("6.00"))
