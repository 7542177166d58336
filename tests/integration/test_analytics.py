"""The KPI read models against a recomputation from the raw rows, on a small simulated world: POS sales
by store-local day, deliveries of the other channels, returns, cycle counts; the incremental feed equals
a rebuild; the ``/kpis`` API answers the same numbers, filtered and scoped, and refuses bad input."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retailcore.adapters.db import transaction
from retailcore.analytics import feed
from retailcore.analytics.queries import percent
from retailcore.analytics.tables import NO_STORE, DailyBaskets, DailyCounts, DailyReturns, DailySales
from retailcore.core.currencies import round_to_currency
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app as cli
from retailcore.inventory.tables import StockMove
from retailcore.inventory.transfer_tables import CountLine, CountSheet
from retailcore.masterdata.tables import Company, Store
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.returns.tables import ReturnLineRow
from retailcore.simulation import Options, simulate

ZERO = Decimal(0)
START = dt.date(2026, 3, 2)
DAYS = 8
OPTIONS = Options(company="KPI", stores=2, days=DAYS, seed=11, start=START, scale=Decimal("0.5"))


@pytest.fixture
def world(runtime: Runtime) -> uuid.UUID:
    assert simulate(runtime.session_factory, OPTIONS) is not None
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "KPI"))
    assert company_id is not None
    return company_id


def _snapshot(session: Session, company_id: uuid.UUID) -> dict[str, list[tuple]]:
    found = {}
    for table in (DailySales, DailyBaskets, DailyReturns, DailyCounts):
        columns = [column for column in table.__table__.columns if column.name != "company_id"]
        rows = session.execute(select(*columns).where(table.company_id == company_id)).all()
        found[table.__tablename__] = sorted(tuple(row) for row in rows)
    return found


def _zones(session: Session) -> dict[uuid.UUID, ZoneInfo]:
    zones = {store_id: ZoneInfo(name) for store_id, name in session.execute(select(Store.id, Store.timezone))}
    zones[NO_STORE] = ZoneInfo("UTC")
    return zones


def _expected_sales(session: Session, company_id: uuid.UUID) -> dict[tuple, list[Decimal]]:
    """From the order lines: POS per (local day, store, category); other channels per (channel,
    category) over the whole period: the delivered share of net, the lines' cost, delivered units."""
    zones = _zones(session)
    expected: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, ZERO])
    for order, line in session.execute(
        select(OrderRow, OrderLineRow)
        .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
        .where(OrderRow.company_id == company_id)
    ):
        if order.fulfillment_mode == "carry_out":
            store = order.store_id or NO_STORE
            day = order.ordered_at.astimezone(zones[store]).date()
            key: tuple = ("pos", day, store, line.product_category)
            share, units = line.net, line.quantity
            discount = line.discount
            listed = round_to_currency(line.unit_price * line.quantity, order.currency)
        else:
            if not line.fulfilled_quantity:
                continue
            key = ("delivered", order.channel, line.product_category)
            fraction = line.fulfilled_quantity / line.quantity
            share = round_to_currency(line.net * fraction, order.currency)
            discount = round_to_currency(line.discount * fraction, order.currency)
            listed = round_to_currency(
                round_to_currency(line.unit_price * line.quantity, order.currency) * fraction, order.currency
            )
            units = line.fulfilled_quantity
        sums = expected[key]
        sums[0] += share
        sums[1] += line.cost
        sums[2] += discount
        sums[3] += units
        sums[4] += listed
    return expected


def _read_sales(session: Session, company_id: uuid.UUID) -> dict[tuple, list[Decimal]]:
    found: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, ZERO])
    for row in session.scalars(select(DailySales).where(DailySales.company_id == company_id)):
        key = (
            ("pos", row.day, row.store_id, row.category)
            if row.channel == "pos"
            else ("delivered", row.channel, row.category)
        )
        sums = found[key]
        sums[0] += row.net
        sums[1] += row.cost
        sums[2] += row.discount
        sums[3] += row.units
        sums[4] += row.list_amount
    return found


