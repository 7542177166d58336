"""users: people who sign in to the back office

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 04:00:00

* ``users``: a user name, an argon2id password hash, the same role and company/store scope as an API
  token, when it was disabled, and the failed sign-ins that lock it for a while (decision 0045).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("disabled_at", orm.UTCDateTime(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", orm.UTCDateTime(), nullable=True),
        sa.Column("last_sign_in_at", orm.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "role IN ('cashier', 'store_manager', 'finance', 'integration', 'admin')",
            name=op.f("ck_users_role"),
        ),
        sa.CheckConstraint(
            "store_id IS NULL OR company_id IS NOT NULL", name=op.f("ck_users_store_needs_company")
        ),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_users_company_id_companies")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_users_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_company_id"), "users", ["company_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_users_company_id"), table_name="users")
    op.drop_table("users")
