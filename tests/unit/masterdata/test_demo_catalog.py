"""Tests for the deterministic demo catalog and store list."""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from retailcore.masterdata.barcodes import is_valid_gtin
from retailcore.masterdata.demo_catalog import demo_products, demo_stores

EXPECTED_KEYS = {
    "sku",
    "name",
    "category",
    "unit_of_measure",
    "tax_category",
    "cost_method",
    "list_price",
    "standard_cost",
    "barcodes",
    "channels",
    "active",
}


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, Any]]:
    return demo_products()


def _decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _walk(value: Any) -> list[Any]:
    """Flatten nested containers into their leaf values."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in (*_walk(key), *_walk(item))]
    if isinstance(value, list | tuple | set | frozenset):
        return [leaf for item in value for leaf in _walk(item)]
    return [value]


def test_default_catalog_has_200_unique_skus(catalog: list[dict[str, Any]]) -> None:
    assert len(catalog) == 200
    skus = [p["sku"] for p in catalog]
    assert len(set(skus)) == 200
    assert all(set(p) == EXPECTED_KEYS for p in catalog)


def test_sku_format(catalog: list[dict[str, Any]]) -> None:
    assert all(re.fullmatch(r"[A-Z]{3}-[A-Z]{3}-\d{4}", p["sku"]) for p in catalog)
    assert catalog[0]["sku"] == "APP-TSH-0001"


def test_barcodes_valid_and_unique(catalog: list[dict[str, Any]]) -> None:
    all_codes = [code for p in catalog for code in p["barcodes"]]
    assert len(all_codes) == len(set(all_codes))
    assert all(isinstance(code, str) and len(code) == 13 and is_valid_gtin(code) for code in all_codes)
    counts = Counter(len(p["barcodes"]) for p in catalog)
    assert set(counts) <= {1, 2}
    assert counts[1] > counts[2] > 0


def test_money_values_are_decimals_with_bounded_places(catalog: list[dict[str, Any]]) -> None:
    for p in catalog:
        price, cost = p["list_price"], p["standard_cost"]
        assert type(price) is Decimal
        assert type(cost) is Decimal
        assert price.is_finite()
        assert cost.is_finite()
        assert _decimal_places(price) <= 2
        assert _decimal_places(cost) <= 6
        assert Decimal(0) < cost < price


def test_costs_are_realistic_share_of_price(catalog: list[dict[str, Any]]) -> None:
    for p in catalog:
        ratio = p["standard_cost"] / p["list_price"]
        assert Decimal("0.34") <= ratio <= Decimal("0.61"), p
    # Some costs must really use the sub-cent precision (not just trailing zeros).
    assert any(p["standard_cost"] != p["standard_cost"].quantize(Decimal("0.0001")) for p in catalog)


def test_prices_use_retail_endings(catalog: list[dict[str, Any]]) -> None:
    cents = Counter(str(p["list_price"]).split(".")[1] for p in catalog)
    assert cents["99"] > 0
    assert set(cents) <= {"99", "95", "90", "50", "00"}


def test_no_floats_anywhere(catalog: list[dict[str, Any]]) -> None:
    leaves = _walk(catalog) + _walk(demo_stores())
    assert not any(isinstance(leaf, float) for leaf in leaves)


def test_deterministic_for_a_seed() -> None:
    assert demo_products(50, seed=3) == demo_products(50, seed=3)
    assert demo_products(50, seed=3) != demo_products(50, seed=4)
    # A shorter catalog is not required to be a prefix, but the same call must be stable.
    assert demo_products() == demo_products(200, 7)


def test_does_not_touch_global_random_state() -> None:
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    demo_products(20)
    assert random.random() == expected


def test_categories_and_tax(catalog: list[dict[str, Any]]) -> None:
    categories = {p["category"] for p in catalog}
    assert len(categories) >= 8
    assert {"Apparel/Tops", "Footwear", "Books", "Beauty", "Electronics/Accessories"} <= categories
    for p in catalog:
        reduced = p["category"].startswith("Food/") or p["category"] == "Books"
        assert p["tax_category"] == ("reduced" if reduced else "standard"), p


def test_units_of_measure(catalog: list[dict[str, Any]]) -> None:
    counts = Counter(p["unit_of_measure"] for p in catalog)
    assert set(counts) == {"unit", "kg"}
    assert counts["unit"] > counts["kg"] > 0
    assert all(p["category"].startswith("Food/") for p in catalog if p["unit_of_measure"] == "kg")


def test_cost_methods_mixed(catalog: list[dict[str, Any]]) -> None:
    assert {p["cost_method"] for p in catalog} == {"fifo", "average", "standard"}


def test_channels(catalog: list[dict[str, Any]]) -> None:
    allowed = ["pos", "web", "marketplace"]
    for p in catalog:
        channels = p["channels"]
        assert channels, p
        assert len(set(channels)) == len(channels)
        assert set(channels) <= set(allowed)
        assert channels == sorted(channels, key=allowed.index)
    both = sum(1 for p in catalog if {"pos", "web"} <= set(p["channels"]))
    assert both > len(catalog) // 2


def test_mostly_active(catalog: list[dict[str, Any]]) -> None:
    inactive = [p for p in catalog if not p["active"]]
    assert 1 <= len(inactive) <= 5
    assert all(isinstance(p["active"], bool) for p in catalog)


def test_names_are_non_empty_strings(catalog: list[dict[str, Any]]) -> None:
    assert all(isinstance(p["name"], str) and p["name"].strip() == p["name"] != "" for p in catalog)
    # Duplicates are tolerated but should be rare.
    assert len({p["name"] for p in catalog}) >= 195


def test_small_catalogs_cover_every_category() -> None:
    small = demo_products(10)
    assert len({p["category"] for p in small}) == 10
    assert demo_products(0) == []
    (single,) = demo_products(1)
    assert single["active"] is True


def test_large_catalog_barcodes_stay_unique() -> None:
    big = demo_products(3000, seed=11)
    skus = [p["sku"] for p in big]
    codes = [c for p in big for c in p["barcodes"]]
    assert len(set(skus)) == len(skus)
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("bad", [-1, 10**6])
def test_count_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="count must be between"):
        demo_products(bad)


def test_count_must_be_int() -> None:
    with pytest.raises(TypeError):
        demo_products(True)
    with pytest.raises(TypeError):
        demo_products("10")  # type: ignore[arg-type]


def test_mutating_result_does_not_affect_later_calls() -> None:
    first = demo_products(5)
    first[0]["barcodes"].append("x")
    first[0]["channels"].clear()
    assert demo_products(5)[0]["barcodes"] != first[0]["barcodes"]
    assert demo_products(5)[0]["channels"]


def test_demo_stores() -> None:
    stores = demo_stores()
    assert [s["code"] for s in stores] == ["PAR01", "LYO01", "BDX01", "WEB01"]
    assert [s["kind"] for s in stores] == ["store", "store", "store", "warehouse"]
    assert stores[0]["name"] == "Paris Rivoli"
    assert stores[1]["name"] == "Lyon Part-Dieu"
    assert stores[2]["name"] == "Bordeaux Sainte-Catherine"
    assert all(s["timezone"] == "Europe/Paris" for s in stores)
    assert all(set(s) == {"code", "name", "kind", "timezone"} for s in stores)
    # Fresh list each call: callers may mutate it.
    stores.clear()
    assert len(demo_stores()) == 4
