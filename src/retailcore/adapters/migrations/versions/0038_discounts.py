"""discounts: per-line discount records, manual discount limits, contra-revenue posting

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 08:00:00

* ``order_lines.discounts``: the discounts a line's ``discount`` sums, each with its source (JSON, null
  when none; lines written before read their bare ``discount`` as one manual discount, no backfill).
* ``discount_policies``: the most a cashier may give by hand on a POS line, per company or store.
* ``discount_settings``: per company, ``posting`` ``net`` (as before; also without a row) or ``contra``.
* Companies set up before: on the generic chart, account 4020 (role ``sales_discounts``) where the code
  and the role are free; the rules ``pos-session-close``, ``invoice-to-receivable`` and
  ``order-fulfilled`` get the two discount lines (frozen copies) they lack. Those lines read a
  ``discounts`` list only a contra-posting company's events carry, so past events post as before.
  Decision 0050.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _discount_lines(label: str) -> list[dict[str, Any]]:
    return [
        {
            "side": "credit",
            "account_role": "sales_revenue",
            "amount": "amount",
            "label": f"{label} discounts {{product_category}}",
            "for_each": "discounts",
        },
        {
            "side": "debit",
            "account_role": "sales_discounts",
            "amount": "amount",
            "label": f"{label} discounts {{product_category}}",
            "for_each": "discounts",
        },
    ]


RULE_LABELS = {
    "pos-session-close": "POS sales",
    "invoice-to-receivable": "Invoice",
    "order-fulfilled": "Sales",
}
ACCOUNT = ("4020", "Sales discounts given", "income", "sales_discounts")

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
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


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discounts", sa.JSON(), nullable=True))
    op.create_table(
        "discount_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("posting", sa.String(length=8), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("posting IN ('net', 'contra')", name=op.f("ck_discount_settings_posting")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_discount_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_discount_settings")),
    )
    op.create_table(
        "discount_policies",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("max_percent", orm.Amount(), nullable=True),
        sa.Column("max_amount", orm.Amount(), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "max_percent IS NULL OR max_percent >= 0",
            name=op.f("ck_discount_policies_max_percent"),
        ),
        sa.CheckConstraint(
            "max_amount IS NULL OR max_amount >= 0", name=op.f("ck_discount_policies_max_amount")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_discount_policies_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_discount_policies_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_policies")),
        sa.UniqueConstraint("company_id", "store_id", name=op.f("uq_discount_policies_company_id_store_id")),
    )
    op.create_index(
        op.f("ix_discount_policies_company_id"), "discount_policies", ["company_id"], unique=False
    )
    _existing_companies()


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for rule_id, code, lines in bind.execute(
        sa.select(_rules.c.id, _rules.c.code, _rules.c.lines).where(_rules.c.code.in_(list(RULE_LABELS)))
    ).all():
        lines = list(lines or [])
        if any(line.get("for_each") == "discounts" for line in lines):
            continue
        bind.execute(
            _rules.update()
            .where(_rules.c.id == rule_id)
            .values(lines=lines + _discount_lines(RULE_LABELS[code]))
        )
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
        sa.select(_rules.c.id, _rules.c.lines).where(_rules.c.code.in_(list(RULE_LABELS)))
    ).all():
        kept = [line for line in (lines or []) if line.get("for_each") != "discounts"]
        bind.execute(_rules.update().where(_rules.c.id == rule_id).values(lines=kept))
    op.drop_index(op.f("ix_discount_policies_company_id"), table_name="discount_policies")
    op.drop_table("discount_policies")
    op.drop_table("discount_settings")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("discounts")
