"""The simulator's web channel through the Shopify webhook endpoint (``--web-via shopify``): signed
deliveries, some repeated, some duplicated under a new webhook id, some out of order; every Shopify
order lands exactly once, and the books and stock stay whole. Both backends."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.connectors.tables import ConnectorLink, SyncMessage
from retailcore.entrypoints.cli.main import app
from retailcore.orders import tables as ot
from retailcore.simulation import Options, simulate
from retailcore.simulation.shopify import ShopifyWeb, Webhook

TINY = Options(stores=2, days=4, seed=3, start=dt.date(2026, 3, 2), scale=Decimal("0.5"))


@pytest.fixture
def key(runtime, monkeypatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setattr(runtime.settings, "connector_key", value)
    monkeypatch.setenv("RETAILCORE_CONNECTOR_KEY", value)
    return value


def test_every_shopify_order_lands_once_through_the_webhook_endpoint(runtime, client, key):
    answers: list[dict] = []

    def send(webhook: Webhook) -> int:
        response = client.post(webhook.path, content=webhook.body, headers=webhook.headers)
        answers.append(response.json())
        return response.status_code

    shopify = ShopifyWeb(
        send=send, connector_key=key, repeat_percent=30, duplicate_create_percent=30, out_of_order_percent=40
    )

    summary = simulate(runtime.session_factory, TINY, shopify=shopify)

    assert summary is not None
    shop = summary["shopify"]
    assert shop["shopify_orders"] >= 5
    assert shop["answers_not_200"] == 0
    assert shop["webhooks_sent"] == len(answers)
    # The deliveries the shop repeated were each stored once and counted, and answered as duplicates.
    assert shop["deliveries_repeated"] >= 1
    assert shop["duplicate_deliveries_counted"] == shop["deliveries_repeated"]
    assert sum(answer["duplicate"] for answer in answers) == shop["deliveries_repeated"]
    # orders/create again under a new webhook id, or after its orders/paid (which landed the order):
    # processed as a duplicate, placing nothing.
    assert shop["orders_created_twice"] >= 1
    assert shop["paid_before_create"] >= 1
    assert shop["duplicate_orders_counted"] == shop["orders_created_twice"] + shop["paid_before_create"]
    assert shop["messages"] == {"processed": shop["webhooks_sent"] - shop["deliveries_repeated"]}
    assert shop["orders_landed"] == shop["shopify_orders"]
    assert shop["every_order_landed_once"] is True
    assert summary["orders"]["web shopify"] == shop["shopify_orders"]
    assert summary["trial_balance_balanced"] is True
    assert summary["stock_agrees_with_ledger"] is True
    with runtime.session_factory() as session:
        links = session.scalar(select(func.count()).where(ConnectorLink.kind == "order"))
        paid = session.scalar(
            select(func.count(func.distinct(ot.OrderPaymentRow.order_id))).where(
                ot.OrderPaymentRow.gateway == "shopify"
            )
        )
        failed = session.scalar(select(func.count()).where(SyncMessage.status != "processed"))
    assert links == paid == shop["shopify_orders"]
    assert failed == 0


def test_the_cli_serves_the_endpoint_and_reports_what_landed(runtime, key):
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            *("--stores", "2", "--days", "3", "--scale", "0.5", "--start", "2026-03-02"),
            *("--web-via", "shopify", "--json"),
        ],
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["shopify"]["shopify_orders"] >= 1
    assert summary["shopify"]["answers_not_200"] == 0
    assert summary["shopify"]["every_order_landed_once"] is True
    assert summary["trial_balance_balanced"] is True


def test_without_a_connector_key_the_shopify_run_is_refused(runtime, monkeypatch):
    monkeypatch.setattr(runtime.settings, "connector_key", None)
    monkeypatch.delenv("RETAILCORE_CONNECTOR_KEY", raising=False)
    result = CliRunner().invoke(
        app, ["simulate", "--stores", "1", "--days", "1", "--start", "2026-03-02", "--web-via", "shopify"]
    )

    assert result.exit_code == 1
    assert "RETAILCORE_CONNECTOR_KEY" in result.stderr
