"""Stripe's itemized balance and payout reconciliation reports (CSV, amounts in major units).

Read by header name (FORMATS.md 2.1): ``balance_transaction_id`` is the line's key; ``charge_id`` (the
original charge, also on refunds and disputes) and ``payment_intent_id`` are the references our card
payments carry; ``automatic_payout_id`` is the batch (a ``payout`` line is its own batch's payout);
``payment_metadata[order_id]`` our order. The customer's currency, when Stripe converted, is
``customer_facing_currency``.
"""

from __future__ import annotations

from retailcore.settlements import parsing as p

REQUIRED = ("balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category")
KINDS = {
    "charge": "charge",
    "refund": "refund",
    "refund_failure": "refund_failure",
    "partial_capture_reversal": "partial_capture_reversal",
    "dispute": "dispute",
    "dispute_reversal": "dispute_reversal",
    "fee": "fee",
    "network_cost": "fee",
    "payout": "payout",
    "payout_reversal": "payout",
}
"""Other reporting categories (``other_adjustment``, ``tax``...) are ``adjustment``: to review."""


def parse(text: str) -> list[p.ParsedLine]:
    lines = []
    for number, row in p.rows(text, REQUIRED):
        category = row["reporting_category"].strip()
        kind = KINDS.get(category, "adjustment")
        code = p.currency(row["currency"], number, "currency")
        source = p.optional(row, "source_id")
        batch = p.optional(row, "automatic_payout_id")
        if kind == "payout" and batch is None:
            batch = source
        facing = p.optional(row, "customer_facing_currency")
        original = p.currency(facing, number, "customer_facing_currency") if facing else None
        original_gross = None
        if original is not None and original != code:
            original_gross = p.amount(row.get("customer_facing_amount", ""), number, "customer_facing_amount")
        else:
            original = None
        reference = p.optional(row, "charge_id") or (source if source and source.startswith("ch_") else None)
        lines.append(
            p.checked(
                p.ParsedLine(
                    line_number=number,
                    line_key=row["balance_transaction_id"].strip(),
                    kind=kind,
                    gateway_type=category,
                    occurred_on=p.date(row["created_utc"], number, "created_utc"),
                    currency=code,
                    gross=p.amount(row["gross"], number, "gross", code, blank_is_zero=False),
                    fee=p.amount(row["fee"], number, "fee", code),
                    net=p.amount(row["net"], number, "net", code, blank_is_zero=False),
                    batch=batch,
                    reference=reference,
                    reference2=p.optional(row, "payment_intent_id"),
                    order_ref=p.optional(row, "payment_metadata[order_id]"),
                    original_currency=original,
                    original_gross=original_gross,
                    description=(row.get("description") or "")[:500],
                )
            )
        )
        if not lines[-1].line_key:
            raise p.FileRefused(number, "balance_transaction_id: empty")
    return lines
