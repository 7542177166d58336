"""The UCI Online Retail loader of the forecast quality benchmark (benchmarks/forecast_quality.py)."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import forecast_quality  # the benchmarks are scripts, not a package

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _file(tmp_path, rows):
    path = tmp_path / "online_retail.csv"
    path.write_text(HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def test_daily_units_net_of_cancellations_floored_at_zero(tmp_path, monkeypatch):
    rows = [
        # 10001: 5 + 3 on day 1, a same-day cancellation of 80,000 bought and cancelled.
        ("536001", "10001", "MUG", 5, "2011-01-03 09:00:00", 1.25, 1, "UK"),
        ("536002", "10001", "MUG", 3, "2011-01-03 10:00:00", 1.25, 2, "UK"),
        ("536003", "20002A", "BIG", 80000, "2011-01-04 09:00:00", 0.10, 3, "UK"),
        ("C536003", "20002A", "BIG", -80000, "2011-01-04 09:05:00", 0.10, 3, "UK"),
        ("536004", "20002a", "BIG", 2, "2011-01-05 11:00:00", 0.10, 4, "UK"),
        # Not products: postage, a manual line, a bad-debt adjustment, a free sample at price 0.
        ("536005", "POST", "POSTAGE", 1, "2011-01-05 11:00:00", 18.0, 4, "UK"),
        ("536006", "M", "Manual", 1, "2011-01-05 11:00:00", 5.0, 4, "UK"),
        ("A536007", "B", "Adjust bad debt", 1, "2011-01-05 11:00:00", -100.0, "", "UK"),
        ("536008", "10001", "MUG", 50, "2011-01-06 11:00:00", 0, "", "UK"),
        ("536009", "10001", "MUG", 4, "2011-01-07 12:00:00", 1.25, 5, "UK"),
    ]
    monkeypatch.setattr(forecast_quality, "ONLINE_RETAIL", _file(tmp_path, rows))

    full, train = forecast_quality.load_online_retail(top=10, held_days=1)

    assert full is train
    assert sorted(full["unique_id"].unique()) == ["10001", "20002A"]  # codes upper-cased, fees dropped
    by_day = full.pivot(index="ds", columns="unique_id", values="y")
    assert list(by_day.index.strftime("%m-%d")) == ["01-03", "01-04", "01-05", "01-06", "01-07"]
    assert by_day["10001"].tolist() == [8.0, 0.0, 0.0, 0.0, 4.0]  # the price-0 line is not a sale
    assert by_day["20002A"].tolist() == [0.0, 0.0, 2.0, 0.0, 0.0]  # 80,000 cancelled the same day


def test_best_sellers_are_chosen_before_the_scored_days(tmp_path, monkeypatch):
    rows = [
        ("536001", "10001", "EARLY", 10, "2011-01-03 09:00:00", 1.0, 1, "UK"),
        ("536002", "10002", "LATE", 1, "2011-01-03 09:00:00", 1.0, 1, "UK"),
        # The late seller's big day is inside the held-out days: it must not win the ranking.
        ("536003", "10002", "LATE", 500, "2011-01-06 09:00:00", 1.0, 1, "UK"),
    ]
    monkeypatch.setattr(forecast_quality, "ONLINE_RETAIL", _file(tmp_path, rows))

    full, _ = forecast_quality.load_online_retail(top=1, held_days=2)

    assert full["unique_id"].unique().tolist() == ["10001"]
