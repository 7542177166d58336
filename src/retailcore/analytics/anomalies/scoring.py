"""Scoring a scan against the simulator's ground truth (the contract in docs/intelligence.md).

A planted case (a ``SimulationGroundTruthRecorded`` event's payload: ``kind``, ``store`` (null: every
store), ``cashier`` (null: nobody in particular), ``from``, ``to``) is **found** when a flagged row
matches it: same store (any, when the case names none), same cashier when the case names one, on
one of its days. A store x day row (no cashier) stands for all of the store's cashiers that day, so it
matches a case at its store on its day whoever the case names: it is the same leak seen from the
store. ``strict`` leaves that out (a store row matches only cases that name no cashier), for the
figure by the letter of the contract. A flagged row matching no case is a **false positive**; the
false-positive rate is false positives over all rows matching no case. A flagged row must also say
the right thing (:data:`FITS`: a margin alert for a price typo, a return alert for refund fraud...);
an alert inside a case's days of another kind is a false positive, not a find.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.eventlog.tables import Event

KINDS = ("high_manual_discounts", "refund_fraud", "below_margin_promotion", "price_typo")
FITS = {
    "high_manual_discounts": frozenset({"discount_anomaly"}),
    "refund_fraud": frozenset({"return_anomaly"}),
    "below_margin_promotion": frozenset({"margin_anomaly"}),
    "price_typo": frozenset({"margin_anomaly"}),
}
"""The alert kinds that find each planted kind. A case naming no store (a company-wide promotion) covers
every row of its days: without this, any alert on those days, whatever it said, would count as found."""


@dataclass(frozen=True)
class Case:
    kind: str
    store: str | None
    cashier: str | None
    first: dt.date
    last: dt.date

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Case:
        return cls(
            payload["kind"],
            payload.get("store"),
            payload.get("cashier"),
            dt.date.fromisoformat(payload["from"]),
            dt.date.fromisoformat(payload["to"]),
        )


@dataclass(frozen=True)
class Scored:
    store: str
    cashier: str | None
    day: dt.date
    flagged: bool
    kind: str | None = None
    """The alert's kind (``discount_anomaly``...); None: any kind fits (hand-made rows in tests)."""


@dataclass
class Confusion:
    found: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    flagged: int = 0
    true_positives: int = 0
    false_positives: int = 0
    negatives: int = 0
    """Rows matching no case (flagged or not)."""

    @property
    def planted(self) -> int:
        return sum(self.found.values()) + sum(self.missed.values())

    @property
    def recall(self) -> float:
        return sum(self.found.values()) / self.planted if self.planted else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.negatives if self.negatives else 0.0


def matches(case: Case, row: Scored, *, strict: bool = False) -> bool:
    if not case.first <= row.day <= case.last:
        return False
    if case.store is not None and row.store != case.store:
        return False
    if case.cashier is None:
        return True
    return row.cashier == case.cashier or (row.cashier is None and not strict)


def confusion(cases: Sequence[Case], rows: Iterable[Scored], *, strict: bool = False) -> Confusion:
    result = Confusion()
    hit: set[int] = set()
    for row in rows:
        matched = [i for i, case in enumerate(cases) if matches(case, row, strict=strict)]
        if row.flagged and row.kind is not None:
            # An alert inside a case's days that says something else did not find it.
            matched = [i for i in matched if row.kind in FITS.get(cases[i].kind, frozenset())]
        result.flagged += row.flagged
        if not matched:
            result.negatives += 1
            result.false_positives += row.flagged
        elif row.flagged:
            result.true_positives += 1
            hit.update(matched)
    for i, case in enumerate(cases):
        bucket = result.found if i in hit else result.missed
        bucket[case.kind] = bucket.get(case.kind, 0) + 1
    return result


def ground_truth(session: Session, company_id: uuid.UUID) -> list[Case]:
    payloads = session.scalars(
        select(Event.payload)
        .where(Event.company_id == company_id, Event.type == "SimulationGroundTruthRecorded")
        .order_by(Event.position)
    )
    return [Case.of(payload) for payload in payloads if payload.get("kind") in KINDS]
