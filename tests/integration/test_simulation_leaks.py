"""The simulator's learnable demand and its planted leaks with ground truth (issue 22): each planted kind
is listed with its subject and days, and the trading data shows it."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select

from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company, Product, Store
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.promotions.tables import PromotionRow
from retailcore.returns.tables import ReturnRow
from retailcore.simulation import PROFILE, Options, simulate
from retailcore.simulation import demand as d
from retailcore.simulation.simulator import _Weighted
from retailcore.simulation.world import SimProduct

START = dt.date(2026, 3, 5)
"""A Thursday: the run has a weekend (the apparel promotion's window)."""
DAYS = 7
OPTIONS = Options(company="LEAK", stores=3, days=DAYS, seed=5, start=START, scale=Decimal("0.5"))


def test_each_planted_leak_is_in_the_ground_truth_and_in_the_data(runtime: Runtime) -> None:
    summary = simulate(runtime.session_factory, OPTIONS)
    assert summary is not None
    # The refunds without a receipt and the typo's sales keep the books and the stock whole.
    assert summary["trial_balance_balanced"] is True
    assert summary["stock_agrees_with_ledger"] is True
    cases = {case["kind"]: case for case in summary["ground_truth"]["cases"]}
    assert set(cases) == {"high_manual_discounts", "refund_fraud", "below_margin_promotion", "price_typo"}
    for case in cases.values():
        assert START <= dt.date.fromisoformat(case["from"]) <= dt.date.fromisoformat(case["to"])
        assert dt.date.fromisoformat(case["to"]) < START + dt.timedelta(days=DAYS)
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "LEAK"))
        stores = dict(
            session.execute(select(Store.id, Store.code).where(Store.company_id == company_id)).all()
        )
        products = {
            row.id: row for row in session.scalars(select(Product).where(Product.company_id == company_id))
        }
        events = session.scalars(
            select(Event.payload).where(
                Event.company_id == company_id, Event.type == "SimulationGroundTruthRecorded"
            )
        ).all()
        assert sorted(e["kind"] for e in events) == sorted(cases)
        for payload in events:
            assert payload == cases[payload["kind"]]

        # -- refund fraud: the cashier's no-receipt cash refunds dwarf every other cashier's.
        fraud = cases["refund_fraud"]
        assert fraud["store"] in stores.values() and fraud["cashier"] and fraud["terminal"]
        refunds: Counter[str] = Counter()
        fraud_numbers = set()
        for created_by, store_id, number in session.execute(
            select(ReturnRow.created_by, ReturnRow.store_id, ReturnRow.number).where(
                ReturnRow.company_id == company_id, ReturnRow.no_receipt.is_(True)
            )
        ):
            refunds[created_by] += 1
            if created_by == fraud["cashier"]:
                assert stores[store_id] == fraud["store"]
                fraud_numbers.add(uuid.UUID(number))
        assert refunds[fraud["cashier"]] == fraud["refunds"] > 0
        others = [n for who, n in refunds.items() if who != fraud["cashier"]]
        assert others, "the ordinary no-receipt refunds are the background"
        assert refunds[fraud["cashier"]] > 3 * max(others)
        # The cashier's ordinary refunds outside the fraud's days are not tickets of the case.
        assert {uuid.UUID(t) for t in fraud["tickets"]} <= fraud_numbers
        late = session.scalars(
            select(OrderRow.ordered_at).where(
                OrderRow.company_id == company_id,
                OrderRow.channel == "pos",
                OrderRow.created_by == fraud["cashier"],
            )
        ).all()
        after_hours = [at for at in late if at is not None and at.hour >= 21]
        assert len(after_hours) == fraud["after_hours_sales"] > 0

        # -- the price typo: the product sold under cost at that store on the typo days only.
        typo = cases["price_typo"]
        typo_product = next(p for p in products.values() if p.sku == typo["product"])
        sold = session.execute(
            select(OrderRow.store_id, OrderRow.ordered_at, OrderLineRow.unit_price)
            .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
            .where(
                OrderRow.company_id == company_id,
                OrderRow.channel == "pos",
                OrderLineRow.product_id == typo_product.id,
                OrderLineRow.quantity > Decimal(0),
            )
        ).all()
        first, last = dt.date.fromisoformat(typo["from"]), dt.date.fromisoformat(typo["to"])
        under = [(stores[s], at.date()) for s, at, price in sold if price < typo_product.list_price / 2]
        assert under, "the typo product sold at the typo price"
        assert all(code == typo["store"] and first <= day <= last for code, day in under)
        assert Decimal(typo["typo_price"]) * 10 == typo_product.list_price.quantize(Decimal("0.1"))
        assert Decimal(typo["units_under_cost"]) >= len(under)

        # -- the promotion below the margin floor: approved by finance over the floor, sold under it.
        below = cases["below_margin_promotion"]
        assert below["approved_over_floor"] is True and below["store"] is None
        row = session.scalar(
            select(PromotionRow).where(
                PromotionRow.company_id == company_id, PromotionRow.code == below["promotion"]
            )
        )
        assert row is not None
        approvals = session.scalars(
            select(Event.payload).where(Event.aggregate_id == row.id, Event.type == "PromotionApproved")
        ).all()
        assert approvals and any(p.get("override") for p in approvals)


