"""pos exchanges and gift cards sold at the till: order payments of kind ``exchange``, session totals of
kind ``gift_cards``; the exchange lines of the POS posting rules

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:00:00

Numbered 0022 on the till branch, after 0017: other branches add 0018 and later, and this revision is
re-chained onto the last of them at merge (only ``down_revision`` changes).

* ``order_payments.kind`` also takes ``exchange``: the part of a POS exchange's new goods paid by the
  goods it gave back (decision 0030).
* ``pos_session_totals.kind`` also takes ``gift_cards``: what a session's tickets sold in gift cards,
  credited to gift_card_liability by the close (the rule's ``gift_cards_sold`` line, in the rule since the first release).
* Companies set up before: their default ``pos-session-close`` and ``return-refunded`` rules, when
  finance never changed them (one version, in force since the ledger was set up), take the line that
  posts the exchange tender to ``refunds_payable`` (a frozen copy, placed after the tender lines as the
  rulebook has it). A rule finance changed is left as it is: its accountant adds the line (docs/pos.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("cash", "card", "gift_card", "store_credit", "on_account")
KINDS = (*KINDS_BEFORE, "exchange")
TOTALS_BEFORE = ("tax", "category", "tender", "cogs", "receivable")
TOTALS = (*TOTALS_BEFORE, "gift_cards")

NEW_LINES: dict[str, tuple[str, dict[str, Any]]] = {
    # rule code: (the list its tender lines walk, the line that follows them)
    "pos-session-close": (
        "tenders",
        {
            "side": "debit",
            "account_role": "refunds_payable",
            "amount": "amount",
            "label": "POS exchange",
            "for_each": "tenders",
            "where": {"kind": "exchange"},
        },
    ),
    "return-refunded": (
        "refunds",
        {
            "side": "credit",
            "account_role": "refunds_payable",
            "amount": "amount",
            "label": "Exchange",
            "for_each": "refunds",
            "where": {"kind": "exchange"},
        },
    ),
}

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("company_id", sa.Uuid()),
    sa.column("lines", sa.JSON()),
    sa.column("valid_from", sa.Date()),
    sa.column("active", sa.Boolean()),
)


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(kind) for kind in kinds)})"


def _with_line(lines: list[dict[str, Any]], walks: str, line: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's lines with ``line`` after its last tender line (one walking ``walks`` by kind)."""
    at = len(lines)
    for position, existing in enumerate(lines):
        if existing.get("for_each") == walks and "kind" in (existing.get("where") or {}):
            at = position + 1
    return [*lines[:at], line, *lines[at:]]


def _rules_of_existing_companies(add: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_rules.c.id, _rules.c.code, _rules.c.company_id, _rules.c.lines, _rules.c.valid_from)
        .add_columns(_rules.c.active)
        .where(_rules.c.code.in_(list(NEW_LINES)))
    ).all()
    versions: dict[tuple[Any, str], int] = {}
    for row in rows:
        versions[(row.company_id, row.code)] = versions.get((row.company_id, row.code), 0) + 1
    for row in rows:
        untouched = (
            versions[(row.company_id, row.code)] == 1 and row.valid_from == dt.date(1900, 1, 1) and row.active
        )
        if not untouched:
            continue
        walks, line = NEW_LINES[row.code]
        lines = list(row.lines or [])
        if add and line not in lines:
            lines = _with_line(lines, walks, line)
        elif not add and line in lines:
            lines = [existing for existing in lines if existing != line]
        else:
            continue
        bind.execute(_rules.update().where(_rules.c.id == row.id).values(lines=lines))


def upgrade() -> None:
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_payments_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(KINDS))
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(TOTALS))
    _rules_of_existing_companies(add=True)


def downgrade() -> None:
    """Refused by the database while an exchange payment or a gift card total exists (the narrower
    checks would not hold)."""
    _rules_of_existing_companies(add=False)
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(TOTALS_BEFORE))
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_payments_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(KINDS_BEFORE))
