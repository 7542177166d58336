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
    income: Mapping[Any, str]
    """Income account code by product id, as a UUID and as text."""
    expense: Mapping[Any, str]


NONE = Own({}, {})


def _as_uuid(product_id: Any) -> uuid.UUID:
    return product_id if isinstance(product_id, uuid.UUID) else uuid.UUID(str(product_id))


def accounts_of(session: Session, lines: Iterable[Mapping[str, Any]]) -> Own:
    """The own income and expense accounts of the lines' products (codes by product id), one query.

    The maps answer both a product's id and its text (the lines of a batch carry either), so the hot path
    below never parses an id; most products have no account of their own, and then both maps are empty
    and each line costs one truth test."""
    ids = {line.get("product_id") for line in lines} - {None}
    found = own_accounts(session, {_as_uuid(p) for p in ids})
    income: dict[Any, str] = {}
    expense: dict[Any, str] = {}
    for product_id, (income_account, expense_account) in found.items():
        for product_key in (product_id, str(product_id)):
            if income_account:
                income[product_key] = income_account
            if expense_account:
                expense[product_key] = expense_account
    return Own(income, expense)


def _own(line: Mapping[str, Any], accounts: Mapping[Any, str]) -> str | None:
    product_id = line.get("product_id")
    if product_id is None:
        return None
    found = accounts.get(product_id)
    if found is None and not isinstance(product_id, uuid.UUID):  # text in another spelling of the id
        found = accounts.get(_as_uuid(product_id))
    return found


def key(category: str, line: Mapping[str, Any], income: Mapping[Any, str]) -> str:
    """The running total's key of a line's revenue: its category, and its product's own account if any."""
    account = _own(line, income) if income else None
    return f"{category}{SEPARATOR}{account}" if account else category


def cogs_key(category: str, stock_role: str, line: Mapping[str, Any], expense: Mapping[Any, str]) -> str:
    """The running total's key of a line's COGS: ``category|stock_role``, then its own expense account."""
    account = _own(line, expense) if expense else None
    return (
        f"{category}{SEPARATOR}{stock_role}{SEPARATOR}{account}"
        if account
        else f"{category}{SEPARATOR}{stock_role}"
    )


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
