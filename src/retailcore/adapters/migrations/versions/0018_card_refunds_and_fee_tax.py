"""returns: card refunds awaiting the gateway, restocking fee tax, two policy options

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 22:20:00

Adds ``return_card_refunds`` (card refunds left payable until the gateway confirms them), the policy
columns ``card_refunds_await_confirmation`` (existing rows: false, as before) and
``restocking_fee_taxable`` (existing rows: true, decision 0026), and to each company's
``return-refund-approved`` posting rule the line that credits a restocking fee's tax to output tax
(``fee_taxes``), where the rule has no such line yet. Written as data, no live service code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEE_TAX_LINE: dict[str, Any] = {
    "side": "credit",
    "account_role": "output_tax",
    "amount": "tax",
    "label": "Restocking fee {return_ref} tax {tax_code}",
    "for_each": "fee_taxes",
}


def _filled(table: str, column: sa.Column, value: object) -> None:
    """Add a NOT NULL column to a table that may hold rows: nullable, filled, then NOT NULL."""
    name = column.name
    column.nullable = True
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(column)
    op.get_bind().execute(sa.table(table, sa.column(name, column.type)).update().values({name: value}))
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(name, existing_type=column.type, nullable=False)


def _rules(add: bool) -> None:
    bind = op.get_bind()
    rules = sa.table(
        "posting_rules",
        sa.column("id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("lines", sa.JSON()),
        sa.column("version", sa.Integer()),
        sa.column("updated_at", orm.UTCDateTime()),
    )
    now = dt.datetime.now(dt.UTC)
    found = bind.execute(
        sa.select(rules.c.id, rules.c.lines, rules.c.version).where(rules.c.code == "return-refund-approved")
    ).all()
    for rule_id, lines, version in found:
        has = any(line.get("for_each") == "fee_taxes" for line in lines)
        if add and not has:
            lines = [*lines, FEE_TAX_LINE]
        elif not add and has:
            lines = [line for line in lines if line.get("for_each") != "fee_taxes"]
        else:
            continue
        bind.execute(
            rules.update()
            .where(rules.c.id == rule_id)
            .values(lines=lines, version=version + 1, updated_at=now)
        )


def upgrade() -> None:
    _filled("return_policies", sa.Column("card_refunds_await_confirmation", sa.Boolean()), False)
    _filled("return_policies", sa.Column("restocking_fee_taxable", sa.Boolean()), True)
    op.create_table(
        "return_card_refunds",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("return_number", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("tender_id", sa.Uuid(), nullable=True),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("resolved_at", orm.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'failed', 'reissued')",
            name=op.f("ck_return_card_refunds_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_return_card_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_return_card_refunds_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_return_card_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_return_card_refunds_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_card_refunds")),
    )
    with op.batch_alter_table("return_card_refunds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_return_card_refunds_status", ["company_id", "status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_return_card_refunds_gateway", ["company_id", "gateway", "reference"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_return_card_refunds_return_id"), ["return_id"], unique=False)
    _rules(add=True)


def downgrade() -> None:
    _rules(add=False)
    with op.batch_alter_table("return_card_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_card_refunds_return_id"))
        batch_op.drop_index("ix_return_card_refunds_gateway")
        batch_op.drop_index("ix_return_card_refunds_status")
    op.drop_table("return_card_refunds")
    with op.batch_alter_table("return_policies", schema=None) as batch_op:
        batch_op.drop_column("restocking_fee_taxable")
        batch_op.drop_column("card_refunds_await_confirmation")
