"""period balances: the posted lines of closed months summed per account and store

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 01:45:00

Follows 0027 (settlements).

* ``period_balances``: one row per company, month (its first day), account and store with the month's
  posted debits, credits and line count (decision 0036).
* ``period_balances_through``: per company, the last day those rows cover, the last month end on or
  before the lock date (no row: no month closed).
* Companies whose books are already locked get the balances of their closed months here, in one
  ``INSERT ... SELECT ... GROUP BY`` each (frozen SQL, the same as ``accounting/balances.py`` runs when
  the lock date moves).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _closed_through(lock_date: dt.date) -> dt.date:
    """The last day of the last whole month on or before the lock date."""
    following = (lock_date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    if lock_date == following - dt.timedelta(days=1):
        return lock_date
    return lock_date.replace(day=1) - dt.timedelta(days=1)


def upgrade() -> None:
    op.create_table(
        "period_balances",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("debit", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("credit", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_period_balances_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_period_balances_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_balances")),
    )
    op.create_index(
        "ix_period_balances_company_month", "period_balances", ["company_id", "month", "account_id"]
    )
    op.create_table(
        "period_balances_through",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_period_balances_through_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_period_balances_through")),
    )

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        month = "CAST(date_trunc('month', date) AS date)"
    else:
        month = "date(date, 'start of month')"
    locked = bind.execute(
        sa.text("SELECT company_id, lock_date FROM ledger_settings WHERE lock_date IS NOT NULL")
    ).all()
    for company_id, lock_date in locked:  # the company id goes back as it was read (hex text on SQLite)
        if isinstance(lock_date, str):
            lock_date = dt.date.fromisoformat(lock_date)
        through = _closed_through(lock_date)
        bind.execute(
            sa.text(
                "INSERT INTO period_balances (company_id, month, account_id, store_id, debit, credit,"
                " line_count)"
                f" SELECT company_id, {month}, account_id, store_id, SUM(debit), SUM(credit), COUNT(*)"
                " FROM journal_lines"
                " WHERE company_id = :company AND state = 'posted' AND date <= :through"
                f" GROUP BY company_id, {month}, account_id, store_id"
            ).bindparams(sa.bindparam("through", type_=sa.Date())),
            {"company": company_id, "through": through},
        )
        bind.execute(
            sa.text(
                "INSERT INTO period_balances_through (company_id, through) VALUES (:company, :through)"
            ).bindparams(sa.bindparam("through", type_=sa.Date())),
            {"company": company_id, "through": through},
        )


def downgrade() -> None:
    op.drop_table("period_balances_through")
    op.drop_index("ix_period_balances_company_month", table_name="period_balances")
    op.drop_table("period_balances")
