"""The exceptions console's classes (mismatch triage, decision 0076, docs/intelligence.md "Mismatch
triage"): the class of every payment mismatch and stock exception, its weight in the priority, and the
rules that read a class from an exception's own details.

Pure functions of an exception's type and details, so the console classifies a row the moment its
producer raises it. They belong to the console, not to the classifier
(:mod:`retailcore.analytics.triage.services`), which only suggests a class where these rules cannot
decide and depends on the console, not the other way round.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

PAYMENT_CLASSES: dict[str, tuple[Decimal, str]] = {
    "fee_difference": (Decimal("1"), "the gateway's fee differs from the contract"),
    "amount_difference": (Decimal("1.5"), "settled or paid less or more than captured (partial capture)"),
    "settled_not_captured": (Decimal("2"), "the gateway settled a charge we never captured"),
    "refund_mismatch": (Decimal("1.5"), "a refund the books do not show, or of another amount"),
    "chargeback": (Decimal("2"), "a card dispute: the money is gone until the dispute is won"),
    "duplicate": (Decimal("2"), "the same charge settled or paid twice"),
    "fx_difference": (Decimal("0.5"), "an exchange-rate difference on a foreign-currency payment"),
    "timing": (Decimal("0.25"), "settles late: comes with a later payout by itself"),
}
STOCK_CLASSES: dict[str, tuple[Decimal, str]] = {
    "oversold": (Decimal("1.5"), "orders promise more than is on hand (a channel sold stock we lack)"),
    "sync_lag": (Decimal("0.5"), "a channel's quantity lags ours: the next stock push fixes it"),
    "shrink": (Decimal("2"), "stock gone without a sale: theft, damage, loss"),
    "miscount": (Decimal("1"), "the books or a count are wrong, not the shelf"),
    "receiving_error": (Decimal("1"), "received quantity differs from what was ordered or billed"),
    "price_difference": (Decimal("1"), "a vendor bill's price differs from the purchase order"),
}
CLASSES: dict[str, tuple[Decimal, str]] = {**PAYMENT_CLASSES, **STOCK_CLASSES}
"""Every class: ``(weight in the priority, what it means)``. The weight multiplies the severity's
(a lost euro weighs more than a late one); an exception without a class weighs 1."""

PAYMENT_TYPES = ("payment_mismatch", "bank_unmatched")
STOCK_TYPES = ("oversold", "negative_stock", "stock_mismatch", "bill_mismatch")
TRIAGED_TYPES = (*PAYMENT_TYPES, *STOCK_TYPES)
"""The exception types that get a class (the others keep none and weigh 1)."""

SOURCES = ("rule", "model", "person")

SETTLEMENT_KINDS = {
    "fee_difference": "fee_difference",
    "partial_capture": "amount_difference",
    "missing_capture": "settled_not_captured",
    "refund_unknown": "refund_mismatch",
    "chargeback": "chargeback",
    "duplicate": "duplicate",
    "currency_conversion": "fx_difference",
    "timing": "timing",
    # "unmatched": no capture or refund of ours matches; the settlement cannot tell why (the model may).
}
"""A settlement mismatch's kind (``settlements.services.classify``) -> its class."""


def classes_for(type: str) -> tuple[str, ...]:
    """The classes an exception of ``type`` may have (none for the types triage leaves alone)."""
    if type in PAYMENT_TYPES:
        return tuple(PAYMENT_CLASSES)
    if type in STOCK_TYPES:
        return tuple(STOCK_CLASSES)
    return ()


def weight(klass: str | None) -> Decimal:
    return CLASSES[klass][0] if klass in CLASSES else Decimal(1)


def number(value: Any) -> Decimal | None:
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() else None


def rule_class(type: str, details: dict[str, Any] | None) -> str | None:
    """The class the producer's own details prove, or None when they cannot decide."""
    facts = details or {}
    if type == "payment_mismatch":
        if "mismatch_kind" in facts:  # the settlements' console row: one per gateway and kind
            return SETTLEMENT_KINDS.get(str(facts["mismatch_kind"]))
        if facts.get("kind") == "refund-mismatch":
            return "refund_mismatch"
        if facts.get("kind") == "payment-mismatch":
            paid, total = number(facts.get("shopify_paid")), number(facts.get("order_total"))
            # Paid exactly twice the total is a second capture; any other gap cannot be told apart
            # (fee, partial capture, exchange) from the amounts alone.
            if paid is not None and total and paid == 2 * total:
                return "duplicate"
        return None
    if type == "oversold":
        return "oversold"
    if type == "bill_mismatch":
        kinds = {str(m.get("kind")) for m in facts.get("mismatches") or [] if isinstance(m, dict)}
        if kinds == {"price"}:
            return "price_difference"
        if kinds == {"quantity"}:
            return "receiving_error"
        return None
    return None  # bank_unmatched, negative_stock, stock_mismatch: the details do not say why