def test_read_models_equal_a_recomputation_from_the_raw_rows(runtime: Runtime, world: uuid.UUID) -> None:
    with runtime.session_factory() as session:
        expected = _expected_sales(session, world)
        found = _read_sales(session, world)
        assert any(key[0] == "pos" for key in expected)
        assert any(key[:2] == ("delivered", "web") for key in expected)
        assert {k: v for k, v in found.items() if any(v)} == {k: v for k, v in expected.items() if any(v)}

        # Baskets: every POS order that sold goods is one basket, every delivered order one.
        pos_orders = session.scalars(
            select(OrderRow.id).where(OrderRow.company_id == world, OrderRow.channel == "pos")
        ).all()
        with_lines = set(
            session.scalars(select(OrderLineRow.order_id).where(OrderLineRow.order_id.in_(pos_orders)))
        )
        delivered = set(
            session.scalars(
                select(OrderRow.id)
                .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
                .where(
                    OrderRow.company_id == world,
                    OrderRow.channel != "pos",
                    OrderLineRow.fulfilled_quantity > ZERO,
                )
            )
        )
        baskets = defaultdict(int)
        for row in session.scalars(select(DailyBaskets).where(DailyBaskets.company_id == world)):
            baskets[row.channel == "pos"] += row.baskets
        assert baskets[True] == len(with_lines)
        assert baskets[False] == len(delivered)

        # Returns: refunded value and units per channel, reason and category.
        expected_returns: dict[tuple, list[Any]] = defaultdict(lambda: [ZERO, ZERO])
        for line in session.scalars(
            select(ReturnLineRow).where(
                ReturnLineRow.company_id == world, ReturnLineRow.refunded_quantity > ZERO
            )
        ):
            sums = expected_returns[(line.channel, line.reason, line.product_category)]
            sums[0] += line.refunded_net
            sums[1] += line.refunded_quantity
        found_returns: dict[tuple, list[Any]] = defaultdict(lambda: [ZERO, ZERO])
        for row in session.scalars(select(DailyReturns).where(DailyReturns.company_id == world)):
            sums = found_returns[(row.channel, row.reason, row.category)]
            sums[0] += row.net
            sums[1] += row.units
        assert expected_returns, "the world should have refunded returns"
        assert found_returns == expected_returns

        # Counts: approved sheets, counted and exact lines, and the value lost per store.
        sheets = session.scalars(
            select(CountSheet).where(CountSheet.company_id == world, CountSheet.state == "approved")
        ).all()
        expected_counts: dict[uuid.UUID, list[Any]] = defaultdict(lambda: [0, 0, 0, ZERO])
        for sheet in sheets:
            sums = expected_counts[sheet.store_id]
            sums[0] += 1
            for line in session.scalars(select(CountLine).where(CountLine.sheet_id == sheet.id)):
                if line.counted_quantity is not None:
                    sums[1] += 1
                    sums[2] += 1 if line.difference == 0 else 0
            sums[3] += sum(
                session.scalars(
                    select(StockMove.value).where(
                        StockMove.company_id == world,
                        StockMove.kind == "count_loss",
                        StockMove.reference == sheet.number,
                    )
                ),
                ZERO,
            )
        found_counts: dict[uuid.UUID, list[Any]] = defaultdict(lambda: [0, 0, 0, ZERO])
        for row in session.scalars(select(DailyCounts).where(DailyCounts.company_id == world)):
            sums = found_counts[row.store_id]
            sums[0] += row.sheets
            sums[1] += row.lines_counted
            sums[2] += row.lines_exact
            sums[3] += row.loss_value
        assert found_counts == expected_counts


