"""order shipping: a shipping charge on web, marketplace and b2b orders, posted to shipping revenue

Revision ID: 0043
Revises: 0039
Create Date: 2026-12-07 11:00:00

* ``orders.shipping_*``: the charge before discounts, its discounts with their source, its tax category,
  method, net, tax and taxes (all null for an order without shipping, and for every order before).
* Companies set up before: on the generic chart, account 4030 "Shipping income" (role
  ``shipping_revenue``) where the code and the role are free; the rule ``order-fulfilled`` gets the four
  shipping lines (frozen copies) it lacks. They read ``shipping`` and ``shipping_discounts`` lists only an
  order with shipping carries, so past events post as before. Decision 0057.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0043"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _line(side: str, role: str, amount: str, label: str, for_each: str) -> dict[str, Any]:
    return {"side": side, "account_role": role, "amount": amount, "label": label, "for_each": for_each}


SHIPPING_LINES = [
    _line("credit", "shipping_revenue", "net", "Shipping {order_ref}", "shipping"),
    _line("credit", "output_tax", "tax", "Shipping tax {tax_code}", "shipping"),
    _line("credit", "shipping_revenue", "amount", "Shipping discounts {order_ref}", "shipping_discounts"),
    _line("debit", "sales_discounts", "amount", "Shipping discounts {order_ref}", "shipping_discounts"),
]
RULE = "order-fulfilled"
ACCOUNT = ("4030", "Shipping income", "income", "shipping_revenue")

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("lines", sa.JSON()),
)
_accounts = sa.table(
    "accounts",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("name", sa.String()),
    sa.column("type", sa.String()),
    sa.column("role", sa.String()),
    sa.column("reconcilable", sa.Boolean()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
    sa.column("version", sa.Integer()),
)

COLUMNS = (
    ("shipping_amount", orm.Amount),
    ("shipping_discount", orm.Amount),
    ("shipping_discounts", sa.JSON),
    ("shipping_tax_category", lambda: sa.String(length=32)),
    ("shipping_method", lambda: sa.String(length=64)),
    ("shipping_net", orm.Amount),
    ("shipping_tax", orm.Amount),
    ("shipping_taxes", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_(), nullable=True))
    _existing_companies()


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for rule_id, lines in bind.execute(
        sa.select(_rules.c.id, _rules.c.lines).where(_rules.c.code == RULE)
    ).all():
        lines = list(lines or [])
        if any(line.get("for_each") == "shipping" for line in lines):
            continue
        bind.execute(_rules.update().where(_rules.c.id == rule_id).values(lines=lines + SHIPPING_LINES))
    for (company_id,) in bind.execute(sa.text("SELECT id FROM companies")).all():
        company = uuid.UUID(str(company_id))
        accounts = {
            code: role
            for code, role in bind.execute(
                sa.select(_accounts.c.code, _accounts.c.role).where(_accounts.c.company_id == company)
            ).all()
        }
        if accounts.get("4010") != "sales_returns":
            continue  # not the generic chart: its accountant adds the account
        code, name, type_, role = ACCOUNT
        if role not in set(accounts.values()) and code not in accounts:
            bind.execute(
                _accounts.insert().values(
                    id=uuid.uuid4(), company_id=company, code=code, name=name, type=type_, role=role,
                    reconcilable=False, active=True, created_at=now, updated_at=now, version=1,
                )
            )  # fmt: skip


def downgrade() -> None:
    bind = op.get_bind()
    for rule_id, lines in bind.execute(
        sa.select(_rules.c.id, _rules.c.lines).where(_rules.c.code == RULE)
    ).all():
        kept = [
            line for line in (lines or []) if line.get("for_each") not in ("shipping", "shipping_discounts")
        ]
        bind.execute(_rules.update().where(_rules.c.id == rule_id).values(lines=kept))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
