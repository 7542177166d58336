"""pos till: cash rounding (the company's setting, a rounding total, the rules' line); foreign-currency tills

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07 11:00:00

Numbered 0045 on the till branch (issue 20); re-chained onto the last revision at merge (only
``down_revision`` changes). Decision 0059.

* ``pos_cash_rounding``: one row per company (increment, mode), none until the company sets one.
* ``pos_session_totals.kind`` also takes ``rounding``: a session's cash rounding (sales under key
  ``""``, refunds under ``refund:``).
* Companies set up before: their default ``pos-session-close`` and ``return-refunded`` rules, when
  finance never changed them (one version, in force since the ledger was set up), take the line that
  posts ``cash_rounding`` to the ``rounding`` account (every chart template has had that role since the
  first release) at the end of their lines. A rule finance changed is left as it is: its accountant adds
  the line (docs/pos.md#cash-rounding).
* ``pos_terminals.currency`` (null: the company's), ``pos_sessions.currency`` and ``pos_sessions.rate``
  (fixed at the open); the rule ``pos-session-cost-of-sales`` (a frozen copy) for every company that
  has no rule of that code: a foreign-currency session's cost of sales, posted in the company's currency.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTALS_BEFORE = ("tax", "category", "tender", "cogs", "receivable", "gift_cards")
TOTALS = (*TOTALS_BEFORE, "rounding")

LINE: dict[str, Any] = {  # a frozen copy of the rulebook's line of this release
    "side": "credit",
    "account_role": "rounding",
    "amount": "cash_rounding",
    "label": "Cash rounding",
    "optional": True,
}
RULES = ("pos-session-close", "return-refunded")

COST_OF_SALES: dict[str, Any] = {  # a frozen copy of the rulebook's rule of this release
    "code": "pos-session-cost-of-sales",
    "name": "Cost of a foreign-currency POS session's sales, in the company's currency, at close",
    "event_type": "PosSessionCostOfSales",
    "journal_code": "POS",
    "priority": 100,
    "conditions": {},
    "lines": [
        {"side": "debit", "account_role": "cogs", "amount": "cost", "label": "POS COGS {product_category}",
         "for_each": "cogs"},
        {"side": "credit", "account_role": "$stock_role", "amount": "cost",
         "label": "POS stock out {product_category}", "for_each": "cogs"},
    ],
}  # fmt: skip

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    *(sa.column(name) for name in ("code", "name", "event_type", "journal_code")),
    *(sa.column(name) for name in ("priority", "valid_to", "active", "version")),
    sa.column("conditions", sa.JSON()),
    sa.column("lines", sa.JSON()),
    sa.column("valid_from", sa.Date()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
)


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(kind) for kind in kinds)})"


def _rules_of_existing_companies(add: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_rules.c.id, _rules.c.code, _rules.c.company_id, _rules.c.lines, _rules.c.valid_from)
        .add_columns(_rules.c.active)
        .where(_rules.c.code.in_(RULES))
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
        lines = list(row.lines or [])
        if add and LINE not in lines:
            lines = [*lines, LINE]
        elif not add and LINE in lines:
            lines = [line for line in lines if line != LINE]
        else:
            continue
        bind.execute(_rules.update().where(_rules.c.id == row.id).values(lines=lines))


def _cost_of_sales_rule() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    have = set(
        bind.execute(sa.select(_rules.c.company_id).where(_rules.c.code == COST_OF_SALES["code"])).scalars()
    )
    for raw in [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]:
        company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        if company_id in have:
            continue
        bind.execute(
            _rules.insert().values(
                id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                active=True, version=1, created_at=now, updated_at=now, **COST_OF_SALES,
            )
        )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "pos_cash_rounding",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("increment", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("increment > 0", name=op.f("ck_pos_cash_rounding_increment_positive")),
        sa.CheckConstraint("mode IN ('half_up', 'up', 'down')", name=op.f("ck_pos_cash_rounding_mode")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_cash_rounding_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_pos_cash_rounding")),
    )
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(TOTALS))
    _rules_of_existing_companies(add=True)
    with op.batch_alter_table("pos_terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("rate", orm.ExactDecimal(precision=19, scale=8), nullable=True))
    _cost_of_sales_rule()


def downgrade() -> None:
    """Refused by the database while a rounding total exists (the narrower check would not hold). The
    cost-of-sales rules stay (harmless, maybe posted to)."""
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.drop_column("rate")
        batch_op.drop_column("currency")
    with op.batch_alter_table("pos_terminals", schema=None) as batch_op:
        batch_op.drop_column("currency")
    _rules_of_existing_companies(add=False)
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(TOTALS_BEFORE))
    op.drop_table("pos_cash_rounding")
