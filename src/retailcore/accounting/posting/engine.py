"""The posting engine: a pure function from an event to draft lines, by rules that are data.

A rule says: for events of this type whose payload matches these conditions, write these lines. Each
rule line names an account by role (or, to pin one account, by code), a side, and where its amount
comes from in the payload:

.. code-block:: json

    {"for_each": "tenders", "where": {"kind": "card"}, "side": "debit",
     "account_role": "card_clearing", "amount": "amount", "label": "Card {gateway}"}

``for_each`` walks a list of the payload (one line per matching item); without it the line reads the
payload itself. An ``account_role`` of the form ``$field`` takes the role from that field of the item
(stock rules use ``$stock_role``: the role of the location the goods were in). An item may carry
``accounts``, a mapping of role to account code that overrides the role for that item's lines (a
product's own expense account for ``cogs``, decision 0061). An ``account_code`` of
the form ``$field`` takes the account's code from that field (settlement rules use
``$clearing_account``: the accounts of the gateway the event names, decision 0035).

Dimensions (``store_id``, ``channel``, ``product_category``, ``location_id``, ``customer_id``: kept
on receivable lines only, where it also chooses the customer's own receivable account) and the
tax fields (``tax_code``, ``tax_base``) come from the item, falling back to the payload. A negative
amount writes the opposite side; a zero amount writes nothing. Nothing here touches a database.

Payload contract for postable events: ``currency`` (ISO 4217, default the company's), ``date``
(ISO date, default the event's), amounts as decimal strings, lists of items as the rules expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

DIMENSIONS = ("store_id", "channel", "product_category", "location_id", "customer_id")


class PostingError(ValueError):
    """The event cannot be posted by this rule as it stands (missing amount, bad value)."""


@dataclass(frozen=True)
class RuleLine:
    side: Literal["debit", "credit"]
    amount: str
    account_role: str | None = None
    account_code: str | None = None
    for_each: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    optional: bool = False
    """A missing amount counts as zero (cash over/short, fees...) instead of refusing the event."""

    def __post_init__(self) -> None:
        if self.side not in ("debit", "credit"):
            raise ValueError(f"side must be debit or credit, not {self.side!r}")
        if (self.account_role is None) == (self.account_code is None):
            raise ValueError("a rule line names exactly one of account_role and account_code")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleLine:
        return cls(
            side=data["side"],
            amount=data["amount"],
            account_role=data.get("account_role"),
            account_code=data.get("account_code"),
            for_each=data.get("for_each"),
            where=dict(data.get("where") or {}),
            label=data.get("label", ""),
            optional=bool(data.get("optional", False)),
        )


@dataclass(frozen=True)
class Rule:
    code: str
    event_type: str
    journal_code: str
    lines: tuple[RuleLine, ...]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 100
    valid_from: dt.date = dt.date.min
    valid_to: dt.date | None = None
    id: Any = None

    def applies(self, event_type: str, payload: Mapping[str, Any], on: dt.date) -> bool:
        if event_type != self.event_type or on < self.valid_from:
            return False
        if self.valid_to is not None and on > self.valid_to:
            return False
        return matches(self.conditions, payload)


@dataclass(frozen=True)
class DraftLine:
    """A line before accounts are resolved and amounts converted to company currency."""

    side: Literal["debit", "credit"]
    amount: Decimal
    """Positive, in the transaction currency, not yet rounded."""
    account_role: str | None
    account_code: str | None
    label: str
    dimensions: Mapping[str, Any]
    tax_code: str | None = None
    tax_base: Decimal | None = None


def matches(conditions: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """``{"channel": "pos"}`` is equality; a list means one of; ``null`` means absent or null."""
    for name, expected in conditions.items():
        actual = data.get(name)
        if isinstance(expected, list):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True


def select_rule(
    rules: Iterable[Rule], event_type: str, payload: Mapping[str, Any], on: dt.date
) -> Rule | None:
    candidates = [r for r in rules if r.applies(event_type, payload, on)]
    return min(candidates, key=lambda r: (r.priority, r.code), default=None)


def to_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool | float):  # float-ok: refused, never converted
        raise PostingError(f"{what} must be a decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(value) if isinstance(value, str | int) else value
    except InvalidOperation:
        raise PostingError(f"{what} is not a number: {value!r}") from None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise PostingError(f"{what} is not a finite decimal: {value!r}")
    return amount


def _items(payload: Mapping[str, Any], line: RuleLine) -> Sequence[Mapping[str, Any]]:
    if line.for_each is None:
        return [payload]
    items = payload.get(line.for_each, [])
    if not isinstance(items, list):
        raise PostingError(f"'{line.for_each}' must be a list")
    return [{**_inherited(payload), **item} for item in items]


def _inherited(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if not isinstance(v, list | dict)}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def draft_lines(rule: Rule, payload: Mapping[str, Any]) -> list[DraftLine]:
    drafts: list[DraftLine] = []
    for line in rule.lines:
        for item in _items(payload, line):
            if not matches(line.where, item):
                continue
            if item.get(line.amount) is None:
                if line.optional:
                    continue
                raise PostingError(f"rule {rule.code}: the event has no '{line.amount}' amount")
            amount = to_decimal(item[line.amount], f"{line.for_each or 'event'}.{line.amount}")
            if amount == 0:
                continue
            side = line.side if amount > 0 else ("credit" if line.side == "debit" else "debit")
            role = line.account_role
            if role is not None and role.startswith("$"):
                role = item.get(role[1:])
                if not role:
                    raise PostingError(f"rule {rule.code}: the event has no '{line.account_role[1:]}' role")
            code = line.account_code
            overrides = item.get("accounts")
            if role is not None and isinstance(overrides, Mapping) and overrides.get(role):
                # The item names its own account for this role (a product's expense or income account).
                role, code = None, str(overrides[role])
            if code is not None and code.startswith("$"):
                code = item.get(code[1:])
                if not code:
                    raise PostingError(
                        f"rule {rule.code}: the event has no '{line.account_code[1:]}' account"
                    )
            tax_base = item.get("tax_base")
            drafts.append(
                DraftLine(
                    side=side,
                    amount=abs(amount),
                    account_role=role,
                    account_code=code,
                    label=line.label.format_map(_Blank(item)) if line.label else rule.code,
                    dimensions={d: item.get(d) for d in DIMENSIONS},
                    tax_code=item.get("tax_code"),
                    tax_base=to_decimal(tax_base, "tax_base") if tax_base is not None else None,
                )
            )
    return drafts
