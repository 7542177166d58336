"""promotion governance: pricing managers, customer groups, governed price changes

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 07:40:00

* ``api_tokens.role`` and ``users.role`` accept ``pricing_manager`` (decision 0048).
* ``customers.customer_group``: what price lists and promotions target.
* ``promotions.last_edited_by``: who last changed a draft (four eyes).
* ``price_changes``: governed changes of a price list's items, applied by the sweep when due.

The downgrade first turns the ``pricing_manager`` tokens and users, which the older check would refuse,
into revoked ``cashier`` tokens and disabled ``cashier`` users (decision 0056): kept for the audit trail
(events name them), unable to act, and never given more than a pricing manager had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "role IN ('cashier', 'store_manager', 'finance', 'integration', 'pricing_manager', 'admin')"
OLD_ROLES = "role IN ('cashier', 'store_manager', 'finance', 'integration', 'admin')"


def _roles(check: str) -> None:
    for table in ("api_tokens", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_role"), type_="check")
            batch_op.create_check_constraint("role", check)


def upgrade() -> None:
    _roles(ROLES)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_group", sa.String(length=64), nullable=True))
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_edited_by", sa.String(length=128), nullable=True))
    op.create_table(
        "price_changes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("price_list_id", sa.Uuid(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("effective_at", orm.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("last_edited_by", sa.String(length=128), nullable=True),
        sa.Column("submitted_by", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", orm.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", orm.UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=2000), nullable=True),
        sa.Column("applied_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'approved', 'rejected', 'applied')",
            name=op.f("ck_price_changes_state"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "price_list_id"],
            ["price_lists.company_id", "price_lists.id"],
            name=op.f("fk_price_changes_company_id_price_lists"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_price_changes_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_changes")),
    )
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_price_changes_company_state", ["company_id", "state", "effective_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_price_changes_price_list_id"), ["price_list_id"], unique=False)


def _retire_pricing_managers() -> None:
    """Pricing managers become a role the older check accepts, and lose their access: tokens revoked,
    users disabled (the first revocation or disabling, if any, is kept)."""
    now = sa.bindparam("now", dt.datetime.now(dt.UTC), type_=orm.UTCDateTime())
    by = "downgrade of 0036: was pricing_manager"
    op.get_bind().execute(
        sa.text(
            "UPDATE api_tokens SET role = 'cashier', revoked_at = COALESCE(revoked_at, :now),"
            " revoked_by = COALESCE(revoked_by, :by) WHERE role = 'pricing_manager'"
        ).bindparams(now, by=by)
    )
    op.get_bind().execute(
        sa.text(
            "UPDATE users SET role = 'cashier', disabled_at = COALESCE(disabled_at, :now)"
            " WHERE role = 'pricing_manager'"
        ).bindparams(now)
    )


def downgrade() -> None:
    _retire_pricing_managers()
    with op.batch_alter_table("price_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_changes_price_list_id"))
        batch_op.drop_index("ix_price_changes_company_state")
    op.drop_table("price_changes")
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_column("last_edited_by")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("customer_group")
    _roles(OLD_ROLES)
