"""Matching bank statement entries to what our books expect to reach the bank, with a tolerance.

What is expected is loaded once per import, one query per kind (``services``), never a query per entry:

- **payouts** (credits): settlement batches of the gateways whose ``bank_account`` is this bank
  account's ledger account, not yet matched; the amount is the batch's payout line, else the sum of its
  lines' net (what sits in transit); the date the payout date, else the batch's last line;
- **cash deposits** (credits): deposits the stores recorded into this bank account, still pending;
- **supplier payments** (debits): posted vendor bills in the account's currency not yet paid.

An entry takes, in order: an item whose reference (batch reference, slip number, bill number or the
supplier's invoice reference) appears as a whole word in the entry's texts (``AcctSvcrRef``, ``EndToEndId``,
remittance information) with an amount within the tolerance; else, for payouts and deposits only, the
item closest in amount within the tolerance and in date within the window (ties: the closest date,
then the oldest item). A bill is never matched on amount alone: two bills of one amount are common.
Each item is taken once. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from retailcore.banking.camt053 import ParsedEntry


@dataclass(frozen=True)
class Expected:
    """Something our books expect on the bank account, signed as the bank would book it."""

    kind: str  # payout, cash_deposit, supplier_payment
    id: uuid.UUID
    amount: Decimal
    date: dt.date
    references: tuple[str, ...]
    by_amount: bool = True
    """Whether an amount and date alone may match it (not bills)."""
    tolerance: Decimal | None = None
    """How far the bank's amount may be from ``amount`` for this item, when not the bank account's
    tolerance (foreign cash, converted at the bank's rate: ``amount`` is its booked value)."""


def _texts(entry: ParsedEntry) -> str:
    return " ".join(part for part in (entry.reference, entry.end_to_end_id, entry.remittance) if part).upper()


def _names(text: str, reference: str) -> bool:
    """The reference appears in the text as a whole token (``42`` is not in ``TX4815162342XT``)."""
    if not reference:
        return False
    pattern = rf"(?<![A-Z0-9]){re.escape(reference.upper())}(?![A-Z0-9])"
    return re.search(pattern, text) is not None


def match(
    entries: list[tuple[uuid.UUID, ParsedEntry]],
    expected: list[Expected],
    tolerance: Decimal,
    window_days: int,
) -> dict[uuid.UUID, Expected]:
    """The item each entry (by its id) matches; entries matching nothing are left out."""
    taken: set[uuid.UUID] = set()
    found: dict[uuid.UUID, Expected] = {}
    window = dt.timedelta(days=window_days)
    # Pass 1: by reference, every entry first (a reference is worth more than a close amount).
    for entry_id, entry in entries:
        text = _texts(entry)
        for item in expected:
            if item.id in taken or (item.amount > 0) != (entry.amount > 0):
                continue
            if abs(item.amount - entry.amount) > (tolerance if item.tolerance is None else item.tolerance):
                continue
            if any(_names(text, ref) for ref in item.references):
                found[entry_id] = item
                taken.add(item.id)
                break
    # Pass 2: by amount and date.
    for entry_id, entry in entries:
        if entry_id in found:
            continue
        best: tuple[Decimal, int, dt.date] | None = None
        choice = None
        for item in expected:
            if item.id in taken or not item.by_amount or (item.amount > 0) != (entry.amount > 0):
                continue
            gap = abs(item.amount - entry.amount)
            if gap > tolerance or abs(entry.booked_on - item.date) > window:
                continue
            rank = (gap, abs((entry.booked_on - item.date).days), item.date)
            if best is None or rank < best:
                best, choice = rank, item
        if choice is not None:
            found[entry_id] = choice
            taken.add(choice.id)
    return found
