"""Mismatch triage: the classifier that suggests a class where the rules cannot decide, a person's
class, and the triage run over a company's unresolved exceptions (decision 0076).

- **Rules first** (:mod:`retailcore.monitoring.classes`): what a producer's details prove.
- **The classifier** (scikit-learn gradient-boosted trees, ``random_state`` fixed, so a run is
  deterministic) learns from the company's labelled rows, those a person or the rules classed, on the
  few features of :data:`FEATURES`; it is trained when the triage runs. With fewer than
  :data:`MIN_LABELS` labelled rows or a single class among them there is no model: rules only.
- **It only suggests** among the classes of the row's type, with its probability as the confidence;
  a row the rules decide, or a person classed, keeps that class.
- **A person's class** (:func:`set_class`) is an event (``ExceptionClassified``), like assigning one,
  wins over everything and is a label for the next training.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.analytics.extra import load
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.services import record as record_event
from retailcore.masterdata.tables import Company
from retailcore.monitoring import classes as rules
from retailcore.monitoring import services as monitoring
from retailcore.monitoring.tables import UNRESOLVED, ExceptionCase

Progress = Callable[[int, int], None]
"""``progress(done, total)``: the CLI's progress bar."""

MIN_LABELS = 20
"""Fewer labelled rows than this: no model (a tree on a handful of rows only repeats them)."""
CONFIDENCE = Decimal("0.0001")
GATEWAYS = ("adyen", "stripe", "shopify", "amazon")
AMOUNT_PAIRS = (
    # (theirs, ours) as the producers name them in an exception's details.
    ("shopify_paid", "order_total"),
    ("shopify_refunded", "our_refund"),
    ("settled", "captured"),
    ("fee", "expected"),
    ("channel_quantity", "our_quantity"),
)
FEATURES = (
    *(f"type={type}" for type in rules.TRIAGED_TYPES),
    "log10(1 + amount at risk)",
    "sign of theirs - ours (or of the bank amount, the stock quantity)",
    "|theirs - ours| / ours",
    "ratio is a whole multiple",
    "days since capture (else since raised)",
    "log10(occurrences)",
    *(f"gateway={code}" for code in (*GATEWAYS, "other")),
    "currency is the company's",
)
"""What the classifier sees of an exception, in this order (docs/intelligence.md)."""


@dataclass(frozen=True)
class Suggestion:
    exception_class: str
    confidence: Decimal


def _number(details: dict[str, Any], name: str) -> float | None:
    found = rules.number(details.get(name))
    return float(found) if found is not None else None  # float-ok: model features


def features(
    type: str,
    amount_at_risk: Decimal,
    details: dict[str, Any] | None,
    *,
    currency_matches: bool,
    age_days: float,
    occurrences: int = 1,
) -> list[float]:
    """The row's feature vector (:data:`FEATURES`); statistics are float inside the model only."""
    np = load("mismatch triage", "numpy")
    facts = details or {}
    vector = [1.0 if type == name else 0.0 for name in rules.TRIAGED_TYPES]
    vector.append(math.log10(1 + float(amount_at_risk)))  # float-ok: model features
    sign = ratio = 0.0
    for theirs_name, ours_name in AMOUNT_PAIRS:
        theirs, ours = _number(facts, theirs_name), _number(facts, ours_name)
        if theirs is not None and ours is not None:
            sign = float(np.sign(theirs - ours))  # float-ok: model features
            ratio = min(abs(theirs - ours) / abs(ours), 10.0) if ours else 10.0
            break
    else:
        for name in ("amount", "quantity"):
            value = _number(facts, name)
            if value is not None:
                sign = float(np.sign(value))  # float-ok: model features
                break
    vector += [sign, ratio, 1.0 if ratio >= 1 and abs(ratio - round(ratio)) < 1e-6 else 0.0]
    days = _number(facts, "days_since_capture")
    vector.append(days if days is not None else age_days)
    vector.append(math.log10(max(occurrences, 1)))
    gateway = str(facts.get("gateway") or facts.get("connector") or "").lower()
    vector += [1.0 if gateway == code else 0.0 for code in GATEWAYS]
    vector.append(1.0 if gateway and gateway not in GATEWAYS else 0.0)
    vector.append(1.0 if currency_matches else 0.0)
    return vector


def row_features(row: ExceptionCase, company_currency: str, now: dt.datetime) -> list[float]:
    return features(
        row.type,
        row.amount_at_risk,
        row.details,
        currency_matches=row.currency == company_currency,
        age_days=max((now - row.created_at).total_seconds(), 0) / 86_400,
        occurrences=row.occurrences,
    )


