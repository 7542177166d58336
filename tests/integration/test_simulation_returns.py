"""The simulator trades returns, gift cards and store credit through the real services: stock and books
stay whole, return rates follow the profile, cross-channel returns land in the store, one seed gives one
history."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.cli.main import app
from retailcore.entrypoints.settings import Settings
from retailcore.inventory.tables import StockMove, StockQuant
from retailcore.masterdata.tables import Company, Location, Store
from retailcore.orders.tables import OrderLineRow, OrderPaymentRow, OrderRow
from retailcore.payments.tables import GiftCardMovement, StoreCreditMovement
from retailcore.returns.tables import ReturnLineRow, ReturnRow
from retailcore.simulation import PROFILE, Options, simulate
from support import empty_database

START = dt.date(2026, 3, 2)
DAYS = 8
PROFILE_UNDER_TEST = replace(
    PROFILE,
    leaks=False,  # the till refunds without a receipt are not the returns service's (test_simulation_leaks)
    return_percent_by_category=(("Apparel", 40), ("Footwear", 25), ("Food", 2)),
    return_default_percent=10,
    return_delay_days=(1, 2),
    cross_channel_return_percent=60,
    gift_cards_per_store_day=(2, 1),
    gift_card_pos_permille=60,
    gift_card_web_percent=30,
)
OPTIONS = Options(company="RET", stores=2, days=DAYS, seed=7, start=START, scale=Decimal("0.5"))


def _run(runtime: Runtime) -> dict[str, Any]:
    summary = simulate(runtime.session_factory, OPTIONS, profile=PROFILE_UNDER_TEST)
    assert summary is not None
    return summary


def _company(session: Session) -> Any:
    return session.scalar(select(Company.id).where(Company.code == "RET"))


def _returns(session: Session) -> list[tuple[Any, ...]]:
    """Every return as data that does not depend on ids: number, order, channel, store, reason,
    refund and its lines."""
    rows = []
    for row in session.scalars(
        select(ReturnRow).where(ReturnRow.company_id == _company(session)).order_by(ReturnRow.number)
    ):
        store = session.get(Store, row.store_id)
        assert store is not None
        lines = session.execute(
            select(ReturnLineRow.sku, ReturnLineRow.quantity, ReturnLineRow.condition, ReturnLineRow.cost)
            .where(ReturnLineRow.return_id == row.id)
            .order_by(ReturnLineRow.position)
        ).all()
        rows.append(
            (
                row.number,
                row.order_number,
                row.channel,
                store.code,
                row.reason,
                row.status,
                row.refunded_total,
                *(tuple(line) for line in lines),
            )
        )
    return rows


def _stock_is_sum_of_moves(session: Session) -> None:
    company_id = _company(session)
    moved: dict[tuple[Any, Any], Decimal] = {}
    for product, source, target, quantity in session.execute(
        select(
            StockMove.product_id, StockMove.from_location_id, StockMove.to_location_id, StockMove.quantity
        ).where(StockMove.company_id == company_id)
    ):
        moved[(product, target)] = moved.get((product, target), Decimal(0)) + quantity
        moved[(product, source)] = moved.get((product, source), Decimal(0)) - quantity
    quants = session.execute(
        select(StockQuant.product_id, StockQuant.location_id, StockQuant.quantity).where(
            StockQuant.company_id == company_id
        )
    ).all()
    assert quants
    for product, location, quantity in quants:
        assert quantity == moved.get((product, location), Decimal(0))


def _return_rates(session: Session) -> dict[str, tuple[int, int]]:
    """Per top category: POS lines sold early enough for their return to fall in the window, and how
    many of them came back."""
    last_sale_day = START + dt.timedelta(days=DAYS - 1 - PROFILE_UNDER_TEST.return_delay_days[1])
    sold = session.execute(
        select(OrderLineRow.id, OrderLineRow.product_category)
        .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
        .where(
            OrderRow.company_id == _company(session),
            OrderRow.channel == "pos",
            OrderRow.ordered_at
            < dt.datetime.combine(last_sale_day + dt.timedelta(days=1), dt.time(), dt.UTC),
        )
    ).all()
    returned = set(session.scalars(select(ReturnLineRow.order_line_id).where(ReturnLineRow.channel == "pos")))
    rates: dict[str, tuple[int, int]] = {}
    for line_id, category in sold:
        top = category.split("/")[0]
        count, back = rates.get(top, (0, 0))
        rates[top] = (count + 1, back + (line_id in returned))
    return rates


def test_a_month_with_returns_and_gift_cards_keeps_stock_and_books_whole(runtime: Runtime) -> None:
    summary = _run(runtime)

    assert summary["stock_agrees_with_ledger"] is True
    assert summary["trial_balance_balanced"] is True
    assert summary["refused"].get("return", 0) == 0
    returns = summary["returns"]
    assert returns["count"] >= 50
    assert Decimal(returns["units"]) >= returns["count"]
    assert Decimal(returns["refunds_total"]) > 0
    assert returns["cross_channel"] >= 1
    assert returns["to_store_credit"] >= 1
    assert returns["resaleable"] > returns["damaged"] > 0
    gift = summary["gift_cards"]
    assert gift["sold"] == 2 * OPTIONS.stores * DAYS // 2  # 2 a store a day at scale 0.5
    assert Decimal("0") < Decimal(gift["redeemed_amount"]) <= Decimal(gift["sold_amount"])
    assert Decimal(summary["store_credit"]["issued"]) > 0
    assert Decimal(summary["store_credit"]["spent"]) > 0

    with runtime.session_factory() as session:
        company_id = _company(session)
        _stock_is_sum_of_moves(session)
        # Every return went the whole way through the service: received, refunded, its amount in the total.
        statuses = session.execute(
            select(ReturnRow.status, func.count(), func.sum(ReturnRow.refunded_total))
            .where(ReturnRow.company_id == company_id)
            .group_by(ReturnRow.status)
        ).all()
        assert [(status, count) for status, count, _ in statuses] == [("refunded", returns["count"])]
        assert sum(total for _, _, total in statuses) == Decimal(returns["refunds_total"])
        units = session.scalar(
            select(func.sum(ReturnLineRow.quantity)).where(ReturnLineRow.company_id == company_id)
        )
        assert units == Decimal(returns["units"])
        # Gift cards and store credit: the balances moved as the summary says.
        by_kind = dict(
            session.execute(
                select(GiftCardMovement.kind, func.sum(GiftCardMovement.amount))
                .where(GiftCardMovement.company_id == company_id)
                .group_by(GiftCardMovement.kind)
            ).all()
        )
        assert by_kind["issue"] == Decimal(gift["sold_amount"])
        assert -by_kind["redeem"] == Decimal(gift["redeemed_amount"])
        credit = dict(
            session.execute(
                select(StoreCreditMovement.kind, func.sum(StoreCreditMovement.amount))
                .where(StoreCreditMovement.company_id == company_id)
                .group_by(StoreCreditMovement.kind)
            ).all()
        )
        assert credit["issue"] == Decimal(summary["store_credit"]["issued"])
        assert -credit["spend"] == Decimal(summary["store_credit"]["spent"])

        # Return rates per category, over the POS lines sold early enough: within three standard
        # deviations (of a binomial draw of that many lines) plus a point of what the profile says.
        rates = _return_rates(session)
        for category, percent in (("Apparel", 40), ("Footwear", 25), ("Food", 2), ("Home", 10)):
            count, back = rates[category]
            assert count >= 25, (category, count)
            spread = 3 * (Decimal(percent * (100 - percent)) / count).sqrt() + 1
            assert abs(Decimal(back * 100) / count - percent) <= spread, (category, back, count)
        apparel, food = rates["Apparel"], rates["Food"]
        assert apparel[1] / apparel[0] > food[1] / food[0]

        # A web order returned in a store: the goods land in that store, the money goes back to the web card.
        cross = session.scalars(
            select(ReturnRow)
            .join(Store, Store.id == ReturnRow.store_id)
            .where(ReturnRow.company_id == company_id, ReturnRow.channel == "web", Store.kind == "store")
        ).all()
        assert len(cross) == returns["cross_channel"]
        to_card = 0
        for row in cross:
            for target, quantity, kind in session.execute(
                select(StockMove.to_location_id, StockMove.quantity, StockMove.kind).where(
                    StockMove.company_id == company_id, StockMove.reference == row.number
                )
            ):
                assert kind == "customer_return"
                location = session.get(Location, target)
                assert location is not None and location.store_id == row.store_id
                assert quantity > 0
            refunded = session.scalar(
                select(func.sum(OrderPaymentRow.refunded)).where(
                    OrderPaymentRow.order_id == row.order_id,
                    OrderPaymentRow.kind == "card",
                    OrderPaymentRow.gateway == "stripe",
                )
            )
            to_card += bool(refunded)
        assert to_card >= 1
        # POS returns came back to the store that sold them.
        pos_elsewhere = session.scalar(
            select(func.count())
            .select_from(ReturnRow)
            .join(OrderRow, OrderRow.id == ReturnRow.order_id)
            .where(
                ReturnRow.company_id == company_id,
                ReturnRow.channel == "pos",
                OrderRow.store_id != ReturnRow.store_id,
            )
        )
        assert pos_elsewhere == 0


def test_one_seed_gives_the_same_returns_on_a_fresh_database(runtime: Runtime, tmp_path: Path) -> None:
    first = _run(runtime)
    with runtime.session_factory() as session:
        first_returns = _returns(session)
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        other = bootstrap(Settings(database_url=url, sweep_interval_seconds=0))
        try:
            again = _run(other)
            with other.session_factory() as session:
                again_returns = _returns(session)
        finally:
            other.engine.dispose()
    assert again == first
    assert again_returns == first_returns
    assert first["returns"]["count"] == len(first_returns)


def test_return_rates_are_set_on_the_command_line(runtime: Runtime) -> None:
    tiny = ["simulate", "--stores", "1", "--days", "3", "--scale", "0.3", "--start", "2026-03-02", "--json"]
    result = CliRunner().invoke(
        app,
        [
            *tiny,
            *("--company", "NONE", "--return-rate", "Apparel=0", "--return-rate", "Footwear=0"),
            *("--return-rate", "Food=0", "--return-rate", "default=0"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["returns"]["count"] == 0
    assert summary["orders"]["pos"] > 0

    wrong = CliRunner().invoke(app, [*tiny, "--return-rate", "Apparel=120"])
    assert wrong.exit_code == 2
    assert "CATEGORY=PERCENT" in wrong.output