def test_the_draws_follow_the_promotion_the_weekday_and_the_calendar() -> None:
    products = [
        SimProduct(None, f"P{n}", category, Decimal(10), Decimal(5), False, True, True, False, 5)  # type: ignore[arg-type]
        for n, category in enumerate(["Food/Tea", "Food/Tea", "Books/Novels", "Books/Novels"])
    ]
    for n, product in enumerate(products):
        product.id = n  # type: ignore[assignment]
    promoted = {products[0].id}

    def shares(day: int, promoted: set) -> Counter[str]:
        pool = _Weighted(products, weights=d.day_weights(PROFILE, products, day, promoted))
        rng = random.Random(1)
        return Counter(pool.draw(rng).sku for _ in range(4000))

    # The promoted product outsells its twin; without the promotion they draw alike.
    with_promotion, without = shares(0, promoted), shares(0, set())
    assert with_promotion["P0"] > 1.4 * with_promotion["P1"]
    assert abs(without["P0"] - without["P1"]) < 0.15 * without["P0"]
    # Food is bought on weekdays, books on Sunday (day index 6).
    monday, sunday = shares(0, set()), shares(6, set())
    assert monday["P0"] + monday["P1"] > monday["P2"] + monday["P3"]
    assert sunday["P2"] + sunday["P3"] > sunday["P0"] + sunday["P1"]
    # Payday and public holidays lift the day's traffic; an ordinary day is 100 %.
    assert d.calendar_percent(PROFILE, dt.date(2026, 3, 4)) == 100
    assert d.calendar_percent(PROFILE, dt.date(2026, 3, 15)) == PROFILE.payday_percent
    assert d.calendar_percent(PROFILE, dt.date(2026, 11, 11)) == 130
    # The weights are integers: a draw never touches a float.
    assert all(isinstance(w, int) for w in d.day_weights(PROFILE, products, 3, promoted))


def test_promotion_days_sell_more_of_the_promoted_products(runtime: Runtime) -> None:
    """Aggregated over the stores, the weekend apparel promotion's Saturday sells more apparel than the
    same run's Saturday without the uplift (same seed, same traffic)."""
    options = replace(OPTIONS, stores=2, days=3, start=dt.date(2026, 3, 5))
    quiet = replace(PROFILE, leaks=False)
    units = {}
    for code, profile in (("UPL", quiet), ("FLAT", replace(quiet, promotion_uplift_percent=0))):
        simulate(runtime.session_factory, replace(options, company=code), profile=profile)
        with runtime.session_factory() as session:
            company_id = session.scalar(select(Company.id).where(Company.code == code))
            rows = session.execute(
                select(Product.category, OrderLineRow.quantity)
                .join(OrderLineRow, OrderLineRow.product_id == Product.id)
                .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
                .where(
                    OrderRow.company_id == company_id,
                    OrderRow.channel == "pos",
                    OrderLineRow.quantity > Decimal(0),
                    OrderRow.ordered_at >= dt.datetime(2026, 3, 7, tzinfo=dt.UTC),
                    OrderRow.ordered_at < dt.datetime(2026, 3, 8, tzinfo=dt.UTC),
                )
            ).all()
            units[code] = sum((q for category, q in rows if category.startswith("Apparel")), Decimal(0))
    assert units["UPL"] > units["FLAT"] * Decimal("1.2")
