"""purchase orders, receipts, vendor bills

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purchasing_sequences",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_purchasing_sequences_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", "prefix", name=op.f("pk_purchasing_sequences")),
    )
    op.create_table(
        "purchasing_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("price_tolerance_percent", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("price_tolerance_amount", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "price_tolerance_amount >= 0", name=op.f("ck_purchasing_settings_amount_not_negative")
        ),
        sa.CheckConstraint(
            "price_tolerance_percent >= 0", name=op.f("ck_purchasing_settings_percent_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_purchasing_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_purchasing_settings")),
    )
    op.create_table(
        "purchase_orders",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("supplier_ref", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("confirmed_at", orm.UTCDateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=128), nullable=True),
        sa.Column("closed_at", orm.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('draft', 'confirmed', 'partially_received', 'received', 'closed', 'cancelled')",
            name=op.f("ck_purchase_orders_state"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_purchase_orders_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_purchase_orders_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_purchase_orders_company_id_number")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_orders_company_state", ["company_id", "state"], unique=False)
        batch_op.create_index("ix_purchase_orders_company_supplier", ["company_id", "supplier"], unique=False)
        batch_op.create_index(batch_op.f("ix_purchase_orders_store_id"), ["store_id"], unique=False)

    op.create_table(
        "purchase_order_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("purchase_order_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("unit_price", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("received_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("billed_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("billed_quantity >= 0", name=op.f("ck_purchase_order_lines_billed_not_negative")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_purchase_order_lines_price_not_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "received_quantity >= 0", name=op.f("ck_purchase_order_lines_received_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_purchase_order_lines_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_purchase_order_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchase_order_lines_product_id"), ["product_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_purchase_order_lines_purchase_order_id"), ["purchase_order_id"], unique=False
        )

    op.create_table(
        "receipts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("purchase_order_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_receipts_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_receipts_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_receipts_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_receipts_company_id_number")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_receipts_purchase_order_id"), ["purchase_order_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_receipts_store_id"), ["store_id"], unique=False)

    op.create_table(
        "receipt_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("receipt_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("unit_price", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("purchase_value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("move_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_receipt_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_receipt_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_receipt_lines_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["move_id"], ["stock_moves.id"], name=op.f("fk_receipt_lines_move_id_stock_moves")
        ),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_receipt_lines_po_line_id_purchase_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_receipt_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_receipt_lines_receipt_id_receipts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_lines")),
    )
    with op.batch_alter_table("receipt_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_lines_po_line_id"), ["po_line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_lines_receipt_id"), ["receipt_id"], unique=False)

    op.create_table(
        "vendor_bills",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("purchase_order_id", sa.Uuid(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("supplier_invoice_ref", sa.String(length=64), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("net_amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("tax_amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("total", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("exception_id", sa.Uuid(), nullable=True),
        sa.Column("posted_event_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", orm.UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.Column("cancelled_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('matched', 'exception', 'posted', 'cancelled')", name=op.f("ck_vendor_bills_state")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_vendor_bills_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["exception_id"],
            ["stock_exceptions.id"],
            name=op.f("fk_vendor_bills_exception_id_stock_exceptions"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_vendor_bills_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_bills")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_vendor_bills_company_id_number")),
    )
    with op.batch_alter_table("vendor_bills", schema=None) as batch_op:
        batch_op.create_index("ix_vendor_bills_company_state", ["company_id", "state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_vendor_bills_posted_event_id"), ["posted_event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vendor_bills_purchase_order_id"), ["purchase_order_id"], unique=False
        )

    op.create_table(
        "vendor_bill_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("bill_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("unit_price", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("po_unit_price", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("net_amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("tax_code", sa.String(length=32), nullable=True),
        sa.Column("tax", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_vendor_bill_lines_price_not_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_vendor_bill_lines_quantity_positive")),
        sa.CheckConstraint("tax >= 0", name=op.f("ck_vendor_bill_lines_tax_not_negative")),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["vendor_bills.id"], name=op.f("fk_vendor_bill_lines_bill_id_vendor_bills")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_vendor_bill_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_vendor_bill_lines_po_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_bill_lines")),
    )
    with op.batch_alter_table("vendor_bill_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendor_bill_lines_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vendor_bill_lines_po_line_id"), ["po_line_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vendor_bill_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_bill_lines_po_line_id"))
        batch_op.drop_index(batch_op.f("ix_vendor_bill_lines_bill_id"))
    op.drop_table("vendor_bill_lines")
    with op.batch_alter_table("vendor_bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendor_bills_purchase_order_id"))
        batch_op.drop_index(batch_op.f("ix_vendor_bills_posted_event_id"))
        batch_op.drop_index("ix_vendor_bills_company_state")
    op.drop_table("vendor_bills")
    with op.batch_alter_table("receipt_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_lines_receipt_id"))
        batch_op.drop_index(batch_op.f("ix_receipt_lines_po_line_id"))
    op.drop_table("receipt_lines")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_store_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_purchase_order_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_event_id"))
    op.drop_table("receipts")
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_purchase_order_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_product_id"))
    op.drop_table("purchase_order_lines")
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_orders_store_id"))
        batch_op.drop_index("ix_purchase_orders_company_supplier")
        batch_op.drop_index("ix_purchase_orders_company_state")
    op.drop_table("purchase_orders")
    op.drop_table("purchasing_settings")
    op.drop_table("purchasing_sequences")