def test_incremental_equals_rebuild_and_the_cli_rebuilds(runtime: Runtime, world: uuid.UUID) -> None:
    with runtime.session_factory() as session:
        incremental = _snapshot(session, world)
    assert incremental["analytics_daily_sales"]
    with transaction(runtime.session_factory) as session:
        feed.rebuild(session, world)
    with runtime.session_factory() as session:
        assert _snapshot(session, world) == incremental
    with transaction(runtime.session_factory) as session:
        session.execute(DailySales.__table__.delete())  # as after an upgrade: empty read models
    result = CliRunner().invoke(cli, ["analytics", "rebuild", "--company", "KPI", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "KPI: rebuilt from" in result.output
    with runtime.session_factory() as session:
        assert _snapshot(session, world) == incremental


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def test_the_api_answers_the_read_models_figures(
    runtime: Runtime, world: uuid.UUID, client: TestClient, auth: Any
) -> None:
    headers = auth("admin")
    period = {
        "company_id": "KPI",
        "date_from": START.isoformat(),
        "date_to": (START + dt.timedelta(DAYS)).isoformat(),
    }
    with runtime.session_factory() as session:
        expected = _expected_sales(session, world)
        stores = dict(session.execute(select(Store.code, Store.id).where(Store.company_id == world)).all())
    by_channel: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for key, (net, cost, *_) in expected.items():
        channel = key[0] if key[0] == "pos" else key[1]
        by_channel[channel][0] += net
        by_channel[channel][1] += cost

    answer = client.get("/api/v1/kpis/sales", params={**period, "group_by": "channel"}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rows = {row["group"]: row for row in body["rows"]}
    for channel, (net, cost) in by_channel.items():
        if not net and not cost:
            continue
        assert Decimal(rows[channel]["net_sales"]) == net
        assert Decimal(rows[channel]["gross_margin"]) == net - cost
        assert _money(rows[channel]["margin_percent"]) == percent(net - cost, net)
    total = sum((net for net, _ in by_channel.values()), ZERO)
    assert Decimal(body["totals"]["net_sales"]) == total
    assert body["previous"]["date_to"] == (START - dt.timedelta(days=1)).isoformat()
    assert Decimal(body["previous"]["totals"]["net_sales"]) == 0

    # CSV: the same rows.
    csv = client.get(
        "/api/v1/kpis/sales", params={**period, "group_by": "channel", "format": "csv"}, headers=headers
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("net_sales,")
    assert len(csv.text.splitlines()) == len(body["rows"]) + 1

    # One store, the POS channel: the store's POS lines only; a token scoped to the store sees the same.
    code, store_id = sorted(stores.items())[0]
    pos_store = sum((v[0] for k, v in expected.items() if k[0] == "pos" and k[2] == store_id), ZERO)
    one = client.get(
        "/api/v1/kpis/sales", params={**period, "store": code, "channel": "pos"}, headers=headers
    ).json()
    assert Decimal(one["totals"]["net_sales"]) == pos_store
    scoped = auth("store_manager", company="KPI", store=code)
    mine = client.get("/api/v1/kpis/sales", params={**period, "channel": "pos"}, headers=scoped).json()
    assert mine["totals"] == one["totals"]
    other = sorted(stores)[1]
    refused = client.get("/api/v1/kpis/sales", params={**period, "store": other}, headers=scoped)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "store"

    for path in ("returns", "basket", "sell-through", "stock-accuracy", "shrinkage", "exceptions"):
        answer = client.get(f"/api/v1/kpis/{path}", params={"company_id": "KPI"}, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        as_csv = client.get(
            f"/api/v1/kpis/{path}", params={"company_id": "KPI", "format": "csv"}, headers=headers
        )
        assert as_csv.status_code == 200, (path, as_csv.text)

    returns = client.get(
        "/api/v1/kpis/returns", params={**period, "group_by": "channel"}, headers=headers
    ).json()
    for row in returns["rows"]:
        sold = Decimal(row["net_sales"])
        assert _money(row["return_rate_value_percent"]) == percent(Decimal(row["returned_net"]), sold)


def test_bad_input_is_refused_naming_the_field(
    client: TestClient, company: dict[str, Any], admin: Any
) -> None:
    unknown = client.get("/api/v1/kpis/sales", params={"store": "NOPE"}, headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "store"
    backwards = client.get(
        "/api/v1/kpis/sales", params={"date_from": "2026-03-10", "date_to": "2026-03-01"}, headers=admin
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "date_from"
    channel = client.get("/api/v1/kpis/sales", params={"channel": "fax"}, headers=admin)
    assert channel.status_code == 422
    empty = client.get(
        "/api/v1/kpis/sales", params={"date_from": "2026-03-01", "date_to": "2026-03-01"}, headers=admin
    )
    assert empty.status_code == 200
    assert empty.json()["totals"]["margin_percent"] is None


def test_cashiers_may_not_read_kpis(client: TestClient, company: dict[str, Any], auth: Any) -> None:
    assert client.get("/api/v1/kpis/sales", headers=auth("cashier", company="ACME")).status_code == 403
