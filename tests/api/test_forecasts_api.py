"""Demand forecasts from sales made at the till: the history read from the database, a run through the
API, the forecasts against actuals with their filters, refusals, and the demand estimates that
replenishment reads (docs/intelligence.md, decision 0073)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem, events

from forecast_shop import AS_OF, DAYS, TODAY, WEEKLY, history_day, make_shop
from retailcore.adapters.db import transaction
from retailcore.analytics.forecasts.history import demand_history, series_id, stock_locations
from retailcore.analytics.forecasts.queries import demand_estimates
from retailcore.masterdata.tables import Company

pytest.importorskip("statsforecast")


@pytest.fixture
def shop(client, admin, auth, company):
    return make_shop(client, admin, auth, company)


def test_the_history_is_daily_units_per_product_and_store_with_zero_days(runtime, shop):
    company_id = uuid.UUID(shop["company"]["id"])
    store_id, coffee, tea = (uuid.UUID(shop[k]["id"]) for k in ("store", "coffee", "tea"))
    with runtime.session_factory() as session:
        history = demand_history(session, company_id, as_of=AS_OF, days=DAYS)
        location = stock_locations(session, company_id)[store_id]
    frame = history.frame
    assert set(frame["unique_id"]) == {series_id(coffee, store_id), series_id(tea, store_id)}
    assert len(frame) == 2 * DAYS  # every day of the window, for both series
    coffee_days = frame[frame["unique_id"] == series_id(coffee, store_id)]
    assert list(coffee_days["y"]) == [WEEKLY[history_day(i).weekday()] for i in range(DAYS)]
    assert set(coffee_days["price"]) == {2.0}
    tea_days = frame[frame["unique_id"] == series_id(tea, store_id)]
    assert list(tea_days["y"]) == [1.0 if i % 4 == 0 else 0.0 for i in range(DAYS)]
    assert history.series.loc[series_id(tea, store_id), "location_id"] == location
    assert history.series.loc[series_id(tea, store_id), "channel"] == "store"


def test_a_run_stores_forecasts_that_follow_the_weekly_pattern(runtime, client, admin, shop):
    response = client.post(
        f"{API}/forecasts/runs",
        json={"company_id": "ACME", "horizon": 7, "as_of": AS_OF.isoformat()},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["series"] == 2 and run["horizon"] == 7
    assert sum(run["chosen"].values()) == 2
    assert "SeasonalNaive" in run["mase"]
    assert [e.type for e in events(runtime, type="ForecastRunCompleted")] == ["ForecastRunCompleted"]

    page = client.get(
        f"{API}/forecasts", params={"product_id": shop["coffee"]["id"], "store_id": "S1"}, headers=admin
    ).json()
    assert {item["run_id"] for item in page["items"]} == {run["id"]}
    rows = {dt.date.fromisoformat(item["day"]): item for item in page["items"]}
    assert len(rows) == 7
    for day, item in rows.items():
        assert abs(Decimal(item["quantity"]) - WEEKLY[day.weekday()]) <= Decimal("1.0"), (day, item)
        assert item["store"] == "S1" and item["channel"] == "store"
        # Forecasts against actuals: the days already past carry the units sold.
        expected = Decimal(WEEKLY[day.weekday()]).quantize(Decimal("0.001")) if day <= TODAY else None
        assert (None if item["actual"] is None else Decimal(item["actual"])) == expected
    assert sum(1 for item in rows.values() if item["actual"] is not None) == 3
    assert client.get(f"{API}/forecasts", params={"channel": "web"}, headers=admin).json()["items"] == []

    runs = client.get(f"{API}/forecasts/runs", headers=admin).json()
    assert [item["id"] for item in runs["items"]] == [run["id"]] and runs["next_cursor"] is None


def test_demand_estimates_average_the_latest_run_per_location(runtime, client, admin, shop):
    company_id, store_id = uuid.UUID(shop["company"]["id"]), uuid.UUID(shop["store"]["id"])
    with runtime.session_factory() as session:
        assert demand_estimates(session, company_id, as_of=AS_OF, horizon_days=7) == []
    response = client.post(
        f"{API}/forecasts/runs", json={"horizon": 7, "as_of": AS_OF.isoformat()}, headers=admin
    )
    assert response.status_code == 201, response.text
    with runtime.session_factory() as session:
        estimates = demand_estimates(session, company_id, as_of=AS_OF, horizon_days=7)
        location = stock_locations(session, company_id)[store_id]
    by_product = {str(e.product_id): e for e in estimates}
    coffee = by_product[shop["coffee"]["id"]]
    assert coffee.location_id == location and coffee.horizon_days == 7
    assert abs(coffee.daily_mean - Decimal(sum(WEEKLY)) / 7) < Decimal("0.5")
    assert isinstance(coffee.daily_sigma, Decimal) and coffee.daily_sigma >= 0
    tea = by_product[shop["tea"]["id"]]
    assert Decimal("0.1") < tea.daily_mean < Decimal("0.5")  # one unit every fourth day


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/forecasts", {"channel": "shop"}, "channel"),
        ("/forecasts", {"product_id": "coffee"}, "product_id"),
        ("/forecasts", {"store_id": "NOPE"}, "store_id"),
        ("/forecasts", {"cursor": "not-a-cursor"}, "cursor"),
        ("/forecasts/runs", {"limit": "0"}, "limit"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(client, admin, shop, path, params, field):
    if field == "cursor":
        assert (
            client.post(f"{API}/forecasts/runs", json={"as_of": AS_OF.isoformat()}, headers=admin).status_code
            == 201
        )
    response = client.get(f"{API}{path}", params=params, headers=admin)
    assert_problem(response, 422, fields=(field,))


@pytest.mark.parametrize(
    ("body", "field"),
    [({"horizon": 0}, "horizon"), ({"horizon": 91}, "horizon"), ({"as_of": "2026-13-01"}, "as_of")],
)
def test_a_bad_run_request_is_refused_and_writes_nothing(client, admin, shop, snapshot, body, field):
    before = snapshot()
    response = client.post(f"{API}/forecasts/runs", json=body, headers=admin)
    assert_problem(response, 422, fields=(field,))
    assert snapshot() == before


def test_a_run_without_sales_is_refused(runtime, client, admin, company, snapshot):
    before = snapshot()
    response = client.post(f"{API}/forecasts/runs", json={"as_of": "2026-01-31"}, headers=admin)
    assert_problem(response, 422, fields=("as_of",))
    assert snapshot() == before
    with transaction(runtime.session_factory) as session:
        assert session.get(Company, uuid.UUID(company["id"])) is not None
