"""The realized exchange difference's arithmetic (decision 0062): booked value rounded once, the
difference what arrived less it (a gain positive)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from retailcore.accounting.fx import realized_difference
from retailcore.masterdata.tables import Company

D = Decimal


@pytest.mark.parametrize(
    ("foreign", "rate", "settled", "booked", "difference"),
    [
        ("12.00", "0.90", "11.04", "10.80", "0.24"),  # settled at 0.92: a gain
        ("12.00", "0.90", "10.56", "10.80", "-0.24"),  # at 0.88: a loss
        ("24.00", "0.90", "22.08", "21.60", "0.48"),
        ("0.05", "0.9", "0.05", "0.05", "0.00"),  # 0.045 booked half-up to 0.05, as the close does
        ("-12.00", "0.90", "-11.04", "-10.80", "-0.24"),  # a refund settled dearer: a loss
    ],
)
def test_the_booked_value_and_the_difference(foreign, rate, settled, booked, difference):
    company = Company(id=uuid.uuid4(), code="C", name="C", currency="EUR")
    result = realized_difference(company, "USD", D(foreign), D(rate), D(settled))
    assert (result.booked, result.difference) == (D(booked), D(difference))
