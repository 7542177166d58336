"""Which income account a till's revenue goes to (decision 0061): a product's own income account, else
the ``sales_revenue`` role's (``sales_returns`` for refunds).

The session's running totals keep revenue per category (kind ``category``); a product with its own
income account keeps its revenue apart under the key ``category|account`` (as COGS keys are
``category|stock_role``), so the close credits that account and the session's refunds debit it, while
the close still aggregates: one line per (category, income account), taxes per code."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from retailcore.inventory.costing import income_accounts

SEPARATOR = "|"


def accounts_of(session: Session, lines: Iterable[Mapping[str, Any]]) -> dict[uuid.UUID, str]:
    """The own income accounts of the lines' products (code by product id), one query."""
    ids = {uuid.UUID(str(line["product_id"])) for line in lines if line.get("product_id") is not None}
    return income_accounts(session, ids)


def key(category: str, line: Mapping[str, Any], income: Mapping[uuid.UUID, str]) -> str:
    """The running total's key of a line's revenue: its category, and its product's own account if any."""
    product_id = line.get("product_id")
    account = income.get(uuid.UUID(str(product_id))) if product_id is not None else None
    return f"{category}{SEPARATOR}{account}" if account else category


def split(total_key: str) -> tuple[str, str | None]:
    """``(category, income account or None)`` of a revenue key."""
    category, _, account = total_key.partition(SEPARATOR)
    return category, account or None


def item(total_key: str, role: str, **amounts: Any) -> dict[str, Any]:
    """A close's (or refunds') revenue item of a key: the category, the amounts, and the account for
    ``role`` when the key names one (the posting engine's item-level override)."""
    category, account = split(total_key)
    return {"product_category": category, **amounts, **({"accounts": {role: account}} if account else {})}
