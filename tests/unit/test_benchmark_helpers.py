"""The pure helpers the benchmark harness states its figures with (benchmarks/cases.py)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import cases  # the benchmarks are scripts, not a package


def test_percentile_is_a_measured_value_by_nearest_rank():
    values = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert cases.percentile(values, 0.5) == 50.0
    assert cases.percentile(values, 0.99) == 99.0
    assert cases.percentile(values, 1.0) == 100.0
    assert cases.percentile([7.0], 0.99) == 7.0
    # Over 10 requests the p99 is the slowest: nearest rank never interpolates below a measurement.
    assert cases.percentile([1.0] * 9 + [250.0], 0.99) == 250.0


@pytest.mark.parametrize("share", [0.0, 1.5, -0.1])
def test_percentile_refuses_a_share_outside_zero_to_one(share):
    with pytest.raises(ValueError):
        cases.percentile([1.0, 2.0], share)


def test_percentile_refuses_no_values():
    with pytest.raises(ValueError):
        cases.percentile([], 0.5)


def test_spread_states_p50_and_p99_in_milliseconds():
    assert cases.spread([0.001] * 99 + [0.030]) == "p50 1.0 ms, p99 1.0 ms"
    assert cases.spread([0.001] * 98 + [0.030] * 2) == "p50 1.0 ms, p99 30.0 ms"


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc (Linux)")
def test_process_cpu_reads_this_process_and_grows_with_work():
    # No speed is asserted: the loop spins until the process's own CPU counter has moved.
    before = cases.process_cpu(os.getpid())
    deadline = before + 0.05
    while cases.process_cpu(os.getpid()) < deadline:
        sum(range(10_000))
    assert cases.process_cpu(os.getpid()) >= deadline > before >= 0
