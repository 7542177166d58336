"""reservations, safety stock

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=False),
        sa.Column("order_line_ref", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", orm.UTCDateTime(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_positive")),
        sa.CheckConstraint(
            "channel IN ('pos', 'web', 'marketplace', 'b2b')", name=op.f("ck_reservations_channel")
        ),
        sa.CheckConstraint(
            "state IN ('active', 'released', 'consumed', 'expired')", name=op.f("ck_reservations_state")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_reservations_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_reservations_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_reservations_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reservations_company_state_expires", ["company_id", "state", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_reservations_product_location", ["product_id", "location_id", "state"], unique=False
        )
        batch_op.create_index("ix_reservations_order", ["company_id", "order_ref"], unique=False)

    op.create_table(
        "channel_safety_stock",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_channel_safety_stock_not_negative")),
        sa.CheckConstraint(
            "channel IN ('pos', 'web', 'marketplace', 'b2b')", name=op.f("ck_channel_safety_stock_channel")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_channel_safety_stock_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_channel_safety_stock_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_safety_stock")),
        sa.UniqueConstraint(
            "company_id",
            "channel",
            "product_id",
            name=op.f("uq_channel_safety_stock_company_id_channel_product_id"),
        ),
    )
    with op.batch_alter_table("channel_safety_stock", schema=None) as batch_op:
        # One default row (product_id null) per company and channel.
        batch_op.create_index(
            "uq_channel_safety_stock_default",
            ["company_id", "channel"],
            unique=True,
            sqlite_where=sa.text("product_id IS NULL"),
            postgresql_where=sa.text("product_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_safety_stock", schema=None) as batch_op:
        batch_op.drop_index("uq_channel_safety_stock_default")

    op.drop_table("channel_safety_stock")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_order")
        batch_op.drop_index("ix_reservations_product_location")
        batch_op.drop_index("ix_reservations_company_state_expires")

    op.drop_table("reservations")
