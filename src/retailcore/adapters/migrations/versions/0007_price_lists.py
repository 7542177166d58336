"""price lists

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_lists",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("customer_group", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "channel IS NULL OR channel IN ('pos', 'web', 'marketplace', 'b2b')",
            name=op.f("ck_price_lists_channel"),
        ),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to",
            name=op.f("ck_price_lists_validity"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_price_lists_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_price_lists_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_lists")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_price_lists_company_id_code")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_price_lists_company_id_id")),
    )
    with op.batch_alter_table("price_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_lists_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_price_lists_store_id"), ["store_id"], unique=False)

    op.create_table(
        "price_list_items",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("price_list_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("unit_price", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("min_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_price_list_items_unit_price_not_negative")),
        sa.CheckConstraint("min_quantity > 0", name=op.f("ck_price_list_items_min_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["company_id", "price_list_id"],
            ["price_lists.company_id", "price_lists.id"],
            name=op.f("fk_price_list_items_company_id_price_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_price_list_items_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_price_list_items_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_list_items")),
        sa.UniqueConstraint(
            "price_list_id",
            "product_id",
            "min_quantity",
            name=op.f("uq_price_list_items_price_list_id_product_id_min_quantity"),
        ),
    )
    with op.batch_alter_table("price_list_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_price_list_items_company_product", ["company_id", "product_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("price_list_items", schema=None) as batch_op:
        batch_op.drop_index("ix_price_list_items_company_product")

    op.drop_table("price_list_items")
    with op.batch_alter_table("price_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_lists_store_id"))
        batch_op.drop_index(batch_op.f("ix_price_lists_company_id"))

    op.drop_table("price_lists")
