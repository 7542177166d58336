"""hardening: a till's clock window, token expiry and last use, unpaid orders' payment due time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 16:00:00

* ``companies``: the window around the server's clock in which a POS sale's ``sold_at`` is believed
  (30 days back, 1 day ahead), what a sale outside it gets (``book_on_receipt``), and how long a
  confirmed web order with nothing paid keeps its stock (24 hours). Decision 0015.
* ``api_tokens``: who created and revoked each token, when it expires, and when it was last used.
* ``orders``: ``payment_due_at``, the instant an unpaid confirmed order is cancelled by the sweep, with
  a partial index for the sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0015"
down_revision: str | None = "0014"
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
    _filled("companies", sa.Column("sale_clock_past_days", sa.Integer()), 30)
    _filled("companies", sa.Column("sale_clock_future_days", sa.Integer()), 1)
    _filled("companies", sa.Column("sale_clock_policy", sa.String(length=16)), "book_on_receipt")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unpaid_order_hold_minutes", sa.Integer(), nullable=True))
    op.get_bind().execute(sa.text("UPDATE companies SET unpaid_order_hold_minutes = 1440"))
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "sale_clock_window", "sale_clock_past_days >= 0 AND sale_clock_future_days >= 0"
        )
        batch_op.create_check_constraint(
            "sale_clock_policy", "sale_clock_policy IN ('book_on_receipt', 'refuse')"
        )
        batch_op.create_check_constraint(
            "unpaid_order_hold", "unpaid_order_hold_minutes IS NULL OR unpaid_order_hold_minutes > 0"
        )

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("expires_at", orm.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", orm.UTCDateTime(), nullable=True))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_due_at", orm.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_orders_payment_due",
        "orders",
        ["company_id", "payment_due_at"],
        unique=False,
        sqlite_where=sa.text("payment_due_at IS NOT NULL"),
        postgresql_where=sa.text("payment_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_payment_due", table_name="orders")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("payment_due_at")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("created_by")
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_companies_unpaid_order_hold"), type_="check")
        batch_op.drop_constraint(op.f("ck_companies_sale_clock_policy"), type_="check")
        batch_op.drop_constraint(op.f("ck_companies_sale_clock_window"), type_="check")
        batch_op.drop_column("unpaid_order_hold_minutes")
        batch_op.drop_column("sale_clock_policy")
        batch_op.drop_column("sale_clock_future_days")
        batch_op.drop_column("sale_clock_past_days")
