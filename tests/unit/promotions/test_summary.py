"""A promotion's rule in words, as the back office's promotions pages show it (promotions/summary.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from retailcore.promotions import commands as c
from retailcore.promotions.summary import Targeting, rule_in_words

NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def view(kind: str, **fields: Any) -> c.PromotionView:
    base: dict[str, Any] = {
        "id": uuid.uuid4(), "company_id": uuid.uuid4(), "code": "P", "name": "P", "description": "",
        "kind": kind, "stacking": "stackable", "priority": 0, "scope": "line", "channels": None,
        "store_ids": None, "customer_groups": None, "windows": [], "starts_at": None, "ends_at": None,
        "coupon_only": False, "state": "draft", "created_by": "user:pm1", "last_edited_by": None,
        "submitted_by": None, "submitted_at": None, "decided_by": None, "decided_at": None,
        "decision_reason": None, "override_by": None, "override_reason": None, "created_at": NOW,
        "updated_at": NOW, "version": 1,
    }  # fmt: skip
    return c.PromotionView(**{**base, **fields})


@pytest.mark.parametrize(
    ("kind", "fields", "words"),
    [
        ("percent_off", {"percent": Decimal("12.50")}, "12.5% off each targeted line"),
        ("percent_off", {"percent": Decimal("10"), "scope": "order"}, "10% off the whole order"),
        ("amount_off", {"amount": Decimal("1.00")}, "1 off per unit, each targeted line"),
        ("amount_off", {"amount": Decimal("5"), "scope": "category"}, "5 off, the targeted lines together"),
        (
            "buy_x_get_y",
            {"buy_quantity": Decimal(2), "get_quantity": Decimal(1)},
            "buy 2 targeted units, get 1 more free (the cheapest), repeated",
        ),
        (
            "buy_x_get_y",
            {"buy_quantity": Decimal(1), "get_quantity": Decimal(1), "percent": Decimal(50)},
            "buy 1 targeted units, get 1 more 50% off (the cheapest), repeated",
        ),
        (
            "mix_and_match",
            {"buy_quantity": Decimal(3), "bundle_price": Decimal("10.00")},
            "any 3 targeted units for 10, repeated",
        ),
        (
            "tiered_spend",
            {"tiers": [{"threshold": "50", "percent": "5"}, {"threshold": "100", "amount": "15"}]},
            "on the targeted lines' amount, the highest tier reached: from 50: 5% off; from 100: 15 off",
        ),
        ("free_shipping", {"threshold": Decimal("30")}, "free shipping when the targeted lines reach 30"),
    ],
)
def test_a_rule_reads_as_a_sentence(kind, fields, words):
    assert rule_in_words(None, view(kind, **fields)) == words  # type: ignore[arg-type]


def test_targeting_reads_everyone_when_nothing_is_named():
    assert Targeting([], [], None, None, None, []).words() == "every product; every channel; every store"
    named = Targeting(["TEA"], ["Drinks"], ["pos"], ["S1"], ["vip"], ["Mon 09:00-12:00"])
    assert named.words() == "products TEA; categories Drinks; channels pos; stores S1; customer groups vip"
