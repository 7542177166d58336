"""Promotions as stored and as the engine sees them, and the checks of each kind (no database)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from retailcore.promotions import commands as c
from retailcore.promotions.book import rule_of, to_model, windows_of
from retailcore.promotions.model import BundleComponent, Target, Tier, Window
from retailcore.promotions.tables import PromotionRow

TEA = uuid.UUID("01900000-0000-7000-8000-000000000001")
MUG = uuid.UUID("01900000-0000-7000-8000-000000000002")


def test_a_row_becomes_the_engines_promotion_with_exact_decimals():
    fields = {
        "percent": Decimal("12.5"),
        "components": [
            {"product_id": TEA, "quantity": Decimal("2")},
            {"product_id": MUG, "quantity": Decimal(1)},
        ],
        "tiers": [{"threshold": Decimal("50"), "amount": Decimal("5.00")}],
        "product_ids": [MUG, TEA],
        "categories": ["Drinks"],
    }
    rule = rule_of(fields)
    assert rule == {
        "percent": "12.5",
        "components": [{"product_id": str(TEA), "quantity": "2"}, {"product_id": str(MUG), "quantity": "1"}],
        "tiers": [{"threshold": "50", "amount": "5.00"}],
        "product_ids": sorted([str(TEA), str(MUG)]),
        "categories": ["Drinks"],
    }
    row = PromotionRow(
        id=uuid.uuid4(),
        code="P",
        kind="bundle_price",
        stacking="best",
        priority=3,
        scope="line",
        rule=rule,
        channels=["pos"],
        store_ids=None,
        customer_groups=["vip"],
        windows=windows_of([{"weekdays": [5, 6, 5], "start": dt.time(9), "end": dt.time(12, 30)}]),
        starts_at=dt.datetime(2026, 12, 24),
        ends_at=None,
        coupon_only=True,
    )
    promotion = to_model(row)
    assert promotion.percent == Decimal("12.5") and isinstance(promotion.percent, Decimal)
    assert promotion.target == Target(frozenset({TEA, MUG}), frozenset({"Drinks"}))
    assert promotion.components == (BundleComponent(TEA, Decimal(2)), BundleComponent(MUG, Decimal(1)))
    assert promotion.tiers == (Tier(Decimal(50), None, Decimal("5.00")),)
    assert promotion.windows == (Window(frozenset({5, 6}), dt.time(9), dt.time(12, 30)),)
    assert (promotion.channels, promotion.store_ids, promotion.customer_groups) == (
        frozenset({"pos"}),
        None,
        frozenset({"vip"}),
    )
    assert (promotion.stacking, promotion.priority, promotion.coupon_only) == ("best", 3, True)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"kind": "percent_off"}, {"percent"}),
        ({"kind": "amount_off"}, {"amount"}),
        ({"kind": "buy_x_get_y", "buy_quantity": Decimal(2)}, {"get_quantity"}),
        ({"kind": "mix_and_match", "buy_quantity": Decimal(1), "bundle_price": Decimal(5)}, {"buy_quantity"}),
        ({"kind": "bundle_price", "components": []}, {"components", "bundle_price"}),
        (
            {
                "kind": "bundle_price",
                "bundle_price": Decimal(5),
                "components": [{"product_id": TEA}, {"product_id": TEA}],
            },
            {"components"},
        ),
        (
            {
                "kind": "tiered_spend",
                "tiers": [{"threshold": Decimal(1), "percent": Decimal(1), "amount": Decimal(1)}],
            },
            {"tiers.0"},
        ),
        ({"kind": "tiered_spend", "tiers": [{"threshold": Decimal(1), "amount": Decimal(1)}] * 2}, {"tiers"}),
        ({"kind": "free_shipping", "scope": "order"}, {"scope"}),
        (
            {
                "kind": "free_shipping",
                "starts_at": dt.datetime(2026, 2, 1),
                "ends_at": dt.datetime(2026, 2, 1),
            },
            {"ends_at"},
        ),
        (
            {"kind": "free_shipping", "windows": [{"weekdays": [1], "start": "10:00", "end": "09:00"}]},
            {"windows.0.end"},
        ),
        ({"kind": "free_shipping"}, set()),
        ({"kind": "percent_off", "percent": Decimal(100), "scope": "order"}, set()),
    ],
)
def test_each_kind_names_what_it_lacks(fields, named):
    assert {p.field for p in c.kind_problems(fields)} == named
