"""Labelled payment mismatches for the triage classifier's measurement: a channel's
``payment-mismatch`` flag (what Shopify paid against the order's total) made from a known cause, with
the details and money at risk its producer (:mod:`retailcore.connectors.raising`) writes on the
exception. The rules decide only a paid-twice duplicate of these; the classifier has to tell the rest
apart from the amounts, the days since the capture, the gateway and the currency.

Deterministic: ``random.Random(seed)``. Causes and how each shows (docs/intelligence.md):

- ``fee_difference``: paid the total less a fee of 1.4-3.4 % + 0.25 (a gateway netting its fee).
- ``amount_difference``: a partial capture, 20-95 % of the total paid.
- ``duplicate``: captured twice; the second capture net of the fee, so only sometimes exactly twice.
- ``fx_difference``: settled in another currency, within 0.3-4 % either way.
- ``timing``: nothing paid yet, 1-6 days after the capture.
- ``chargeback``: the payment taken back (less or more by the dispute fee), 15-60 days after.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from retailcore.connectors.raising import flag_amount

CAUSES = ("fee_difference", "amount_difference", "duplicate", "fx_difference", "timing", "chargeback")
CENT = Decimal("0.01")
GATEWAYS = ("shopify", "stripe", "adyen", "amazon")


@dataclass(frozen=True)
class Sample:
    type: str
    amount_at_risk: Decimal
    details: dict[str, Any]
    currency_matches: bool
    age_days: float
    label: str


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _share(total: Decimal, rate: float) -> Decimal:
    """A drawn share of an amount, in Decimal: the draw is a float, the money never is."""
    return _money(total * Decimal(repr(rate)))


def sample(rng: random.Random, cause: str) -> Sample:
    total = _money(rng.lognormvariate(4.0, 0.8))
    foreign = rng.random() < 0.15  # some orders are sold in another currency whatever the cause
    days = rng.uniform(0, 10)
    if cause == "fee_difference":
        paid = total - _share(total, rng.uniform(0.014, 0.034)) - Decimal("0.25")
    elif cause == "amount_difference":
        paid = _share(total, rng.uniform(0.2, 0.95))
    elif cause == "duplicate":
        paid = total * 2 if rng.random() < 0.4 else total + _share(total, rng.uniform(0.95, 0.99))
    elif cause == "fx_difference":
        paid = _share(total, 1 + rng.choice((-1, 1)) * rng.uniform(0.003, 0.04))
        foreign = rng.random() < 0.85  # mostly: the rate of a foreign sale; sometimes ours was off
    elif cause == "timing":
        paid, days = Decimal("0.00"), rng.uniform(1, 6)
    elif cause == "chargeback":
        paid, days = total - total - _money(rng.uniform(0, 20)) * rng.choice((0, 1)), rng.uniform(15, 60)
    else:
        raise ValueError(f"unknown cause {cause!r}")
    flag = {
        "kind": "payment-mismatch",
        "shopify_paid": str(paid),
        "order_total": str(total),
        "gateway": rng.choice(GATEWAYS),
        "days_since_capture": round(days, 2),
    }
    # What connectors.raising.landed writes on the exception.
    details = {**flag, "topic": "orders/paid", "external_id": str(rng.randrange(10**9))}
    amount = flag_amount("payment-mismatch", flag) or Decimal(0)
    return Sample("payment_mismatch", amount, details, not foreign, days, cause)


def labelled(count: int, seed: int = 0) -> list[Sample]:
    """``count`` samples, the causes in turn (balanced), each drawn from ``seed``."""
    rng = random.Random(seed)
    return [sample(rng, CAUSES[index % len(CAUSES)]) for index in range(count)]
