"""Anomaly detection on discounts and returns (decision 0075): score, explain, store, raise exceptions.

Each row of :func:`~retailcore.analytics.anomalies.features.collect` is turned into robust z-scores, one
per feature, against its peers (cashier rows against every cashier-day of the company in the scan,
store rows against every store-day; for the features of sales, only the rows with sales):
``(value - median) / scale`` with ``scale`` 1.4826 x the median absolute deviation, or 1.2533 x the
mean absolute deviation (the top 5 %, at least the top one, clipped) when most peers sit on the
median (counts that are mostly zero), and never below a feature's :data:`MIN_SCALE` (so a quiet
feature's one small blip is not a thousand sigmas). A scikit-learn ``IsolationForest`` (fixed
``random_state``) scores the z matrix; a row is **flagged** when

* its isolation score is at least :data:`THRESHOLD` and one feature's z is at least :data:`Z_SUPPORT`
  (isolated *and* high on something: an unusually quiet day is isolated too, and is no leak), or
* one feature's z alone reaches :data:`Z_RULE` (a single extreme feature).

Only excess counts: negative z never flags or explains. The explanation is the flagged row's top
features by z (their z and raw values); the first names the exception type. Money at risk is the
excess over the peer median of the money features among them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.analytics.anomalies import features as af
from retailcore.analytics.anomalies.tables import AnomalyRow, AnomalyScan
from retailcore.analytics.extra import load, to_decimal
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company
from retailcore.monitoring import services as monitoring
from retailcore.monitoring.tables import ExceptionCase

if TYPE_CHECKING:
    import pandas as pd

THRESHOLD = Decimal("0.62")
"""Isolation score (``-score_samples``, 0.5 is an ordinary row) from which a supported row is flagged."""
Z_SUPPORT = 3.5
Z_RULE = 8.0
Z_CAP = 50.0
"""z beyond this adds nothing (keeps one huge value from flattening the forest's other splits)."""
TOP = 3
MAX_DAYS = 366
RANDOM_STATE = 0
MIN_SCALE = {
    "discount_rate": 0.01,
    "manual_discount": 10.0,
    "overrides": 1.0,
    "no_receipt_returns": 1.0,
    "no_receipt_refunds": 20.0,
    "refund_rate": 0.05,
    "cash_refunds": 20.0,
    "after_hours_sales": 1.0,
    "under_floor_lines": 1.0,
    "under_floor_amount": 5.0,
    "under_cost_lines": 1.0,
    "under_cost_amount": 5.0,
}
"""The least scale per feature, in its own unit: what a person would call one notable step."""
KIND = {
    "discount_rate": "discount_anomaly",
    "manual_discount": "discount_anomaly",
    "overrides": "discount_anomaly",
    "after_hours_sales": "discount_anomaly",
    "no_receipt_returns": "return_anomaly",
    "no_receipt_refunds": "return_anomaly",
    "refund_rate": "return_anomaly",
    "cash_refunds": "return_anomaly",
    "under_floor_lines": "margin_anomaly",
    "under_floor_amount": "margin_anomaly",
    "under_cost_lines": "margin_anomaly",
    "under_cost_amount": "margin_anomaly",
}
SALES_FEATURES = frozenset(
    (
        "discount_rate",
        "manual_discount",
        "overrides",
        "after_hours_sales",
        "under_floor_lines",
        "under_floor_amount",
        "under_cost_lines",
        "under_cost_amount",
    )
)
"""Features of sales: their peers are the rows with sales."""
CENT = Decimal("0.01")


def robust_z(
    values: pd.Series, feature: str, peers: pd.Series | None = None
) -> tuple[pd.Series, float, float]:
    """The z of each value against its peers' median (``peers``: a mask of the rows to take the median
    and scale from; default all), with the median and scale used."""
    np = load("anomaly detection", "numpy")
    sample = values if peers is None else values[peers]
    if sample.empty:
        sample = values
    median = float(sample.median())  # float-ok: statistics
    deviations = (sample - median).abs()
    # Mostly-zero counts have no MAD: the mean deviation stands in, with the top 5 % (at least the top
    # one) clipped so that the few outliers being looked for do not widen their own yardstick.
    ordered = np.sort(deviations.to_numpy())
    cap = ordered[max(0, min(int(0.95 * (len(ordered) - 1)), len(ordered) - 2))] if len(ordered) else 0.0
    clipped = deviations.clip(upper=float(cap))  # float-ok: statistics
    spread = float(deviations.median())  # float-ok: statistics
    scale = max(1.4826 * spread, 1.2533 * float(clipped.mean()), MIN_SCALE[feature])  # float-ok: statistics
    return (values - median) / scale, median, scale


@dataclass
class Scored:
    rows: pd.DataFrame
    """The features' rows with ``score``, ``flagged``, ``kind``, ``explanation``, ``z`` and
    ``amount_at_risk`` added."""


def score(rows: pd.DataFrame) -> Scored:
    """Score every row against its peer group (cashier rows, store rows); deterministic."""
    pd, np, ensemble = load("anomaly detection", "pandas", "numpy", "sklearn.ensemble")
    IsolationForest = ensemble.IsolationForest

    rows = rows.reset_index(drop=True).copy()
    rows["score"] = 0.0
    rows["flagged"] = False
    rows["kind"] = None
    rows["explanation"] = [[] for _ in range(len(rows))]
    rows["z"] = [{} for _ in range(len(rows))]
    rows["amount_at_risk"] = 0.0
    for is_store in (False, True):
        group = rows.index[rows["cashier"].isna() == is_store]
        if len(group) == 0:
            continue
        peers = rows.loc[group]
        zs: dict[str, pd.Series] = {}
        centre: dict[str, float] = {}
        selling = peers["sales"].astype(float) > 0
        for feature in af.FEATURES:
            # A day without a sale (a back-office user's returns) says nothing of how tills discount.
            mask = selling if feature in SALES_FEATURES else None
            zs[feature], centre[feature], _ = robust_z(peers[feature].astype(float), feature, mask)
        matrix = pd.DataFrame(zs).clip(-Z_CAP, Z_CAP)
        if len(group) >= 8:
            forest = IsolationForest(
                n_estimators=200, random_state=RANDOM_STATE, max_samples=min(256, len(group))
            )
            forest.fit(matrix.to_numpy())
            scores = -forest.score_samples(matrix.to_numpy())
        else:  # too few peers for a forest: the rules alone decide
            scores = np.full(len(group), 0.5)
        highest = matrix.max(axis=1).to_numpy()
        threshold = float(THRESHOLD)  # float-ok: statistics
        flagged = ((scores >= threshold) & (highest >= Z_SUPPORT)) | (highest >= Z_RULE)
        for position, index in enumerate(group):
            z = matrix.iloc[position]
            rows.at[index, "score"] = float(scores[position])  # float-ok: statistics
            rows.at[index, "z"] = {feature: _z_text(z[feature]) for feature in af.FEATURES}
            top = [f for f in z.sort_values(ascending=False).index[:TOP] if z[f] >= Z_SUPPORT / 2]
            rows.at[index, "explanation"] = [
                {
                    "feature": feature,
                    "z": _z_text(z[feature]),
                    "value": af.as_strings(rows.loc[index])[feature],
                    "peer_median": str(_decimal(centre[feature], feature)),
                }
                for feature in top
            ]
            if flagged[position] and top:
                rows.at[index, "flagged"] = True
                rows.at[index, "kind"] = KIND[top[0]]
                money = [f for f in top if f in af.MONEY]
                excess = [float(rows.at[index, f]) - centre[f] for f in money]  # float-ok: statistics
                rows.at[index, "amount_at_risk"] = sum(max(0.0, e) for e in excess)
    return Scored(rows)


def _z_text(value: float) -> str:
    """A z as stored and shown: a decimal string to 0.01 (the JSON carries no floats)."""
    return str(to_decimal(value, CENT, ROUND_HALF_UP))


def _decimal(value: float, feature: str) -> Decimal:
    places = Decimal("0.0001") if feature.endswith("rate") else CENT
    return to_decimal(value, places, ROUND_HALF_UP)


def describe(explanation: list[dict[str, Any]]) -> str:
    """``discount_rate 0.1419 (z 12.3, peers 0.0018); overrides 13 (z 9.1, peers 0)``."""
    return "; ".join(
        f"{item['feature']} {item['value']} (z {item['z']}, peers {item['peer_median']})"
        for item in explanation
    )


def scan(
    session: Session,
    ctx: CommandContext,
    company: Company,
    first: dt.date | None,
    last: dt.date | None,
    progress: Callable[[str], None] | None = None,
) -> AnomalyScan:
    """Scan a company's days (default: the last 30 local days to yesterday), store every row, record
    ``AnomalyScanCompleted`` and raise one exception per flagged row (once: a rerun finds it)."""
    step = progress or (lambda _label: None)
    today = dt.datetime.now(dt.UTC).date()
    last = last or today - dt.timedelta(days=1)
    first = first or last - dt.timedelta(days=29)
    if first > last:
        raise ValidationFailed("'from' is after 'to'", problems=[FieldProblem("from", "after 'to'")])
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed(
            f"more than {MAX_DAYS} days",
            problems=[FieldProblem("to", f"at most {MAX_DAYS} days after 'from'")],
        )
    step("features")
    rows = af.collect(session, company.id, first, last)
    step("score")
    scored = score(rows).rows if len(rows) else rows
    step("store")
    flagged = int(scored["flagged"].sum()) if len(scored) else 0
    found = AnomalyScan(
        company_id=company.id,
        date_from=first,
        date_to=last,
        rows=len(scored),
        flagged=flagged,
        threshold=THRESHOLD,
        settings={
            "z_support": str(Z_SUPPORT),
            "z_rule": str(Z_RULE),
            "top": TOP,
            "random_state": RANDOM_STATE,
        },
        created_at=ctx.occurred_at or dt.datetime.now(dt.UTC),
        created_by=ctx.actor,
    )
    session.add(found)
    session.flush()
    event = record(
        session,
        ctx,
        type="AnomalyScanCompleted",
        company_id=company.id,
        aggregate_type="AnomalyScan",
        aggregate_id=found.id,
        payload={"from": first.isoformat(), "to": last.isoformat(), "rows": len(scored), "flagged": flagged},
    )
    for _, row in scored.iterrows():
        stored = AnomalyRow(
            scan_id=found.id,
            company_id=company.id,
            store_id=row["store_id"],
            store_code=row["store_code"],
            cashier=row["cashier"],
            day=row["day"],
            score=to_decimal(row["score"], Decimal("0.00000001")),
            kind=row["kind"],
            features={"values": af.as_strings(row), "z": row["z"]},
            explanation=row["explanation"],
            flagged=bool(row["flagged"]),
            amount_at_risk=to_decimal(row["amount_at_risk"], CENT, ROUND_HALF_UP),
        )
        session.add(stored)
        if stored.flagged:
            stored.exception_id = _raise(session, ctx, company, stored, event.id if event else None)
    session.flush()
    step("done")
    return found


def dedupe_key(store_code: str, cashier: str | None, day: dt.date) -> str:
    return f"anomaly:{store_code}:{cashier or '*'}:{day.isoformat()}"


def _raise(
    session: Session, ctx: CommandContext, company: Company, row: AnomalyRow, event_id: uuid.UUID | None
) -> uuid.UUID | None:
    """One exception per cashier (or store) and day, ever: a rerun, or a later overlapping scan, points
    at the one raised first, whatever its status."""
    key = dedupe_key(row.store_code, row.cashier, row.day)
    existing = session.scalar(
        select(ExceptionCase.id).where(
            ExceptionCase.company_id == company.id, ExceptionCase.dedupe_key == key
        )
    )
    if existing is not None:
        return existing
    who = row.cashier or "the store"
    case = monitoring.record(
        session,
        ctx,
        company.id,
        type=row.kind or "discount_anomaly",
        key=key,
        message=f"{who} at {row.store_code} on {row.day}: {describe(row.explanation)}",
        amount_at_risk=row.amount_at_risk,
        store_id=row.store_id,
        details={
            "store": row.store_code,
            "cashier": row.cashier,
            "day": row.day.isoformat(),
            "score": str(row.score),
            "explanation": row.explanation,
        },
        event_id=event_id,
    )
    session.flush()
    return case.id if case is not None else None
