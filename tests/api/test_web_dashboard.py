"""The back office's dashboard over HTTP: its figures are the ``/kpis`` API's for the same filters (the
same query functions), a store filter narrows them to that store, a store's manager sees its store only,
the charts' data is a JSON block for the static script (no inline script), and the tables are CSV.
Browser tests of the page: tests/browser/test_back_office.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from webtools import API, build_shop, sign_in


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory):
    return build_shop(runtime, client, admin, auth, company, store_factory)


def _tiles(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="tile-([a-z_]+)" data-value="([^"]*)"', html))


def _previous(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="tile-([a-z_]+)" data-value="[^"]*" data-previous="([^"]*)"', html))


def _charts(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert found is not None, "the page has no chart data"
    return json.loads(found.group(1))


def _kpi(client: Any, admin: dict[str, str], name: str, **query: str) -> dict[str, Any]:
    response = client.get(f"{API}/kpis/{name}", params=query, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


def _same(page: str, api: Any) -> None:
    assert (Decimal(page) if page else None) == (Decimal(api) if api is not None else None)


@pytest.mark.parametrize("store", ["", "S1", "S2"])
def test_the_dashboard_shows_the_kpis_of_the_api_for_the_same_filters(client, admin, shop, store):
    today = dt.date.today()
    period = {"date_from": (today - dt.timedelta(days=6)).isoformat(), "date_to": today.isoformat()}
    filters = {**period, **({"store": store} if store else {})}
    assert sign_in(client, "finance").status_code == 303
    page = client.get("/", params=filters)
    assert page.status_code == 200, page.text
    tiles, previous = _tiles(page.text), _previous(page.text)
    sales = _kpi(client, admin, "sales", group_by="day", **filters)
    returns = _kpi(client, admin, "returns", **filters)
    basket = _kpi(client, admin, "basket", **filters)
    through = _kpi(client, admin, "sell-through", **filters)
    accuracy = _kpi(client, admin, "stock-accuracy", **filters)
    shrinkage = _kpi(client, admin, "shrinkage", **filters)
    exceptions = _kpi(client, admin, "exceptions", **({"store": store} if store else {}))
    totals = sales["totals"]
    for key in ("net_sales", "gross_margin", "margin_percent", "discount_rate_percent"):
        _same(tiles[key], totals[key])
        _same(previous[key], sales["previous"]["totals"][key])
    _same(tiles["return_rate_value_percent"], returns["totals"]["return_rate_value_percent"])
    _same(tiles["average_basket"], basket["totals"]["average_basket"])
    _same(tiles["sell_through_percent"], through["totals"]["sell_through_percent"])
    _same(tiles["stock_accuracy_percent"], accuracy["totals"]["accuracy_percent"])
    _same(tiles["shrinkage_percent"], shrinkage["totals"]["shrinkage_percent"])
    assert int(tiles["open_exceptions"]) == exceptions["open"]
    # Two sales of 2 x 3.60 (tax included: 6.00 net) in each store.
    assert Decimal(tiles["net_sales"]) == Decimal("12.00") * (1 if store else 2)
    charts = _charts(page.text)
    # Every day of the period, zero where the API has no row.
    assert len(charts["days"]["labels"]) == 7 and charts["days"]["labels"][-1] == today.isoformat()
    by_day = dict(zip(charts["days"]["labels"], charts["days"]["net_sales"], strict=True))
    assert {day: Decimal(v) for day, v in by_day.items() if Decimal(v)} == {
        r["group"]: Decimal(r["net_sales"]) for r in sales["rows"] if Decimal(r["net_sales"])
    }
    by_store = _kpi(client, admin, "sales", group_by="store", **filters)
    assert charts["store"]["labels"] == [row["group"] for row in by_store["rows"]]
    assert [Decimal(v) for v in charts["store"]["gross_margin"]] == [
        Decimal(r["gross_margin"]) for r in by_store["rows"]
    ]
    if store:
        assert charts["store"]["labels"] == [store]


def test_the_dashboard_tables_download_as_csv_with_the_apis_figures(client, admin, shop):
    sign_in(client, "finance")
    today = dt.date.today().isoformat()
    answer = client.get("/", params={"date_from": today, "date_to": today, "csv": "margin-by-store"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    api = _kpi(client, admin, "sales", group_by="store", date_from=today, date_to=today)
    assert [(r["group"], Decimal(r["gross_margin"])) for r in rows] == [
        (r["group"], Decimal(r["gross_margin"])) for r in api["rows"]
    ]


def test_the_default_period_ends_on_the_last_day_with_sales_and_the_margin_links_to_the_books(client, shop):
    sign_in(client, "finance")
    page = client.get("/")
    today = dt.date.today()
    start = (today - dt.timedelta(days=29)).isoformat()
    assert f'name="date_from" type="date" value="{start}"' in page.text
    assert (
        f'href="/accounting/profit-and-loss?date_from={start}&amp;date_to={today.isoformat()}"' in page.text
    )
    assert "<script>" not in page.text and '<script type="application/json"' in page.text
    assert (
        "content-security-policy" in page.headers
        and "script-src 'self'" in page.headers["content-security-policy"]
    )


def test_a_store_manager_sees_its_store_only_and_no_link_to_the_books(client, shop):
    sign_in(client, "manager1")
    page = client.get("/")
    assert page.status_code == 200
    assert Decimal(_tiles(page.text)["net_sales"]) == Decimal("12.00")
    assert "All stores" not in page.text and ">S2 " not in page.text
    assert "/accounting/profit-and-loss?" not in page.text
    assert client.get("/", params={"store": "S2"}).status_code == 404


def test_a_cashier_sees_the_sections_and_a_bad_channel_is_refused(client, shop):
    sign_in(client, "cashier1")
    page = client.get("/")
    assert page.status_code == 200 and "does not read the KPIs" in page.text
    sign_in(client, "finance")
    refused = client.get("/", params={"channel": "telepathy"})
    assert refused.status_code == 422 and "channel" in refused.text


def test_a_stores_margin_drills_to_the_profit_and_loss_split_by_store(client, shop):
    sign_in(client, "finance")
    today = dt.date.today().isoformat()
    page = client.get("/", params={"date_from": today, "date_to": today, "store": "S2"})
    link = re.search(r'id="tile-gross_margin".*?<a href="([^"]+)"', page.text, re.S)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    assert target == f"/accounting/profit-and-loss?date_from={today}&date_to={today}&group_by=store_id"
    books = client.get(target)
    assert books.status_code == 200
    rows = list(csv.reader(io.StringIO(client.get(target + "&csv=profit-and-loss").text)))
    assert rows[0] == ["section", "account_code", "account_name", "store_id", "amount"]
    # S2's session is closed: its two sales (6.00 net each) and their cost (2 x 2 x 1.50) are booked.
    income = [row for row in rows[1:] if row[0] == "income" and row[3] == "S2"]
    assert sum(Decimal(row[4]) for row in income) == Decimal("12.00")
    assert client.get("/accounting/profit-and-loss", params={"group_by": "colour"}).status_code == 422
