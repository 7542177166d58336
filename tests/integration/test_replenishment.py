"""Replenishment from demand estimates: suggestions net of what is on order, a buyer's acceptance into
real POs and transfers (once), the API and the CLI, and the simulator's ``forecast`` policy."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.analytics.forecasts.tables import ForecastRun
from retailcore.analytics.model import DemandEstimate
from retailcore.analytics.replenishment import services as rp
from retailcore.analytics.replenishment.tables import ReplenishmentSuggestion
from retailcore.core.errors import Conflict, NotFound
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import purchasing as po
from retailcore.inventory import transfers as tr
from retailcore.inventory.purchasing_tables import PurchaseOrder
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.transfer_tables import Transfer
from retailcore.masterdata.tables import Company, Location
from retailcore.simulation import Options, simulate
from retailcore.simulation.profile import PROFILE

D = Decimal
DAY = dt.date(2026, 3, 10)


class Buyer:
    """Company ACME: store S1, warehouse W1, products, stock, and a unit of work."""

    def __init__(self, runtime: Any, client: Any, admin: dict[str, str], company: dict, stores: dict) -> None:
        self.runtime, self.client, self.admin = runtime, client, admin
        self.company_id = uuid.UUID(company["id"])
        self.stores = {code: uuid.UUID(store["id"]) for code, store in stores.items()}

    def location(self, kind: str, store: str | None = None) -> uuid.UUID:
        with self.runtime.session_factory() as session:
            query = select(Location.id).where(Location.company_id == self.company_id, Location.kind == kind)
            if store is not None:
                query = query.where(Location.store_id == self.stores[store])
            return session.scalar(query.order_by(Location.code))

    def product(self, sku: str, unit: str = "unit") -> uuid.UUID:
        body = {
            "company_id": str(self.company_id),
            "sku": sku,
            "name": sku,
            "category": "Cat/A",
            "list_price": "30",
            "standard_cost": "12",
            "unit_of_measure": unit,
        }
        response = self.client.post("/api/v1/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    def do(self, work: Callable[[Any, CommandContext, Company], Any]) -> Any:
        with transaction(self.runtime.session_factory) as session:
            ctx = CommandContext(system_principal("buyer"))
            return work(session, ctx, session.get(Company, self.company_id))

    def move(
        self, kind: str, product: uuid.UUID, quantity: str, source: uuid.UUID, target: uuid.UUID, day=DAY
    ):
        cost = D("12") if kind == "receipt" else None
        line = MoveLine(product, D(quantity), source, target, cost)
        self.do(lambda s, ctx, c: move_stock(s, ctx, c, kind=kind, lines=[line], date=day, reference=kind))

    def receive(self, product: uuid.UUID, quantity: str, store: str) -> None:
        self.move("receipt", product, quantity, self.location("supplier"), self.location("stock", store))

    def count(self, model: Any, **where: Any) -> int:
        with self.runtime.session_factory() as session:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return session.scalar(query)


@pytest.fixture
def buyer(runtime, client, admin, company, store_factory) -> Buyer:
    stores = {"S1": store_factory("S1"), "W1": store_factory("W1", kind="warehouse")}
    return Buyer(runtime, client, admin, company, stores)


def fixed(estimates: dict[uuid.UUID, tuple[str, str]], product: uuid.UUID) -> rp.Estimator:
    """An estimator that knows the answer: location -> (mean, sigma) of one product."""

    def estimate(session, company_id, *, as_of, horizon_days):
        return [
            DemandEstimate(product, location, as_of, horizon_days, D(mean), D(sigma), "known")
            for location, (mean, sigma) in estimates.items()
        ]

    return estimate


def _stocked(buyer: Buyer) -> tuple[uuid.UUID, rp.Estimator]:
    """Product P1: 5 on S1's shelf and 3 in transit to it, 100 in the warehouse and 20 on a confirmed
    PO; demand 10 a day at S1 with no error."""
    product = buyer.product("P1")
    buyer.receive(product, "5", "S1")
    buyer.receive(product, "103", "W1")

    def in_transit(s, ctx, c):
        transfer = tr.create_transfer(
            s,
            ctx,
            c,
            from_store_id=buyer.stores["W1"],
            to_store_id=buyer.stores["S1"],
            lines=[tr.ProductQuantity(product, D(3))],
        )
        tr.ship(s, ctx, c, transfer, date=DAY)

    buyer.do(in_transit)

    def on_order(s, ctx, c):
        request = po.CreatePurchaseOrder(
            supplier="Atelier",
            store_id=buyer.stores["W1"],
            order_date=DAY,
            lines=[po.OrderLineIn(product_id=product, quantity=D(20), unit_price=D(12))],
        )
        po.confirm_order(s, ctx, po.create_order(s, ctx, c, request))

    buyer.do(on_order)
    buyer.do(lambda s, ctx, c: rp.set_source(s, ctx, c, product, supplier="Atelier", lead_time_days=5))
    return product, fixed({buyer.location("stock", "S1"): ("10", "0")}, product)


def _suggest(buyer: Buyer, estimator: rp.Estimator, **options: Any) -> list[ReplenishmentSuggestion]:
    def work(s, ctx, c):
        run = rp.suggest(s, ctx, c, as_of=DAY, estimator=estimator, **options)
        s.expunge_all()
        return run.suggestions

    return buyer.do(work)


def test_a_store_below_its_reorder_point_gets_a_transfer_and_the_warehouse_a_po_net_of_what_is_on_order(
    buyer,
):
    _, estimator = _stocked(buyer)

    suggestions = {s.kind: s for s in _suggest(buyer, estimator, review_days=7, transfer_lead_days=1)}

    transfer = suggestions["transfer"]
    # Store: L = 1, R = 7, no error: reorder at 10, up to 80; position 5 on hand + 3 in transit.
    assert (transfer.reorder_point, transfer.order_up_to, transfer.position) == (D(10), D(80), D(8))
    assert transfer.quantity == D(72)
    assert transfer.source_store_id == buyer.stores["W1"]
    purchase = suggestions["purchase"]
    # Warehouse: L = 5 (the supplier's), network demand 10: reorder at 50, up to 120; position 100 on
    # hand + 20 on order - 72 leaving for S1 = 48.
    assert (purchase.reorder_point, purchase.order_up_to, purchase.position) == (D(50), D(120), D(48))
    assert purchase.quantity == D(72)
    assert purchase.supplier == "Atelier"
    assert purchase.unit_price == D(12)
    assert (purchase.daily_mean, purchase.daily_sigma, purchase.model) == (D(10), D(0), "known")


def test_enough_stock_on_hand_and_on_order_means_no_suggestion_and_a_new_run_replaces_the_open_ones(buyer):
    product, _ = _stocked(buyer)
    quiet = fixed({buyer.location("stock", "S1"): ("1", "0")}, product)
    busy = fixed({buyer.location("stock", "S1"): ("10", "0")}, product)

    assert len(_suggest(buyer, busy)) == 2
    assert _suggest(buyer, quiet) == []

    assert buyer.count(ReplenishmentSuggestion) == 0


def test_safety_stock_comes_from_sigma_and_weighed_products_are_not_rounded_to_units(buyer):
    product = buyer.product("FLOUR", unit="kg")
    estimator = fixed({buyer.location("stock", "S1"): ("2.5", "1.2")}, product)
    buyer.receive(product, "100", "W1")

    (suggestion,) = _suggest(buyer, estimator, review_days=3, transfer_lead_days=1)

    # z(0.95) = 1.644854: reorder at 2.5 + 1.644854 x 1.2 = 4.4738, up to 2.5 x 4 + 1.644854 x 1.2 x 2.
    assert suggestion.reorder_point == D("4.4738")
    assert suggestion.order_up_to == D("13.9476")
    assert suggestion.quantity == D("13.948")


def test_the_reorder_point_covers_the_run_interval_and_stores_have_their_own_review_period(buyer):
    _, estimator = _stocked(buyer)

    suggestions = {
        s.kind: s
        for s in _suggest(
            buyer, estimator, review_days=7, transfer_lead_days=1, run_every_days=1, store_review_days=3
        )
    }

    # Store: mean 10, no error, L 1 + r 1: reorder at 20 (not 10), up to 10 x (1 + 3) = 40 (not 80).
    transfer = suggestions["transfer"]
    assert (transfer.reorder_point, transfer.order_up_to, transfer.quantity) == (D(20), D(40), D(32))
    # Warehouse: position 100 on hand + 20 on order - 32 leaving = 88, above its reorder point
    # 10 x (5 + 1) = 60: no PO (with the store's R of 7 it was 48 and got one).
    assert set(suggestions) == {"transfer"}


def test_accepting_makes_a_confirmed_po_and_a_draft_transfer_with_the_lines_and_twice_is_refused(buyer):
    product, estimator = _stocked(buyer)
    suggestions = _suggest(buyer, estimator)
    ids = [s.id for s in suggestions]

    accepted = buyer.do(
        lambda s, ctx, c: (lambda a: ([o.id for o in a.purchase_orders], [t.id for t in a.transfers]))(
            rp.accept(s, ctx, c, ids)
        )
    )

    (order_id,), (transfer_id,) = accepted
    with buyer.runtime.session_factory() as session:
        order = session.get(PurchaseOrder, order_id)
        assert (order.supplier, order.state, order.store_id) == ("Atelier", "confirmed", buyer.stores["W1"])
        assert [(line.product_id, line.quantity, line.unit_price) for line in order.lines] == [
            (product, D(72), D(12))
        ]
        transfer = session.get(Transfer, transfer_id)
        assert (transfer.from_store_id, transfer.to_store_id, transfer.state) == (
            buyer.stores["W1"],
            buyer.stores["S1"],
            "draft",
        )
        assert [(line.product_id, line.quantity) for line in transfer.lines] == [(product, D(72))]
        rows = session.scalars(select(ReplenishmentSuggestion)).all()
        assert {(r.state, r.decided_by) for r in rows} == {("accepted", "buyer")}
        assert {r.purchase_order_id for r in rows if r.kind == "purchase"} == {order_id}
        events = session.scalars(select(Event.type).where(Event.type.like("ReplenishmentSuggestion%"))).all()
        assert sorted(events) == ["ReplenishmentSuggestionAccepted"] * 2
    orders, transfers = buyer.count(PurchaseOrder), buyer.count(Transfer)

    with pytest.raises(Conflict):
        buyer.do(lambda s, ctx, c: rp.accept(s, ctx, c, ids))
    with pytest.raises(Conflict):
        buyer.do(lambda s, ctx, c: rp.dismiss(s, ctx, c, ids[0]))
    with pytest.raises(NotFound):
        buyer.do(lambda s, ctx, c: rp.accept(s, ctx, c, [uuid.uuid4()]))

    assert (buyer.count(PurchaseOrder), buyer.count(Transfer)) == (orders, transfers)


def test_a_dismissed_suggestion_is_recorded_and_cannot_be_accepted(buyer):
    _, estimator = _stocked(buyer)
    first, second = _suggest(buyer, estimator)

    buyer.do(lambda s, ctx, c: rp.dismiss(s, ctx, c, first.id))

    with pytest.raises(Conflict):
        buyer.do(lambda s, ctx, c: rp.accept(s, ctx, c, [second.id, first.id]))
    assert buyer.count(ReplenishmentSuggestion, state="dismissed") == 1
    assert buyer.count(ReplenishmentSuggestion, state="suggested") == 1
    assert buyer.count(Event, type="ReplenishmentSuggestionDismissed") == 1


def test_the_trailing_baseline_is_the_mean_and_deviation_of_the_daily_units_sold(buyer):
    product = buyer.product("P1")
    buyer.receive(product, "50", "S1")
    shelf, customer = buyer.location("stock", "S1"), buyer.location("customer")
    # Sold 2, 0 and 4 on three days (the middle day has no sale at all).
    buyer.move("delivery", product, "2", shelf, customer, day=DAY)
    buyer.move("delivery", product, "4", shelf, customer, day=DAY + dt.timedelta(days=2))

    with buyer.runtime.session_factory() as session:
        (estimate,) = rp.trailing_estimates(
            session, buyer.company_id, as_of=DAY + dt.timedelta(days=2), horizon_days=8
        )
        too_young = rp.trailing_estimates(
            session, buyer.company_id, as_of=DAY + dt.timedelta(days=1), horizon_days=8
        )

    assert (estimate.product_id, estimate.location_id) == (product, shelf)
    assert (estimate.daily_mean, estimate.daily_sigma, estimate.model) == (D(2), D(2), "trailing_mean")
    assert too_young == []


# -- API -------------------------------------------------------------------------------------------------


def test_without_a_forecast_run_the_default_estimator_refuses_and_keeps_the_open_suggestions(
    buyer, client, admin, monkeypatch
):
    _, estimator = _stocked(buyer)
    monkeypatch.setitem(rp.ESTIMATORS, "known", estimator)
    base = "/api/v1/replenishment/suggestions"
    made = client.post(f"{base}/runs", json={"as_of": str(DAY), "estimator": "known"}, headers=admin)
    assert made.is_success, made.text
    before = client.get(base, params={"state": "suggested"}, headers=admin).json()["items"]

    refused = client.post(f"{base}/runs", json={"as_of": str(DAY)}, headers=admin)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "no-demand-estimates" and "forecast" in problem["detail"]
    assert [p["field"] for p in problem["errors"]] == ["estimator"]
    assert client.get(base, params={"state": "suggested"}, headers=admin).json()["items"] == before


def test_the_api_suggests_lists_accepts_all_or_nothing_and_names_bad_fields(
    buyer, client, admin, monkeypatch
):
    _, estimator = _stocked(buyer)
    monkeypatch.setitem(rp.ESTIMATORS, "known", estimator)
    base = "/api/v1/replenishment/suggestions"

    run = client.post(f"{base}/runs", json={"as_of": str(DAY), "estimator": "known"}, headers=admin)
    assert run.status_code == 201, run.text
    assert (run.json()["purchases"], run.json()["transfers"]) == (1, 1)

    page = client.get(base, params={"state": "suggested", "limit": 1}, headers=admin).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(
        base, params={"state": "suggested", "cursor": page["next_cursor"]}, headers=admin
    ).json()
    ids = [page["items"][0]["id"], rest["items"][0]["id"]]
    assert rest["next_cursor"] is None
    transfers = client.get(base, params={"kind": "transfer", "store_id": "S1"}, headers=admin).json()["items"]
    assert [(t["sku"], D(t["quantity"]), t["store_code"]) for t in transfers] == [("P1", D(72), "S1")]

    bad = client.get(base, params={"state": "maybe"}, headers=admin)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "state" in bad.text
    level = client.post(f"{base}/runs", json={"service_level": "1.5"}, headers=admin)
    assert level.status_code == 422 and "service_level" in level.text

    dismissed = client.post(f"{base}/{ids[0]}/dismiss", headers=admin)
    assert dismissed.status_code == 200 and dismissed.json()["state"] == "dismissed"
    refused = client.post(f"{base}/accept", json={"ids": ids}, headers=admin)
    assert refused.status_code == 409, refused.text
    assert buyer.count(ReplenishmentSuggestion, state="accepted") == 0

    accepted = client.post(f"{base}/{ids[1]}/accept", headers=admin)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["items"][0]["state"] == "accepted"
    again = client.post(f"{base}/{ids[1]}/accept", headers=admin)
    assert again.status_code == 409
    missing = client.post(f"{base}/{uuid.uuid4()}/accept", headers=admin)
    assert missing.status_code == 404


def test_the_api_and_the_cli_take_the_run_interval_the_store_review_and_abc_levels(
    buyer, client, admin, monkeypatch
):
    _, estimator = _stocked(buyer)
    monkeypatch.setitem(rp.ESTIMATORS, "known", estimator)
    base = "/api/v1/replenishment/suggestions"
    body = {"as_of": str(DAY), "estimator": "known", "run_every_days": 1, "store_review_days": 3}

    run = client.post(f"{base}/runs", json=body, headers=admin)
    assert run.status_code == 201, run.text
    (transfer,) = run.json()["items"]
    # As in the service's test: L 1 + r 1 at mean 10 is 20, up to 10 x (1 + 3) = 40.
    assert (transfer["kind"], D(transfer["reorder_point"]), D(transfer["order_up_to"])) == (
        "transfer",
        20,
        40,
    )

    with_classes = {**body, "class_service_levels": {"A": "0.999", "C": "0.9"}}
    assert client.post(f"{base}/runs", json=with_classes, headers=admin).status_code == 201
    for bad, field in (
        ({"class_service_levels": {"A": "1.5"}}, "class_service_levels"),
        ({"class_service_levels": {"D": "0.9"}}, "class_service_levels"),
        ({"run_every_days": -1}, "run_every_days"),
        ({"store_review_days": 0}, "store_review_days"),
    ):
        refused = client.post(f"{base}/runs", json={**body, **bad}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"].startswith(field)

    cli = CliRunner()
    options = ["--company", "ACME", "--as-of", str(DAY), "--estimator", "known", "-q", "-o", "json"]
    daily = cli.invoke(
        app,
        [
            "replenish",
            "suggest",
            *options,
            "--run-every-days",
            "1",
            "--store-review-days",
            "3",
            "--abc",
            "0.995,0.99,0.95",
        ],
    )
    assert daily.exit_code == 0, daily.output
    (row,) = json.loads(daily.stdout)
    assert (row["kind"], D(row["reorder_point"]), D(row["order_up_to"])) == ("transfer", 20, 40)
    assert cli.invoke(app, ["replenish", "suggest", *options, "--abc", "0.99,0.95"]).exit_code == 2
    assert cli.invoke(app, ["replenish", "suggest", *options, "--abc", "0.99,1.2,0.9"]).exit_code == 2


# -- CLI -------------------------------------------------------------------------------------------------


def test_the_cli_suggests_with_a_table_and_accepts_by_id_or_all(buyer, monkeypatch):
    _, estimator = _stocked(buyer)
    monkeypatch.setitem(rp.ESTIMATORS, "known", estimator)
    cli = CliRunner()

    suggested = cli.invoke(
        app, ["replenish", "suggest", "--company", "ACME", "--as-of", str(DAY), "--estimator", "known", "-q"]
    )
    assert suggested.exit_code == 0, suggested.output
    assert "P1" in suggested.stdout and "transfer" in suggested.stdout

    assert cli.invoke(app, ["replenish", "suggest", "--service-level", "95"]).exit_code == 2
    assert cli.invoke(app, ["replenish", "accept", "not-an-id"]).exit_code == 2
    assert cli.invoke(app, ["replenish", "accept"]).exit_code == 2
    unknown = cli.invoke(app, ["replenish", "accept", str(uuid.uuid4()), "--company", "ACME"])
    assert unknown.exit_code == 1

    accepted = cli.invoke(app, ["replenish", "accept", "--all", "--company", "ACME", "-o", "json"])
    assert accepted.exit_code == 0, accepted.output
    assert {row["kind"] for row in json.loads(accepted.stdout)} == {"purchase", "transfer"}
    assert buyer.count(ReplenishmentSuggestion, state="accepted") == 2


# -- the simulator ---------------------------------------------------------------------------------------


def test_the_simulator_with_the_forecast_policy_trades_and_counts_lost_sales(runtime):
    profile = replace(PROFILE, replenishment="forecast", forecast_warmup_days=2, campaigns=False)
    options = Options(company="FC", stores=2, days=3, seed=3, start=dt.date(2026, 3, 2), scale=D("0.3"))

    summary = simulate(runtime.session_factory, options, profile=profile)

    assert summary is not None
    figures = summary["replenishment"]
    assert D(figures["average_inventory_value"]) > 0
    store = figures["lost_sales"]["store"]
    assert store["demand_lines"] > 0
    assert D(store["lost_value"]) >= 0 and store["stockout_lines"] <= store["demand_lines"]
    assert summary["stock_agrees_with_ledger"] is True
    with runtime.session_factory() as session:
        decided = session.scalar(select(func.count()).where(ReplenishmentSuggestion.state == "accepted"))
        forecast_runs = session.scalar(select(func.count()).select_from(ForecastRun))
        models = set(session.scalars(select(ReplenishmentSuggestion.model)))
    assert decided > 0
    assert forecast_runs == 1  # made on the first day of the policy; the next is a week later
    assert models - {None} and "trailing_mean" not in models  # the forecaster's models, not the baseline
