"""gift cards and store credit: balances, their append-only movements, the company's gift card policy

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:00:00

* ``gift_cards``: one row per card, found by the SHA-256 of its code (the code itself is never stored;
  decision 0023), with its balance (never negative), state, origin and expiry.
* ``gift_card_movements``: issue, redeem, reload, refund, expire; the balance is their sum.
* ``store_credit_accounts`` / ``store_credit_movements``: a customer's store credit and its movements.
* ``gift_card_policies``: months to expiry and when breakage is recognised, per company.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _amount() -> orm.ExactDecimal:
    return orm.ExactDecimal(precision=19, scale=4)


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        "gift_cards",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", _amount(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_gift_cards_balance_not_negative")),
        sa.CheckConstraint("state IN ('active', 'expired')", name=op.f("ck_gift_cards_state")),
        sa.CheckConstraint("origin IN ('sold', 'given')", name=op.f("ck_gift_cards_origin")),
        _fk("gift_cards", "company_id", "companies"),
        _fk("gift_cards", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_cards")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_cards_code_hash")),
    )
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gift_cards_company_state_expires", ["company_id", "state", "expires_on"], unique=False
        )

    op.create_table(
        "gift_card_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("balance_after", _amount(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'redeem', 'reload', 'refund', 'expire')",
            name=op.f("ck_gift_card_movements_kind"),
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_gift_card_movements_balance_after_not_negative")
        ),
        _fk("gift_card_movements", "company_id", "companies"),
        _fk("gift_card_movements", "card_id", "gift_cards"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_movements")),
    )
    with op.batch_alter_table("gift_card_movements", schema=None) as batch_op:
        batch_op.create_index("ix_gift_card_movements_card", ["card_id", "id"], unique=False)

    op.create_table(
        "store_credit_accounts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", _amount(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_store_credit_accounts_balance_not_negative")),
        _fk("store_credit_accounts", "company_id", "companies"),
        _fk("store_credit_accounts", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_accounts")),
        sa.UniqueConstraint(
            "company_id", "customer_id", name=op.f("uq_store_credit_accounts_company_id_customer_id")
        ),
    )

    op.create_table(
        "store_credit_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("balance_after", _amount(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'spend', 'refund')", name=op.f("ck_store_credit_movements_kind")
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_store_credit_movements_balance_after_not_negative")
        ),
        _fk("store_credit_movements", "company_id", "companies"),
        _fk("store_credit_movements", "account_id", "store_credit_accounts"),
        _fk("store_credit_movements", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_movements")),
    )
    with op.batch_alter_table("store_credit_movements", schema=None) as batch_op:
        batch_op.create_index("ix_store_credit_movements_account", ["account_id", "id"], unique=False)

    op.create_table(
        "gift_card_policies",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("months_to_expiry", sa.Integer(), nullable=True),
        sa.Column("breakage", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "months_to_expiry IS NULL OR months_to_expiry > 0",
            name=op.f("ck_gift_card_policies_months_positive"),
        ),
        sa.CheckConstraint("breakage IN ('at_expiry', 'never')", name=op.f("ck_gift_card_policies_breakage")),
        _fk("gift_card_policies", "company_id", "companies"),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_gift_card_policies")),
    )


def downgrade() -> None:
    op.drop_table("gift_card_policies")
    op.drop_table("store_credit_movements")
    op.drop_table("store_credit_accounts")
    op.drop_table("gift_card_movements")
    op.drop_table("gift_cards")
