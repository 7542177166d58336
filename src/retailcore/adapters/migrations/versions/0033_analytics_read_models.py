"""analytics: the KPI read models (daily sales, baskets, returns and counts)

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-07 05:00:00

* ``analytics_daily_sales`` (company, day, store, channel, category), ``analytics_daily_baskets``
  (company, day, store, channel), ``analytics_daily_returns`` (company, day, store, channel, reason,
  category) and ``analytics_daily_counts`` (company, day, store): sums the ``/kpis`` API reads
  (docs/analytics.md, decision 0043).
* The tables are created empty: the facts recorded from now on feed them in their own transactions;
  what was recorded before the upgrade gets in with ``retailcore analytics rebuild`` (live code, run
  once after ``retailcore db upgrade``; a migration does not call it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0033"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _amount(name: str) -> sa.Column:
    return sa.Column(name, orm.ExactDecimal(precision=19, scale=4), nullable=False)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def _keys(*extra: sa.Column) -> list[sa.Column]:
    return [
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        *extra,
    ]


def upgrade() -> None:
    op.create_table(
        "analytics_daily_sales",
        *_keys(
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("category", sa.String(length=200), nullable=False),
        ),
        _amount("net"),
        _amount("cost"),
        _amount("list_amount"),
        _amount("discount"),
        _amount("units"),
        _count("lines"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("company_id", "day", "store_id", "channel", "category"),
    )
    op.create_table(
        "analytics_daily_baskets",
        *_keys(sa.Column("channel", sa.String(length=16), nullable=False)),
        _count("baskets"),
        _amount("net"),
        _amount("units"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("company_id", "day", "store_id", "channel"),
    )
    op.create_table(
        "analytics_daily_returns",
        *_keys(
            sa.Column("channel", sa.String(length=16), nullable=False),
            sa.Column("reason", sa.String(length=32), nullable=False),
            sa.Column("category", sa.String(length=200), nullable=False),
        ),
        _amount("net"),
        _amount("units"),
        _count("lines"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("company_id", "day", "store_id", "channel", "reason", "category"),
    )
    op.create_table(
        "analytics_daily_counts",
        *_keys(),
        _count("sheets"),
        _count("lines_counted"),
        _count("lines_exact"),
        _count("lines_within_tolerance"),
        _amount("gain_value"),
        _amount("loss_value"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("company_id", "day", "store_id"),
    )


def downgrade() -> None:
    for name in (
        "analytics_daily_counts",
        "analytics_daily_returns",
        "analytics_daily_baskets",
        "analytics_daily_sales",
    ):
        op.drop_table(name)
