"""The settlement lag's statistics read lines grouped by day (value, how many lines): they must give
the figures of the same lines one by one."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from retailcore.settlements.reports import _average, _percentile


def _one_by_one_percentile(days: list[int], share: Decimal) -> int:
    ordered = sorted(days)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=300))
def test_grouped_statistics_equal_the_line_by_line_ones(days: list[int]) -> None:
    grouped = sorted(Counter(days).items())
    assert _percentile(grouped, Decimal("0.9")) == _one_by_one_percentile(days, Decimal("0.9"))
    assert _percentile(grouped, Decimal("0.5")) == _one_by_one_percentile(days, Decimal("0.5"))
    assert _average(grouped) == (Decimal(sum(days)) / len(days)).quantize(Decimal("0.1"))


def test_worked_example() -> None:
    # 9 lines settled in 2 days and 1 in 10: the 90th percentile is still 2 days, the mean 2.8.
    assert _percentile([(2, 9), (10, 1)], Decimal("0.9")) == 2
    assert _average([(2, 9), (10, 1)]) == Decimal("2.8")
    assert _average([]) is None
