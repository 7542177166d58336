"""customers in the books, and where an invoiced POS sale's COGS is posted

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 10:45:00

* ``journal_lines.customer_id``: the customer dimension of receivable lines, with
  ``ix_journal_lines_customer`` (company, customer, date) for a customer's statement.
* ``customer_receivable_accounts``: a receivable account per customer or per customer group.
* ``payment_methods.split_receivable_per_customer``: a session's close credits what such a method paid
  on invoices to each customer's receivable.
* ``pos_cogs_settings`` (``pos_invoiced_cogs``: ``at_close`` | ``with_invoice``) and ``pos_invoice_cogs``
  (the COGS an invoice issued at the till posted itself). Decision 0060.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journal_lines") as batch:
        batch.add_column(sa.Column("customer_id", sa.Uuid(), nullable=True))
    op.create_index("ix_journal_lines_customer", "journal_lines", ["company_id", "customer_id", "date"])
    with op.batch_alter_table("payment_methods") as batch:
        batch.add_column(
            sa.Column(
                "split_receivable_per_customer", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    op.create_table(
        "customer_receivable_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("customer_group", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(customer_id IS NULL) <> (customer_group IS NULL)",
            name=op.f("ck_customer_receivable_accounts_customer_or_group"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_customer_receivable_accounts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_customer_receivable_accounts_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_receivable_accounts_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_receivable_accounts")),
        sa.UniqueConstraint(
            "company_id", "customer_id", name=op.f("uq_customer_receivable_accounts_company_id_customer_id")
        ),
        sa.UniqueConstraint(
            "company_id",
            "customer_group",
            name=op.f("uq_customer_receivable_accounts_company_id_customer_group"),
        ),
    )
    op.create_table(
        "pos_cogs_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("pos_invoiced_cogs", sa.String(length=16), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "pos_invoiced_cogs IN ('at_close', 'with_invoice')",
            name=op.f("ck_pos_cogs_settings_pos_invoiced_cogs"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_cogs_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_pos_cogs_settings")),
    )
    op.create_table(
        "pos_invoice_cogs",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("cost", orm.Amount(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_invoice_cogs_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_pos_invoice_cogs_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["pos_sessions.id"], name=op.f("fk_pos_invoice_cogs_session_id_pos_sessions")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_pos_invoice_cogs")),
    )
    op.create_index("ix_pos_invoice_cogs_session_id", "pos_invoice_cogs", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_pos_invoice_cogs_session_id", table_name="pos_invoice_cogs")
    op.drop_table("pos_invoice_cogs")
    op.drop_table("pos_cogs_settings")
    op.drop_table("customer_receivable_accounts")
    with op.batch_alter_table("payment_methods") as batch:
        batch.drop_column("split_receivable_per_customer")
    op.drop_index("ix_journal_lines_customer", table_name="journal_lines")
    with op.batch_alter_table("journal_lines") as batch:
        batch.drop_column("customer_id")
