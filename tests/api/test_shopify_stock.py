"""Stock out to Shopify and the orders catch-up, against the local contract server
(tests/contract/shopify_server.py: Shopify's documented Admin API, with its cost bucket), on a simulated
clock: the throttle's waits move the clock, never the test's time.

SHOP (from test_shopify_webhooks) sells from warehouse W1, mapped to Shopify location 1; each product is
received 5 at a time there.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal

import httpx
import pytest
from apitools import API
from sqlalchemy import func, select
from test_shopify_webhooks import EXAMPLE_SKUS, example_order, shop  # noqa: F401 (the fixture)
from typer.testing import CliRunner

from contract.shopify_server import Clock, FakeShopify, served
from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.connectors import services as connectors
from retailcore.connectors import shopify_catchup, shopify_stock, vault
from retailcore.connectors.sync_tables import ConnectorItem
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.entrypoints import sweeps
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location
from retailcore.orders import tables as ot

runner = CliRunner(env={"COLUMNS": "200"})
TOKEN = "shpat_test"
LOCATION = "gid://shopify/Location/1"


class Harness:
    def __init__(self, shop, runtime, server: FakeShopify, clock: Clock) -> None:  # noqa: F811
        self.shop = shop
        self.runtime = runtime
        self.server = server
        self.clock = clock
        self.connector_id = uuid.UUID(shop.connector["id"])
        self.key = runtime.settings.connector_key

    def options(self) -> dict:
        return {
            "transport": httpx.MockTransport(self.server.handle),
            "clock": self.clock,
            "sleep": self.clock.sleep,
        }

    def settings(self, **changes) -> None:
        with transaction(self.runtime.session_factory) as session:
            row = session.get(Connector, self.connector_id)
            row.settings = {**row.settings, **changes}

    def push(self, full: bool = False) -> shopify_stock.StockPushReport:
        return shopify_stock.push_stock(
            self.runtime.session_factory, self.connector_id, self.key, full=full, api_options=self.options()
        )

    def catch_up(self, full: bool = False) -> shopify_catchup.CatchUpReport:
        return shopify_catchup.catch_up(
            self.runtime.session_factory, self.connector_id, self.key, full=full, api_options=self.options()
        )

    def product(self, sku: str, number: int, stock: int = 5, in_shopify: bool = True) -> str:
        product = self.shop.product(sku, stock)
        if in_shopify:
            self.server.add_variant(sku, number, [LOCATION], available=0)
        return product

    def receive(self, sku: str, quantity: int) -> None:
        with transaction(self.runtime.session_factory) as session:
            company = session.get(Company, uuid.UUID(self.shop.company_id))
            locations = dict(
                session.execute(
                    select(Location.kind, Location.id).where(
                        Location.company_id == company.id, Location.kind.in_(("supplier", "stock"))
                    )
                ).all()
            )
            move_stock(
                session,
                CommandContext(system_principal()),
                company,
                kind="receipt",
                lines=[
                    MoveLine(
                        uuid.UUID(self.shop.products[sku]),
                        Decimal(quantity),
                        locations["supplier"],
                        locations["stock"],
                        Decimal(100),
                    )
                ],
                date=dt.date(2026, 3, 2),
            )

    def outbound(self) -> list[dict]:
        return self.shop.log(topic=shopify_stock.TOPIC)


@pytest.fixture
def shopify(shop, runtime, client, admin):  # noqa: F811 (the fixture imported above)
    clock = Clock()
    server = FakeShopify(token=TOKEN, clock=clock)
    server.add_location(1)
    settings = {**shop.connector["settings"], "locations": {"1": "W1"}, "admin_api_url": "http://shop.test"}
    answer = client.patch(
        f"{API}/connectors/{shop.connector['id']}",
        json={"access_token": TOKEN, "settings": settings},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["has_access_token"] is True and TOKEN not in answer.text
    harness = Harness(shop, runtime, server, clock)
    yield harness
    shopify_stock.configure(None)


# -- stock out ----------------------------------------------------------------------------------------


def test_a_full_push_under_throttling_waits_retries_once_and_sets_our_availability(shopify):
    server, clock = shopify.server, shopify.clock
    server.bucket_size, server.restore_rate = 100.0, 10.0
    server.available = 100.0
    skus = [f"P{n:03d}" for n in range(1, 13)]
    for n, sku in enumerate(skus, start=1):
        shopify.product(sku, n, stock=5)
    shopify.product("NOT-IN-SHOPIFY", 99)  # no variant in the shop: never pushed
    server.variants.pop("NOT-IN-SHOPIFY")
    shopify.settings(stock_batch_size=2)
    server.drain(95)  # another client of the app left 5 points: our first call is THROTTLED

    report = shopify.push()

    assert report.full and report.failed == 0
    assert report.linked == 12 and report.batches == 6 and report.sent == 12
    assert {sku: server.level(sku, LOCATION) for sku in skus} == {sku: 5 for sku in skus}
    # Only the first call, made before we knew the bucket, was refused: from then on we waited first.
    assert server.throttled == 1 and report.throttled == 1
    assert clock.slept and report.waited_seconds > 0
    assert sum(cost for _, cost in server.spent) + 95 <= server.allowance()
    assert all(len(m["quantities"]) <= 2 for m in server.mutations)
    log = shopify.outbound()
    assert [m["status"] for m in log] == ["processed"] * 6
    assert {m["direction"] for m in log} == {"outbound"}
    # The first push of a SKU compares nothing (null); Shopify was told the reason and where it came from.
    first = server.mutations[0]
    assert first["name"] == "available" and first["reason"] == "correction"
    assert first["referenceDocumentUri"].startswith("gid://retailcore/StockPush/")
    assert first["quantities"][0]["changeFromQuantity"] is None


def test_a_sale_pushes_only_what_it_changed_comparing_with_what_we_set(shopify):
    for n, sku in enumerate(EXAMPLE_SKUS, start=1):
        shopify.product(sku, n)
    shopify.product("OTHER", 9)
    shopify.push()
    before = len(shopify.server.mutations)

    shopify.shop.ok("orders/create", example_order())  # a web order reserves one of each iPod
    report = shopify.push()

    assert not report.full and report.sent == 3 and report.failed == 0
    (mutation,) = shopify.server.mutations[before:]
    assert sorted((q["quantity"], q["changeFromQuantity"]) for q in mutation["quantities"]) == [(4, 5)] * 3
    assert {sku: shopify.server.level(sku, LOCATION) for sku in EXAMPLE_SKUS} == {
        sku: 4 for sku in EXAMPLE_SKUS
    }
    assert shopify.server.level("OTHER", LOCATION) == 5
    # Nothing changed since: nothing is sent.
    again = shopify.push()
    assert again.sent == 0 and again.batches == 0
    assert len(shopify.server.mutations) == before + 1


def test_a_quantity_shopify_changed_behind_our_back_is_flagged_and_set_to_ours(shopify):
    shopify.product("P001", 1)
    shopify.product("P002", 2)
    shopify.push()
    item = shopify.server.variants["P001"]
    shopify.server.levels[(item, LOCATION)] = 3  # sold twice in Shopify; those orders never reached us

    shopify.receive("P001", 2)
    shopify.receive("P002", 1)
    report = shopify.push()

    assert report.mismatches == 1 and report.failed == 0
    assert shopify.server.level("P001", LOCATION) == 7
    assert shopify.server.level("P002", LOCATION) == 6
    message = shopify.outbound()[-1]
    assert message["status"] == "processed"
    (flag,) = message["flags"]
    assert flag == {
        "kind": "stock-mismatch",
        "sku": "P001",
        "store": "W1",
        "location": LOCATION,
        "inventory_item": item,
        "shopify_quantity": 3,
        "last_set": 5,
        "ours": 7,
    }


def test_an_item_not_stocked_at_the_location_is_left_out_and_flagged(shopify):
    shopify.product("P001", 1)
    shopify.product("P002", 2)
    del shopify.server.levels[(shopify.server.variants["P002"], LOCATION)]

    report = shopify.push()

    assert report.sent == 1 and report.refused == 1 and report.failed == 0
    assert shopify.server.level("P001", LOCATION) == 5
    (flag,) = shopify.outbound()[-1]["flags"]
    assert (flag["kind"], flag["code"], flag["sku"]) == (
        "stock-push-refused",
        "ITEM_NOT_STOCKED_AT_LOCATION",
        "P002",
    )


def test_a_batch_that_cannot_reach_the_shop_fails_and_the_sweep_sends_it_again(shopify, runtime):
    shopify.product("P001", 1)
    shopify.push()  # links P001, sets 5
    shopify.receive("P001", 1)
    down = httpx.MockTransport(lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")))
    report = shopify_stock.push_stock(
        runtime.session_factory,
        shopify.connector_id,
        shopify.key,
        api_options={"transport": down, "clock": shopify.clock, "sleep": shopify.clock.sleep},
    )
    assert report.failed == 1 and report.sent == 0
    (message,) = [m for m in shopify.outbound() if m["status"] != "processed"]
    assert message["status"] == "failed" and message["error"].startswith("shopify-unreachable")
    assert shopify.server.level("P001", LOCATION) == 5

    # The sweep retries it when its backoff has run out, with the quantity of that moment.
    shopify.receive("P001", 1)
    shopify_stock.configure(shopify.key, shopify.options())
    later = utcnow() + dt.timedelta(hours=1)
    with transaction(runtime.session_factory) as session:
        assert connectors.retry_due(session, later) == 1
    assert shopify.shop.message(message["id"])["status"] == "processed"
    assert shopify.server.level("P001", LOCATION) == 7


def test_no_access_token_or_no_location_map_is_refused_before_calling_the_shop(shopify, runtime):
    shopify.product("P001", 1)
    shopify.settings(locations={})
    with pytest.raises(Exception) as refused:
        shopify.push()
    assert getattr(refused.value, "code", None) == "no-locations-mapped"
    shopify.settings(locations={"1": "NOPE"})
    with pytest.raises(Exception) as refused:
        shopify.push()
    assert getattr(refused.value, "code", None) == "unknown-store"
    shopify.settings(locations={"1": "W1"})
    with transaction(runtime.session_factory) as session:
        session.get(Connector, shopify.connector_id).access_token = None
    with pytest.raises(Exception) as refused:
        shopify.push()
    assert getattr(refused.value, "code", None) == "access-token-missing"
    assert shopify.server.mutations == [] and shopify.outbound() == []


# -- the orders catch-up -----------------------------------------------------------------------------


def _pulled(order_id: int, minutes: int) -> dict:
    stamp = (utcnow() + dt.timedelta(minutes=minutes)).isoformat()
    return example_order(id=order_id, refunds=[], fulfillments=[], updated_at=stamp, financial_status="paid")


def test_the_catch_up_lands_a_missed_order_once_and_skips_a_known_one(shopify, runtime, monkeypatch):
    for n, sku in enumerate(EXAMPLE_SKUS, start=1):
        shopify.product(sku, n)
    known, missed = _pulled(1001, 1), _pulled(1002, 2)
    shopify.shop.ok("orders/create", known)  # its webhook arrived
    shopify.server.orders = [known, missed]
    monkeypatch.setattr(shopify_catchup, "PAGE_SIZE", 1)  # one order a page: the Link header is followed

    report = shopify.catch_up()

    assert (report.orders, report.landed, report.skipped, report.updated, report.failed) == (2, 1, 1, 0, 0)
    assert report.requests == 2
    assert report.cursor == dt.datetime.fromisoformat(missed["updated_at"]).astimezone(dt.UTC).isoformat()
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ot.OrderRow)) == 2
        (pulled,) = session.scalars(
            select(SyncMessage).where(SyncMessage.webhook_id.like("catch-up:%"))
        ).all()
    assert (pulled.external_id, pulled.topic, pulled.status) == ("1002", "orders/updated", "processed")

    again = shopify.catch_up()  # the cursor is inclusive: the newest order comes again, and is skipped
    assert (again.orders, again.landed, again.skipped, again.updated) == (1, 0, 1, 0)
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ot.OrderRow)) == 2
        assert (
            session.scalar(
                select(func.count()).select_from(SyncMessage).where(SyncMessage.webhook_id.like("catch-up:%"))
            )
            == 1
        )


def test_the_catch_up_repairs_a_cancellation_whose_webhook_never_came(shopify, runtime):
    for n, sku in enumerate(EXAMPLE_SKUS, start=1):
        shopify.product(sku, n)
    order = _pulled(1001, 1)
    shopify.shop.ok("orders/create", order)
    later = (utcnow() + dt.timedelta(minutes=5)).isoformat()
    shopify.server.orders = [
        {**order, "updated_at": later, "cancelled_at": later, "cancel_reason": "customer"}
    ]

    report = shopify.catch_up()

    assert (report.orders, report.landed, report.updated, report.skipped) == (1, 0, 1, 0)
    (ours,) = shopify.shop.orders()
    assert ours["state"] == "cancelled"


def test_an_order_that_fails_is_kept_and_pulled_again_is_a_duplicate_delivery(shopify, runtime):
    shopify.server.orders = [_pulled(1001, 1)]  # its iPods are not products here
    first = shopify.catch_up()
    again = shopify.catch_up()
    assert (first.failed, again.duplicates, again.failed) == (1, 1, 0)
    with runtime.session_factory() as session:
        (message,) = session.scalars(
            select(SyncMessage).where(SyncMessage.webhook_id.like("catch-up:%"))
        ).all()
    assert (message.status, message.duplicate_deliveries) == ("failed", 1)
    assert message.error.startswith("unknown-sku")


def test_a_catch_up_refused_by_the_shop_moves_no_cursor(shopify, runtime):
    shopify.server.token = "another"
    with pytest.raises(Exception) as refused:
        shopify.catch_up()
    assert getattr(refused.value, "code", None) == "shopify-refused"
    with runtime.session_factory() as session:
        assert shopify_catchup.status(session, session.get(Connector, shopify.connector_id))["cursor"] is None


def test_items_are_linked_by_sku_once(shopify, runtime):
    shopify.product("P001", 1)
    shopify.push()
    shopify.push(full=True)
    with runtime.session_factory() as session:
        rows = session.scalars(select(ConnectorItem)).all()
    assert [(r.sku, r.external_id) for r in rows] == [("P001", "gid://shopify/InventoryItem/1")]


# -- over HTTP: the API and the CLI, against the contract server served by uvicorn ------------------


@pytest.fixture
def live(shopify, monkeypatch):
    """The contract server on a port of its own, the connector pointed at it, on the real clock (a
    bucket large enough that nothing waits)."""
    shopify.server.clock = time.monotonic
    shopify.server._at = shopify.server.started_at = time.monotonic()
    shopify.server._rest_at = shopify.server._at
    monkeypatch.setenv("RETAILCORE_CONNECTOR_KEY", shopify.key)
    with served(shopify.server) as url:
        shopify.settings(admin_api_url=url)
        yield shopify


def sync(*args: str):
    return runner.invoke(app, ["connectors", "sync", "shopify", *args])


def test_the_api_pushes_stock_and_pulls_orders_and_shows_where_they_are(live, client, admin):
    live.product("P001", 1)
    connector = f"{API}/connectors/{live.connector_id}"
    answer = client.post(f"{connector}/sync", json={"kind": "stock"}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "stock"
    assert (answer.json()["report"]["sent"], answer.json()["report"]["failed"]) == (1, 0)
    assert live.server.level("P001", LOCATION) == 5

    view = client.get(connector, headers=admin).json()
    assert view["has_access_token"] is True and "access_token" not in view
    assert view["stock_push"]["linked_products"] == 1
    assert view["stock_push"]["pending_events"] == 0 and view["stock_push"]["unsent_batches"] == 0
    assert view["stock_push"]["last_run"]["sent"] == 1

    live.server.orders = [_pulled(2001, 1)]
    pulled = client.post(f"{connector}/sync", json={"kind": "orders"}, headers=admin)
    assert pulled.status_code == 200, pulled.text
    assert pulled.json()["report"]["orders"] == 1 and pulled.json()["report"]["failed"] == 1  # no iPods here
    assert client.get(connector, headers=admin).json()["orders_catch_up"]["cursor"] is not None

    bad = client.post(f"{connector}/sync", json={"kind": "prices"}, headers=admin)
    assert bad.status_code == 422
    live.settings(locations={})
    unmapped = client.post(f"{connector}/sync", json={"kind": "stock"}, headers=admin)
    assert unmapped.status_code == 409 and unmapped.json()["code"] == "no-locations-mapped"


def test_a_connector_is_given_an_access_token_that_is_never_returned(shop, client, admin, runtime):  # noqa: F811
    answer = client.post(
        f"{API}/connectors",
        json={
            "company_id": shop.company_id,
            "kind": "shopify",
            "name": "second.myshopify.com",
            "secret": "s",
            "access_token": "shpat_secret_value",
            "settings": {"locations": {"1": "W1"}, "stock_batch_size": 50, "api_version": "2026-10"},
        },
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["has_access_token"] is True
    assert "shpat_secret_value" not in answer.text
    with runtime.session_factory() as session:
        row = session.get(Connector, uuid.UUID(answer.json()["id"]))
        assert row.access_token and "shpat_secret_value" not in row.access_token
        assert vault.unseal(runtime.settings.connector_key, row.access_token) == "shpat_secret_value"
    refused = client.post(
        f"{API}/connectors",
        json={
            "company_id": shop.company_id,
            "kind": "shopify",
            "name": "third.myshopify.com",
            "secret": "s",
            "settings": {"stock_batch_size": 251, "stock_push": "always"},
        },
        headers=admin,
    )
    assert refused.status_code == 422
    assert {p["field"] for p in refused.json()["errors"]} >= {
        "settings.stock_batch_size",
        "settings.stock_push",
    }


def test_the_cli_syncs_and_exits_non_zero_on_what_failed(live):
    live.product("P001", 1)
    done = sync("--shop", "example.myshopify.com", "--stock")
    assert done.exit_code == 0, done.output
    assert "stock: 1 quantities set in 1 batches" in done.stdout
    assert live.server.level("P001", LOCATION) == 5

    live.server.orders = [_pulled(3001, 1)]  # its iPods are not products here: it fails, and is kept
    failed = sync("--orders")
    assert failed.exit_code == 1
    assert "orders: 1 pulled" in failed.stdout and "1 failed" in failed.stdout
    assert "unknown-sku" in failed.stderr

    assert sync("--shop", "nowhere.myshopify.com").exit_code == 1
    assert sync("--stock", "--orders").exit_code == 1

    live.settings(admin_api_url="http://127.0.0.1:9")  # nothing listens there
    live.receive("P001", 1)
    unreachable = sync("--stock")
    assert unreachable.exit_code == 1  # the batch failed and waits for its retry in the sync log
    assert "shopify-unreachable" in unreachable.stderr


def test_the_sweep_pushes_the_stock_of_a_connector_that_sweeps_it_only_when_it_changed(live, runtime):
    live.product("P001", 1)
    assert sweeps.push_connector_stock(runtime.session_factory, live.key) == 0  # "manual": not swept
    live.settings(stock_push="sweep")
    assert sweeps.push_connector_stock(runtime.session_factory, live.key) == 1
    assert live.server.level("P001", LOCATION) == 5
    with runtime.session_factory() as session:
        assert shopify_stock.due_for_sweep(session) == []
    live.receive("P001", 3)
    assert sweeps.push_connector_stock(runtime.session_factory, live.key) == 1
    assert live.server.level("P001", LOCATION) == 8
