"""Which accounts a till's revenue and cost of sales go to (decision 0061): a product's own income and
expense accounts, else the roles' (``sales_revenue``, ``sales_returns`` for refunds, ``cogs``).

The session's running totals keep revenue per category (kind ``category``) and COGS per
``category|stock_role`` (kind ``cogs``). A product with its own income account keeps its revenue apart
under ``category|income account``, one with its own expense account its COGS under
``category|stock_role|expense account``; the close still aggregates (one line per category and account,
taxes per code) and names the account on the item, which the posting engine uses for that role."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from retailcore.inventory.costing import own_accounts

SEPARATOR = "|"


class Own(NamedTuple):
    income: Mapping[uuid.UUID, str]
    expense: Mapping[uuid.UUID, str]


NONE = Own({}, {})


def _product(line: Mapping[str, Any]) -> uuid.UUID | None:
    product_id = line.get("product_id")
    return uuid.UUID(str(product_id)) if product_id is not None else None


def accounts_of(session: Session, lines: Iterable[Mapping[str, Any]]) -> Own:
    """The own income and expense accounts of the lines' products (codes by product id), one query."""
    found = own_accounts(session, {p for p in map(_product, lines) if p is not None})
    return Own(
        {p: income for p, (income, _) in found.items() if income},
        {p: expense for p, (_, expense) in found.items() if expense},
    )


def key(category: str, line: Mapping[str, Any], income: Mapping[uuid.UUID, str]) -> str:
    """The running total's key of a line's revenue: its category, and its product's own account if any."""
    product_id = _product(line)
    account = income.get(product_id) if product_id is not None else None
    return f"{category}{SEPARATOR}{account}" if account else category


def cogs_key(
    category: str, stock_role: str, line: Mapping[str, Any], expense: Mapping[uuid.UUID, str]
) -> str:
    """The running total's key of a line's COGS: ``category|stock_role``, then its own expense account."""
    product_id = _product(line)
    account = expense.get(product_id) if product_id is not None else None
    return SEPARATOR.join((category, stock_role, *((account,) if account else ())))


def split(total_key: str) -> tuple[str, str | None]:
    """``(category, income account or None)`` of a revenue key."""
    category, _, account = total_key.partition(SEPARATOR)
    return category, account or None


def item(total_key: str, role: str, **amounts: Any) -> dict[str, Any]:
    """A close's (or refunds') revenue item of a key: the category, the amounts, and the account for
    ``role`` when the key names one (the posting engine's item-level override)."""
    category, account = split(total_key)
    return {"product_category": category, **amounts, **({"accounts": {role: account}} if account else {})}


def cogs_item(total_key: str, cost: Any) -> dict[str, Any]:
    """A close's (or an invoice's) COGS item of a ``cogs`` key."""
    category, _, rest = total_key.partition(SEPARATOR)
    stock_role, _, account = rest.partition(SEPARATOR)
    return {
        "product_category": category,
        "stock_role": stock_role,
        "cost": cost,
        **({"accounts": {"cogs": account}} if account else {}),
    }
