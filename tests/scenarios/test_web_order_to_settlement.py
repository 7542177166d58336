"""A web order is paid, shipped, and settled by the card gateway: clearing accounts return to zero.

Revenue is recognised at fulfilment, money held as a customer deposit until then, and card money sits
in card clearing until the settlement moves it to the bank net of fees (DESIGN section 1).
"""

from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def integration(auth, company):
    return auth("integration", company="ACME")


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


def send(client, headers, key, event_type, payload):
    response = client.post(
        "/api/v1/ledger/events",
        json={"type": event_type, "payload": payload},
        headers={**headers, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return response.json()["entry"]


def balances_by_role(client, finance):
    accounts = {
        a["id"]: a["role"] for a in client.get("/api/v1/accounts?limit=500", headers=finance).json()["items"]
    }
    totals: dict[str, Decimal] = {}
    for entry in client.get("/api/v1/journal-entries?limit=500", headers=finance).json()["items"]:
        for line in entry["lines"]:
            role = accounts[line["account_id"]]
            totals[role] = totals.get(role, Decimal(0)) + Decimal(line["debit"]) - Decimal(line["credit"])
    return totals


def test_web_order_from_capture_to_payout(client, integration, finance):
    order = {"channel": "web", "currency": "EUR", "order_ref": "#1001", "gateway": "stripe"}
    send(
        client,
        integration,
        "cap-1001",
        "PaymentCaptured",
        {**order, "date": "2026-11-02", "amount": "120.00"},
    )
    after_capture = balances_by_role(client, finance)
    assert after_capture["customer_deposits"] == Decimal("-120.00")
    assert "sales_revenue" not in after_capture  # no revenue before the goods leave

    send(
        client,
        integration,
        "ful-1001",
        "OrderFulfilled",
        {
            **order,
            "date": "2026-11-04",
            "paid_amount": "120.00",
            "sales": [
                {
                    "product_category": "Footwear",
                    "tax_code": "FR-VAT-20",
                    "net": "100.00",
                    "tax": "20.00",
                    "tax_base": "100.00",
                }
            ],
        },
    )
    send(
        client,
        integration,
        "set-77",
        "SettlementImported",
        {
            "date": "2026-11-06",
            "gateway": "stripe",
            "batch": "po_77",
            "gross": "120.00",
            "fees": "2.10",
            "net": "117.90",
        },
    )
    # The same settlement file delivered twice posts once.
    send(
        client,
        integration,
        "set-77",
        "SettlementImported",
        {
            "date": "2026-11-06",
            "gateway": "stripe",
            "batch": "po_77",
            "gross": "120.00",
            "fees": "2.10",
            "net": "117.90",
        },
    )

    totals = balances_by_role(client, finance)
    assert totals["card_clearing"] == 0
    assert totals["customer_deposits"] == 0
    assert totals["sales_revenue"] == Decimal("-100.00")
    assert totals["output_tax"] == Decimal("-20.00")
    assert totals["bank"] == Decimal("117.90")
    assert totals["gateway_fees"] == Decimal("2.10")
    assert sum(totals.values()) == 0


def test_return_in_store_of_a_web_order_refunds_to_store_credit(client, integration, finance):
    send(
        client,
        integration,
        "ret-1",
        "ReturnRefunded",
        {
            "date": "2026-11-10",
            "channel": "pos",
            "lines": [
                {"product_category": "Footwear", "tax_code": "FR-VAT-20", "net": "50.00", "tax": "10.00"}
            ],
            "refunds": [{"kind": "store_credit", "amount": "60.00"}],
        },
    )
    # The goods coming back are a stock move: the ledger alone cannot take them (it would post their
    # value to inventory with no goods in the valuation), so it points at the flow that moves them.
    goods = client.post(
        "/api/v1/ledger/events",
        json={
            "type": "ReturnReceived",
            "payload": {
                "date": "2026-11-10",
                "items": [
                    {
                        "cost": "22.50",
                        "disposition": "restock",
                        "stock_role": "inventory",
                        "product_category": "Footwear",
                    }
                ],
            },
        },
        headers={**integration, "Idempotency-Key": "ret-1-goods"},
    )
    assert goods.status_code == 422, goods.text
    assert goods.json()["code"] == "stock-event-needs-its-flow"
    totals = balances_by_role(client, finance)
    assert totals["sales_returns"] == Decimal("50.00")
    assert totals["output_tax"] == Decimal("10.00")
    assert totals["store_credit_liability"] == Decimal("-60.00")
    assert "inventory" not in totals and "cogs" not in totals
