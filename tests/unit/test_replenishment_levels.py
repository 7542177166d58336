"""Reorder point and order-up-to level from a known mean, sigma, lead time and service level."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from retailcore.analytics.model import DemandEstimate
from retailcore.analytics.replenishment.services import abc_classes, levels, order_quantity, service_z
from retailcore.core.errors import ValidationFailed

D = Decimal


def test_levels_add_safety_stock_from_sigma_over_the_lead_time_and_the_review_period():
    # mean 10, sigma 2, L = 4, R = 7, z(0.95) = 1.644854: 40 + 1.644854 x 2 x 2 and
    # 110 + 1.644854 x 2 x sqrt(11).
    found = levels(D(10), D(2), lead_days=4, review_days=7, service_level=D("0.95"))

    assert found.reorder_point == D("46.5794")
    assert found.order_up_to == D("120.9107")


def test_without_error_there_is_no_safety_stock_and_a_higher_service_level_holds_more():
    plain = levels(D(3), D(0), lead_days=5, review_days=2, service_level=D("0.99"))
    low = levels(D(3), D(1), lead_days=5, review_days=2, service_level=D("0.90"))
    high = levels(D(3), D(1), lead_days=5, review_days=2, service_level=D("0.98"))

    assert (plain.reorder_point, plain.order_up_to) == (D(15), D(21))
    assert plain.reorder_point < low.reorder_point < high.reorder_point


def test_quantities_round_up_to_whole_units_and_to_grams_for_weighed_products():
    assert order_quantity(D("80.2"), D("8"), "unit") == D(73)
    assert order_quantity(D("80.2"), D("8"), "pack") == D(73)
    assert order_quantity(D("13.9476"), D(0), "kg") == D("13.948")
    assert order_quantity(D(5), D(7), "unit") == D(0)


@pytest.mark.parametrize("level", ["0", "1", "1.5", "-0.2"])
def test_a_service_level_outside_zero_to_one_is_refused_naming_the_field(level):
    with pytest.raises(ValidationFailed) as refused:
        service_z(D(level))
    assert refused.value.problems[0].field == "service_level"


def test_the_reorder_point_also_covers_the_days_until_the_next_run():
    # Suggestions made daily: what is not ordered tonight arrives one run later, so the reorder point
    # protects L + 1 days (mean 10, sigma 2, L = 1: 20 + 1.644854 x 2 x sqrt(2)); the order-up-to is
    # unchanged.
    daily = levels(D(10), D(2), lead_days=1, review_days=7, service_level=D("0.95"), run_every_days=1)
    continuous = levels(D(10), D(2), lead_days=1, review_days=7, service_level=D("0.95"))

    assert daily.reorder_point == D("24.6523")
    assert continuous.reorder_point == D("13.2897")
    assert daily.order_up_to == continuous.order_up_to == D("89.3047")


def test_products_are_classed_by_the_value_of_their_network_demand():
    # Values a day: fast 8 x 10.00 + 2 x 10.00 = 100.00 (two locations), dear 1 x 60.00, slow 0.5 x 20.00,
    # dust 0.1 x 5.00: shares before each 0 %, 58.7 %, 93.8 %, 99.7 % -> A, A, B, C.
    fast, dear, slow, dust = (uuid.UUID(int=n) for n in range(1, 5))
    here, there = uuid.UUID(int=10), uuid.UUID(int=11)

    def estimate(product, location, mean):
        return DemandEstimate(product, location, dt.date(2026, 3, 1), 7, D(mean), D(1), "m")

    found = abc_classes(
        [
            estimate(fast, here, "8"),
            estimate(fast, there, "2"),
            estimate(dear, here, "1"),
            estimate(slow, there, "0.5"),
            estimate(dust, here, "0.1"),
        ],
        {fast: D("10.00"), dear: D("60.00"), slow: D("20.00"), dust: D("5.00")},
    )

    assert found == {fast: "A", dear: "A", slow: "B", dust: "C"}
