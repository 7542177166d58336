"""orders

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _amount() -> orm.ExactDecimal:
    return orm.ExactDecimal(precision=19, scale=4)


def upgrade() -> None:
    op.create_table(
        "order_sequences",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_sequences_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", "prefix", name=op.f("pk_order_sequences")),
    )

    op.create_table(
        "orders",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("fulfillment_mode", sa.String(length=24), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False),
        sa.Column("net_total", _amount(), nullable=False),
        sa.Column("tax_total", _amount(), nullable=False),
        sa.Column("gross_total", _amount(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('pos', 'web', 'marketplace', 'b2b')", name=op.f("ck_orders_channel")),
        sa.CheckConstraint(
            "fulfillment_mode IN ('carry_out', 'ship', 'click_and_collect', 'ship_from_store')",
            name=op.f("ck_orders_fulfillment_mode"),
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'confirmed', 'partially_fulfilled', 'fulfilled', 'invoiced', 'cancelled',"
            " 'closed')",
            name=op.f("ck_orders_state"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_orders_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_orders_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_orders_company_id_id")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_orders_company_id_number")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_store_id"), ["store_id"], unique=False)
        batch_op.create_index(
            "ix_orders_company_channel_state", ["company_id", "channel", "state"], unique=False
        )

    op.create_table(
        "order_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_category", sa.String(length=200), nullable=False),
        sa.Column("quantity", _amount(), nullable=False),
        sa.Column("unit_price", _amount(), nullable=False),
        sa.Column("discount", _amount(), nullable=False),
        sa.Column("tax_category", sa.String(length=32), nullable=False),
        sa.Column("net", _amount(), nullable=False),
        sa.Column("tax", _amount(), nullable=False),
        sa.Column("gross", _amount(), nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.Column("fulfilled_quantity", _amount(), nullable=False),
        sa.Column("cancelled_quantity", _amount(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "fulfilled_quantity >= 0 AND cancelled_quantity >= 0"
            " AND fulfilled_quantity + cancelled_quantity <= quantity",
            name=op.f("ck_order_lines_quantities"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "order_id"],
            ["orders.company_id", "orders.id"],
            name=op.f("fk_order_lines_company_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_order_lines_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_order_lines_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"], ["reservations.id"], name=op.f("fk_order_lines_reservation_id_reservations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_order_lines_order_id_position")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_payments",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("authorized", _amount(), nullable=False),
        sa.Column("captured", _amount(), nullable=False),
        sa.Column("refunded", _amount(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('cash', 'card', 'gift_card', 'store_credit', 'on_account')",
            name=op.f("ck_order_payments_kind"),
        ),
        sa.CheckConstraint(
            "state IN ('accepted', 'authorized', 'captured', 'partially_refunded', 'refunded', 'voided')",
            name=op.f("ck_order_payments_state"),
        ),
        sa.CheckConstraint(
            "captured >= 0 AND refunded >= 0 AND refunded <= captured AND captured <= authorized",
            name=op.f("ck_order_payments_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "order_id"],
            ["orders.company_id", "orders.id"],
            name=op.f("fk_order_payments_company_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_payments_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_payments")),
        sa.UniqueConstraint(
            "order_id", "gateway", "reference", name=op.f("uq_order_payments_order_id_gateway_reference")
        ),
    )
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_payments_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_payments_order_id"))

    op.drop_table("order_payments")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_company_channel_state")
        batch_op.drop_index(batch_op.f("ix_orders_store_id"))

    op.drop_table("orders")
    op.drop_table("order_sequences")