class Classifier:
    """Gradient-boosted trees on :data:`FEATURES`; suggests only classes allowed for the row's type."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes: list[str] = list(model.classes_)

    @classmethod
    def train(cls, X: Sequence[Sequence[float]], y: Sequence[str]) -> Classifier | None:
        """None when there is too little to learn from (:data:`MIN_LABELS`, two classes at least)."""
        np, ensemble = load("mismatch triage", "numpy", "sklearn.ensemble")
        if len(y) < MIN_LABELS or len(set(y)) < 2:
            return None
        GradientBoostingClassifier = ensemble.GradientBoostingClassifier

        model = GradientBoostingClassifier(n_estimators=60, max_depth=3, learning_rate=0.2, random_state=0)
        model.fit(np.asarray(X, dtype=float), np.asarray(y))
        return cls(model)

    def suggest_many(self, X: Sequence[Sequence[float]], types: Sequence[str]) -> list[Suggestion | None]:
        np = load("mismatch triage", "numpy")
        if not len(X):
            return []
        probabilities = self.model.predict_proba(np.asarray(X, dtype=float))
        found: list[Suggestion | None] = []
        for row, type in zip(probabilities, types, strict=True):
            allowed = set(rules.classes_for(type))
            best = max(
                ((p, name) for p, name in zip(row, self.classes, strict=True) if name in allowed),
                default=None,
            )
            if best is None or best[0] <= 0:
                found.append(None)
                continue
            confidence = Decimal(str(float(best[0]))).quantize(CONFIDENCE)  # float-ok: model features
            found.append(Suggestion(best[1], confidence))
        return found

    def predict(self, X: Sequence[Sequence[float]]) -> list[str]:
        np = load("mismatch triage", "numpy")
        return [str(name) for name in self.model.predict(np.asarray(X, dtype=float))]


def _set(row: ExceptionCase, klass: str | None, confidence: Decimal | None, source: str | None) -> None:
    row.exception_class, row.class_confidence, row.class_source = klass, confidence, source
    row.stake = monitoring.stake(row.severity, row.amount_at_risk, klass)


def triage(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    retrain: bool = True,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Classify the company's unresolved exceptions of the triaged types: a person's class stays, the
    rules' comes next, the classifier (trained here on the company's labelled rows) suggests the rest.
    The stake (the priority without its age) follows each class. Records ``ExceptionsTriaged``."""
    now = now or utcnow()
    rows = list(
        session.scalars(
            select(ExceptionCase)
            .where(ExceptionCase.company_id == company.id, ExceptionCase.type.in_(rules.TRIAGED_TYPES))
            .order_by(ExceptionCase.id)
            .with_for_update()
        )
    )
    for row in rows:  # the rules first, so their classes are labels too
        if row.class_source != "person":
            klass = rules.rule_class(row.type, row.details)
            if klass is not None:
                _set(row, klass, Decimal(1), "rule")
    labelled = [row for row in rows if row.class_source in ("rule", "person") and row.exception_class]
    classifier = None
    if retrain:
        classifier = Classifier.train(
            [row_features(row, company.currency, now) for row in labelled],
            [str(row.exception_class) for row in labelled],
        )
    open_rows = [row for row in rows if row.status in UNRESOLVED]
    counts = {"rule": 0, "model": 0, "person": 0, "undecided": 0}
    undecided = [row for row in open_rows if row.class_source not in ("rule", "person")]
    suggestions = (
        classifier.suggest_many(
            [row_features(row, company.currency, now) for row in undecided], [row.type for row in undecided]
        )
        if classifier is not None
        else [None] * len(undecided)
    )
    suggested = dict(zip([row.id for row in undecided], suggestions, strict=True))
    for done, row in enumerate(open_rows, start=1):
        if row.id in suggested:
            suggestion = suggested[row.id]
            if suggestion is None:
                _set(row, None, None, None)
            else:
                _set(row, suggestion.exception_class, suggestion.confidence, "model")
        counts[row.class_source or "undecided"] += 1
        if progress is not None:
            progress(done, len(open_rows))
    session.flush()
    result = {
        "examined": len(open_rows),
        "by_rule": counts["rule"],
        "by_model": counts["model"],
        "by_person": counts["person"],
        "undecided": counts["undecided"],
        "training_rows": len(labelled),
        "model_used": classifier is not None,
    }
    record_event(
        session,
        ctx,
        type="ExceptionsTriaged",
        company_id=company.id,
        aggregate_type=monitoring.AGGREGATE,
        aggregate_id=company.id,
        payload=result,
    )
    return result


def set_class(
    session: Session,
    ctx: CommandContext,
    company: Company,
    exception_id: uuid.UUID,
    *,
    exception_class: str,
    note: str = "",
) -> ExceptionCase:
    """A person's class for an exception (any status: a resolved row's class is still a label). It wins
    over the rules and the model, and records ``ExceptionClassified``."""
    row = monitoring.get(session, ctx, company, exception_id, lock=True)
    allowed = rules.classes_for(row.type)
    if exception_class not in allowed:
        allowed_text = ", ".join(allowed) or "none (this type is not triaged)"
        raise ValidationFailed(
            f"{exception_class!r} is not a class of {row.type} exceptions (classes: {allowed_text})",
            problems=[FieldProblem("exception_class", f"one of: {allowed_text}")],
        )
    previous = (row.exception_class, row.class_source)
    _set(row, exception_class, Decimal(1), "person")
    return monitoring.note_change(
        session,
        ctx,
        row,
        event_type="ExceptionClassified",
        note=note,
        extra={
            "exception_class": exception_class,
            "previous_class": previous[0],
            "previous_source": previous[1],
        },
    )
