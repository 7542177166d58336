"""The anomaly detector's statistics and the scorer's matching rule, on frames and cases made here."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from retailcore.analytics.anomalies import features as af
from retailcore.analytics.anomalies import scoring as scoring
from retailcore.analytics.anomalies import services as detector

DAY = dt.date(2026, 11, 2)
STORE = uuid.uuid4()


def _rows(extra: list[dict]) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(60):
        amount = float(rng.uniform(2000, 5000))
        discount = float(rng.uniform(0, 20))
        rows.append(
            {
                "store_id": STORE,
                "store_code": f"S{i % 6:02d}",
                "cashier": f"cashier-{i % 12}",
                "day": DAY + dt.timedelta(days=i // 12),
                "sales": float(rng.integers(20, 60)),
                "line_amount": amount,
                "refunds": float(rng.uniform(0, 200)),
                "manual_discount": discount,
                "overrides": float(rng.integers(0, 2)),
                "no_receipt_returns": 0.0,
                "no_receipt_refunds": 0.0,
                "cash_refunds": 0.0,
                "after_hours_sales": 0.0,
                "under_floor_lines": float(rng.integers(0, 2)),
                "under_floor_amount": float(rng.uniform(0, 3)),
                "under_cost_lines": 0.0,
                "under_cost_amount": 0.0,
            }
        )
    frame = pd.DataFrame(rows + extra)
    frame = frame.fillna(0.0)
    frame["discount_rate"] = frame["manual_discount"] / frame["line_amount"]
    frame["refund_rate"] = frame["refunds"] / frame["line_amount"]
    return frame


def _odd(cashier: str, **values: float) -> dict:
    base = {"store_id": STORE, "store_code": "S99", "cashier": cashier, "day": DAY, "sales": 40.0}
    return {**base, "line_amount": 3500.0, "refunds": 80.0, **values}


def test_a_deep_discounter_and_a_till_selling_under_the_floor_are_flagged_and_nobody_else():
    frame = _rows(
        [
            _odd("sweetheart", manual_discount=600.0, overrides=25.0),
            _odd("typo", under_floor_lines=30.0, under_floor_amount=240.0),
        ]
    )

    scored = detector.score(frame).rows
    flagged = scored[scored["flagged"]]

    assert sorted(flagged["cashier"]) == ["sweetheart", "typo"]
    by = flagged.set_index("cashier")
    assert by.loc["sweetheart", "kind"] == "discount_anomaly"
    assert {e["feature"] for e in by.loc["sweetheart", "explanation"]} >= {"discount_rate", "overrides"}
    assert by.loc["typo", "kind"] == "margin_anomaly"
    assert by.loc["typo", "explanation"][0]["feature"] in ("under_floor_lines", "under_floor_amount")
    assert by.loc["typo", "explanation"][0]["value"] in ("30", "240.00")
    assert by.loc["sweetheart", "amount_at_risk"] > 500  # the excess over the peers' median discount
    again = detector.score(frame).rows
    assert list(again["score"]) == list(scored["score"])  # deterministic


def test_a_quiet_feature_is_measured_in_its_own_unit_not_in_zero_deviations():
    values = pd.Series([0.0] * 50 + [2.0])
    z, median, scale = detector.robust_z(values, "no_receipt_returns")
    assert (median, scale) == (0.0, 1.0)  # no MAD: the feature's least scale, one return
    assert z.iloc[-1] == pytest.approx(2.0)


def test_feature_values_are_stored_as_decimal_strings():
    row = pd.Series(
        {name: 0.0 for name in af.RAW} | {"discount_rate": 0.123456, "manual_discount": 12.345, "sales": 3.0}
    )
    values = af.as_strings(row)
    assert (values["discount_rate"], values["manual_discount"], values["sales"]) == ("0.1235", "12.35", "3")


def _row(store, cashier, day, flagged):
    return scoring.Scored(store, cashier, DAY + dt.timedelta(days=day), flagged)


def test_the_matching_rule_on_a_hand_made_ground_truth():
    cases = [
        scoring.Case("high_manual_discounts", "S1", "cashier-a", DAY, DAY + dt.timedelta(days=2)),
        scoring.Case("refund_fraud", "S2", None, DAY, DAY + dt.timedelta(days=1)),
        scoring.Case("price_typo", None, None, DAY + dt.timedelta(days=5), DAY + dt.timedelta(days=5)),
        scoring.Case("below_margin_promotion", "S3", None, DAY, DAY),
    ]
    rows = [
        _row("S1", "cashier-a", 1, True),  # found: the named cashier on one of the days
        _row("S1", "cashier-b", 1, True),  # same store and day, another cashier: a false positive
        _row("S1", None, 2, True),  # the store's day: stands for cashier-a (strict: a false positive)
        _row("S1", "cashier-a", 3, True),  # a day after the case: a false positive
        _row("S2", "cashier-c", 0, False),  # matches refund_fraud, not flagged: refund_fraud missed
        _row("S7", None, 5, True),  # any store on the typo's day: found
        _row("S3", "cashier-d", 1, False),  # no case: a true negative
    ]

    table = scoring.confusion(cases, rows)
    strict = scoring.confusion(cases, rows, strict=True)

    assert table.found == {"high_manual_discounts": 1, "price_typo": 1}
    assert table.missed == {"refund_fraud": 1, "below_margin_promotion": 1}
    assert (table.flagged, table.true_positives, table.false_positives, table.negatives) == (5, 3, 2, 3)
    assert table.recall == 0.5 and table.false_positive_rate == pytest.approx(2 / 3)
    assert (strict.true_positives, strict.false_positives, strict.negatives) == (2, 3, 4)
    assert (
        scoring.Case.of({"kind": "refund_fraud", "store": "S2", "from": "2026-11-02", "to": "2026-11-03"})
        == cases[1]
    )
