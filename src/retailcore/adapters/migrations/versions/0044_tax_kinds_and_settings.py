"""tax kinds and a company's tax rounding conventions

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07 10:40:00

* ``taxes``: ``kind`` (``percent``, ``fixed``, ``division``, ``group``; existing rows: ``percent``, as
  before), ``amount`` (a fixed tax's amount per unit), ``affects_base`` (cascading; existing rows:
  false, as before) and ``parent_code`` (a group's child names its group).
* ``tax_settings``: one row per company that set its conventions (``rounding``,
  ``included_rounding``, ``included_remainder``); no row keeps the defaults, so existing books do not
  change (decision 0058).

Plain DDL; no live service code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _filled(table: str, column: sa.Column, value: object) -> None:
    """Add a NOT NULL column to a table that may hold rows: nullable, filled, then NOT NULL."""
    name = column.name
    column.nullable = True
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(column)
    op.get_bind().execute(sa.table(table, sa.column(name, column.type)).update().values({name: value}))
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(name, existing_type=column.type, nullable=False)


def upgrade() -> None:
    _filled("taxes", sa.Column("kind", sa.String(length=16), nullable=False), "percent")
    _filled("taxes", sa.Column("affects_base", sa.Boolean(), nullable=False), False)
    with op.batch_alter_table("taxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount", orm.Amount(), nullable=True))
        batch_op.add_column(sa.Column("parent_code", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_taxes_kind"), "kind IN ('percent', 'fixed', 'division', 'group')"
        )
    op.create_table(
        "tax_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("included_rounding", sa.String(length=16), nullable=False),
        sa.Column("included_remainder", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "rounding IN ('per_tax', 'line', 'global')", name=op.f("ck_tax_settings_rounding")
        ),
        sa.CheckConstraint(
            "included_rounding IN ('tax_first', 'base_first')", name=op.f("ck_tax_settings_included_rounding")
        ),
        sa.CheckConstraint(
            "included_remainder IN ('last', 'first')", name=op.f("ck_tax_settings_included_remainder")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_tax_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_tax_settings")),
    )


def downgrade() -> None:
    op.drop_table("tax_settings")
    with op.batch_alter_table("taxes", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_taxes_kind"), type_="check")
        batch_op.drop_column("parent_code")
        batch_op.drop_column("amount")
        batch_op.drop_column("affects_base")
        batch_op.drop_column("kind")
