"""The ``/kpis`` API on a hand-worked till: two receipts, one with a discount, worked out by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from apitools import API
from sqlalchemy import select

from retailcore.adapters.db import transaction
from retailcore.analytics import feed
from retailcore.analytics.tables import DailySales
from retailcore.masterdata.tables import Company


@pytest.fixture
def till(client, admin, auth, company, store_factory, product_factory):
    store = store_factory("S1")
    store_factory("S2")
    for path, body in (
        (
            "tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
            },
        ),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text
    cashier = auth("cashier", company="ACME", store="S1")
    opened = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": terminal.json()["id"], "opening_float": "50.00"},
        headers=cashier,
    )
    assert opened.status_code == 201, opened.text
    sold_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    sales = [
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": sold_at,
            "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "3.60"}],
            "payments": [{"payment_method_code": "CASH", "amount": "5.00"}],
        },
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": sold_at,
            "lines": [{"product_id": product["id"], "quantity": 2, "unit_price": "3.60", "discount": "1.20"}],
            "payments": [{"payment_method_code": "CARD", "amount": "6.00"}],
        },
    ]
    batch = client.post(
        f"{API}/pos/sessions/{opened.json()['id']}/sales:batch", json={"sales": sales}, headers=cashier
    )
    assert batch.status_code == 200, batch.text
    return {
        "manager": manager,
        "other": auth("store_manager", company="ACME", store="S2"),
        "cashier": cashier,
        "session_id": opened.json()["id"],
        "product_id": product["id"],
    }


def _period() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {
        "date_from": (today - dt.timedelta(days=1)).isoformat(),
        "date_to": (today + dt.timedelta(days=1)).isoformat(),
    }


def test_two_receipts_worked_by_hand(client, admin, till):
    # 3.60 incl. 20% VAT is 3.00 net; 2 x 3.60 - 1.20 = 6.00 incl. VAT is 5.00 net. No stock was
    # received, so the goods left at no cost: the margin is the net sales.
    sales = client.get(f"{API}/kpis/sales", params={**_period(), "group_by": "category"}, headers=admin)
    assert sales.status_code == 200, sales.text
    (row,) = sales.json()["rows"]
    assert row["group"] == "Drinks"
    assert (row["net_sales"], row["cost_of_sales"], row["gross_margin"]) == ("8.00", "0.00", "8.00")
    assert row["margin_percent"] == "100.00"
    # Discounts on the prices' basis: 1.20 of 3.60 + 7.20 = 10.80 listed.
    assert (row["list_amount"], row["discounts"], row["discount_rate_percent"]) == ("10.80", "1.20", "11.11")
    assert (row["units"], row["lines"]) == ("3.00", 2)

    basket = client.get(
        f"{API}/kpis/basket", params={**_period(), "group_by": "channel"}, headers=admin
    ).json()
    assert basket["totals"]["baskets"] == 2
    assert (basket["totals"]["average_basket"], basket["totals"]["units_per_basket"]) == ("4.00", "1.50")

    # Sell-through: 3 sold, none received, so on hand is -3 at the store: 3 / (3 - 3) has no base.
    through = client.get(f"{API}/kpis/sell-through", params=_period(), headers=admin).json()
    assert through["totals"]["units_sold"] == "3.00"


def test_a_store_token_sees_its_store_only(client, till):
    mine = client.get(f"{API}/kpis/sales", params=_period(), headers=till["manager"]).json()
    theirs = client.get(f"{API}/kpis/sales", params=_period(), headers=till["other"]).json()
    assert mine["totals"]["net_sales"] == "8.00"
    assert theirs["totals"]["net_sales"] == "0.00"
    refused = client.get(f"{API}/kpis/sales", params={"store": "S1"}, headers=till["other"])
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "store"
    lag = client.get(f"{API}/kpis/settlement-lag", headers=till["manager"])
    assert lag.status_code == 403


def test_the_previous_period_is_compared(client, admin, till):
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    later = client.get(
        f"{API}/kpis/sales",
        params={"date_from": tomorrow.isoformat(), "date_to": (tomorrow + dt.timedelta(days=2)).isoformat()},
        headers=admin,
    ).json()
    assert later["totals"]["net_sales"] == "0.00"
    assert later["previous"]["totals"]["net_sales"] == "8.00"
    assert later["previous"]["net_sales_change_percent"] == "-100.00"


def test_a_refund_at_the_till_is_a_return_by_reason(client, admin, till):
    orders = client.get(f"{API}/orders", params={"channel": "pos"}, headers=admin).json()["items"]
    cash_sale = next(order for order in orders if order["payments"][0]["kind"] == "cash")
    refund = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": dt.datetime.now(dt.UTC).isoformat(),
        "lines": [
            {
                "product_id": till["product_id"],
                "quantity": "-1",
                "unit_price": "3.60",
                "refund_of": cash_sale["lines"][0]["id"],
                "reason": "changed_mind",
            }
        ],
        "payments": [{"payment_method_code": "CASH", "amount": "3.60"}],
    }
    taken = client.post(
        f"{API}/pos/sessions/{till['session_id']}/sales:batch",
        json={"sales": [refund]},
        headers=till["cashier"],
    )
    assert taken.status_code == 200, taken.text

    # 1 coffee of 3.60 incl. VAT back: 3.00 net of the 8.00 sold, 1 unit of 3.
    by_reason = client.get(
        f"{API}/kpis/returns", params={**_period(), "group_by": "reason"}, headers=admin
    ).json()
    (row,) = by_reason["rows"]
    assert (row["group"], row["returned_net"], row["returned_units"], row["return_lines"]) == (
        "changed_mind",
        "3.00",
        "1.00",
        1,
    )
    assert row["return_rate_value_percent"] is None  # sales have no reason
    totals = by_reason["totals"]
    assert (totals["return_rate_value_percent"], totals["return_rate_units_percent"]) == ("37.50", "33.33")
    by_channel = client.get(f"{API}/kpis/returns", params=_period(), headers=admin).json()
    assert [(r["group"], r["return_rate_value_percent"]) for r in by_channel["rows"]] == [("pos", "37.50")]
    # The refund is not a sale: net sales stay 8.00.
    sales = client.get(f"{API}/kpis/sales", params=_period(), headers=admin).json()
    assert sales["totals"]["net_sales"] == "8.00"


def test_refunds_of_one_batch_all_count_in_the_day_of_returns(client, admin, till):
    # The day of returns is recomputed once at commit for all the batch's refunds, not once per refund:
    # every refund of the batch must be in it.
    orders = client.get(f"{API}/orders", params={"channel": "pos"}, headers=admin).json()["items"]
    card_sale = next(order for order in orders if order["payments"][0]["kind"] != "cash")
    refunds = [
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": dt.datetime.now(dt.UTC).isoformat(),
            "lines": [
                {
                    "product_id": till["product_id"],
                    "quantity": "-1",
                    "unit_price": "3.60",
                    "refund_of": card_sale["lines"][0]["id"],
                    "reason": reason,
                }
            ],
            "payments": [{"payment_method_code": "CARD", "amount": "3.00"}],
        }
        for reason in ("changed_mind", "wrong_size")
    ]
    taken = client.post(
        f"{API}/pos/sessions/{till['session_id']}/sales:batch",
        json={"sales": refunds},
        headers=till["cashier"],
    )
    assert taken.status_code == 200, taken.text

    # 2 x 3.60 - 1.20 = 6.00 incl. VAT for two units: each unit back is 3.00, 2.50 net.
    by_reason = client.get(
        f"{API}/kpis/returns", params={**_period(), "group_by": "reason"}, headers=admin
    ).json()
    assert sorted(
        (r["group"], r["returned_net"], r["returned_units"], r["return_lines"]) for r in by_reason["rows"]
    ) == [
        ("changed_mind", "2.50", "1.00", 1),
        ("wrong_size", "2.50", "1.00", 1),
    ]


def test_a_batch_across_the_stores_midnight_counts_on_both_days(client, admin, till, runtime):
    store = next(s for s in client.get(f"{API}/stores", headers=admin).json()["items"] if s["code"] == "S1")
    zone = ZoneInfo(store["timezone"])
    midnight = dt.datetime.combine(dt.datetime.now(zone).date(), dt.time(), zone)
    sales = [
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": (midnight + dt.timedelta(minutes=minutes)).astimezone(dt.UTC).isoformat(),
            "lines": [{"product_id": till["product_id"], "quantity": 1, "unit_price": price}],
            "payments": [{"payment_method_code": "CASH", "amount": price}],
        }
        for minutes, price in ((-10, "1.20"), (10, "2.40"))
    ]
    taken = client.post(
        f"{API}/pos/sessions/{till['session_id']}/sales:batch", json={"sales": sales}, headers=till["cashier"]
    )
    assert taken.status_code == 200, taken.text
    today = midnight.date()
    yesterday = today - dt.timedelta(days=1)
    by_day = client.get(
        f"{API}/kpis/sales",
        params={"date_from": yesterday.isoformat(), "date_to": today.isoformat(), "group_by": "day"},
        headers=admin,
    ).json()
    days = {row["group"]: Decimal(row["net_sales"]) for row in by_day["rows"]}
    # 1.20 and 2.40 incl. 20% VAT are 1.00 and 2.00 net, one on each side of the store's midnight; the
    # fixture's 8.00 was sold 5 minutes before the test began.
    expected = {yesterday.isoformat(): Decimal("1.00"), today.isoformat(): Decimal("2.00")}
    fixture_day = (dt.datetime.now(zone) - dt.timedelta(minutes=5)).date().isoformat()
    expected[fixture_day] += Decimal("8.00")
    assert days == expected

    def rows():
        with runtime.session_factory() as session:
            return sorted(tuple(row) for row in session.execute(select(DailySales.__table__)).all())

    incremental = rows()
    with transaction(runtime.session_factory) as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "ACME"))
        feed.rebuild(session, company_id)
    assert rows() == incremental
