"""Adyen's Settlement details report (CSV, one payout batch; amounts unsigned, Debit or Credit).

Read by header name (FORMATS.md 2.2). Net is ``Net Credit (NC) - Net Debit (NC)``, the fee the sum of
``Commission``, ``Markup``, ``Scheme Fees`` and ``Interchange`` (NC), and gross in the settlement currency
``net + fee`` (for a converted payment, ``Gross (GC) x Exchange Rate``). The key of a line is its
psp reference, journal type and batch (fee and payout lines: type, modification reference and batch).
"""

from __future__ import annotations

from decimal import Decimal

from retailcore.settlements import parsing as p

REQUIRED = (
    "Psp Reference",
    "Merchant Reference",
    "Creation Date",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Commission (NC)",
    "Markup (NC)",
    "Scheme Fees (NC)",
    "Interchange (NC)",
    "Batch Number",
)
FEES = ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)")


def kind_of(journal_type: str) -> str:
    if journal_type.startswith("Settled"):
        return "charge"
    if journal_type == "RefundedReversed":
        return "refund_failure"
    if journal_type.startswith("Refunded"):
        return "refund"
    if journal_type.startswith("ChargebackReversed"):
        return "dispute_reversal"
    if journal_type.startswith(("Chargeback", "SecondChargeback")):
        return "dispute"
    if journal_type in ("Fee", "MiscCosts", "PaymentCost", "InvoiceDeduction"):
        return "fee"
    if journal_type == "MerchantPayout":
        return "payout"
    return "adjustment"


def _unsigned(row: dict[str, str], column: str, number: int, code: str) -> Decimal:
    value = p.amount(row[column], number, column, code)
    if value < 0:
        raise p.FileRefused(number, f"{column}: {row[column]!r} is negative (Adyen amounts are unsigned)")
    return value


def parse(text: str) -> list[p.ParsedLine]:
    lines = []
    for number, row in p.rows(text, REQUIRED):
        journal_type = row["Type"].strip()
        if not journal_type:
            raise p.FileRefused(number, "Type: empty")
        kind = kind_of(journal_type)
        code = p.currency(row["Net Currency"], number, "Net Currency")
        net = _unsigned(row, "Net Credit (NC)", number, code) - _unsigned(row, "Net Debit (NC)", number, code)
        fee = sum((_unsigned(row, column, number, code) for column in FEES), Decimal(0))
        gross_currency = p.optional(row, "Gross Currency")
        original = original_gross = None
        if gross_currency is not None:
            gross_currency = p.currency(gross_currency, number, "Gross Currency")
            if gross_currency != code:
                original = gross_currency
                original_gross = p.amount(row["Gross Credit (GC)"], number, "Gross Credit (GC)") - p.amount(
                    row["Gross Debit (GC)"], number, "Gross Debit (GC)"
                )
        psp = p.optional(row, "Psp Reference")
        batch = p.optional(row, "Batch Number")
        modification = (row["Modification Reference"] or "").strip()
        key = f"{psp}|{journal_type}|{batch or ''}" if psp else f"{journal_type}|{modification}|{batch or ''}"
        lines.append(
            p.checked(
                p.ParsedLine(
                    line_number=number,
                    line_key=key[:200],
                    kind=kind,
                    gateway_type=journal_type,
                    occurred_on=p.date(row["Creation Date"], number, "Creation Date"),
                    currency=code,
                    gross=net + fee,
                    fee=fee,
                    net=net,
                    batch=batch,
                    reference=psp,
                    reference2=modification or None if psp else None,
                    order_ref=p.optional(row, "Merchant Reference"),
                    original_currency=original,
                    original_gross=original_gross,
                    description=modification[:500],
                )
            )
        )
    return lines
