"""transfers and cycle counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUANTITY = orm.ExactDecimal(precision=19, scale=4)


def upgrade() -> None:
    op.create_table(
        "transfer_count_sequences",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_transfer_count_sequences_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", "kind", name=op.f("pk_transfer_count_sequences")),
    )

    op.create_table(
        "transfers",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("from_store_id", sa.Uuid(), nullable=False),
        sa.Column("to_store_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("shipped_at", orm.UTCDateTime(), nullable=True),
        sa.Column("shipped_by", sa.String(length=128), nullable=True),
        sa.Column("received_at", orm.UTCDateTime(), nullable=True),
        sa.Column("closed_at", orm.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("cancelled_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('draft', 'shipped', 'partially_received', 'received', 'closed', 'cancelled')",
            name=op.f("ck_transfers_state"),
        ),
        sa.CheckConstraint("from_store_id <> to_store_id", name=op.f("ck_transfers_two_stores")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_transfers_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "from_store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_transfers_from_store"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "to_store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_transfers_to_store"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_transfers_company_id_number")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index("ix_transfers_company_state", ["company_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfers_from_store_id"), ["from_store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfers_to_store_id"), ["to_store_id"], unique=False)

    op.create_table(
        "transfer_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("shipped_quantity", QUANTITY, nullable=False),
        sa.Column("received_quantity", QUANTITY, nullable=False),
        sa.Column("lost_quantity", QUANTITY, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_transfer_lines_positive")),
        sa.CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity", name=op.f("ck_transfer_lines_shipped")
        ),
        sa.CheckConstraint(
            "received_quantity >= 0 AND lost_quantity >= 0"
            " AND received_quantity + lost_quantity <= shipped_quantity",
            name=op.f("ck_transfer_lines_accounted"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_transfer_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_transfer_lines_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_transfer_lines_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_lines")),
        sa.UniqueConstraint(
            "transfer_id", "product_id", name=op.f("uq_transfer_lines_transfer_id_product_id")
        ),
    )
    with op.batch_alter_table("transfer_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_lines_transfer_id"), ["transfer_id"], unique=False)

    op.create_table(
        "count_sheets",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("category_prefix", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tolerance_percent", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("submitted_by", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", orm.UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", orm.UTCDateTime(), nullable=True),
        sa.Column("count_date", sa.Date(), nullable=True),
        sa.Column("cancelled_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'submitted', 'approved', 'cancelled')", name=op.f("ck_count_sheets_state")
        ),
        sa.CheckConstraint(
            "(scope = 'all' AND category_prefix IS NULL)"
            " OR (scope = 'category' AND category_prefix IS NOT NULL)",
            name=op.f("ck_count_sheets_scope"),
        ),
        sa.CheckConstraint("tolerance_percent >= 0", name=op.f("ck_count_sheets_tolerance")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_count_sheets_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_count_sheets_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_count_sheets_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_sheets")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_count_sheets_company_id_number")),
    )
    with op.batch_alter_table("count_sheets", schema=None) as batch_op:
        batch_op.create_index("ix_count_sheets_company_state", ["company_id", "state"], unique=False)
        batch_op.create_index(
            "ix_count_sheets_store_date", ["company_id", "store_id", "count_date"], unique=False
        )

    op.create_table(
        "count_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("sheet_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("expected_quantity", QUANTITY, nullable=False),
        sa.Column("counted_quantity", QUANTITY, nullable=True),
        sa.Column("difference", QUANTITY, nullable=True),
        sa.Column("within_tolerance", sa.Boolean(), nullable=True),
        sa.Column("stock_moved", sa.Boolean(), nullable=False),
        sa.Column("adjusted_quantity", QUANTITY, nullable=True),
        sa.Column("counted_by", sa.String(length=128), nullable=True),
        sa.Column("counted_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "counted_quantity IS NULL OR counted_quantity >= 0", name=op.f("ck_count_lines_counted")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_count_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_count_lines_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["sheet_id"], ["count_sheets.id"], name=op.f("fk_count_lines_sheet_id_count_sheets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_lines")),
        sa.UniqueConstraint("sheet_id", "product_id", name=op.f("uq_count_lines_sheet_id_product_id")),
    )
    with op.batch_alter_table("count_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_count_lines_sheet_id"), ["sheet_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("count_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_count_lines_sheet_id"))
    op.drop_table("count_lines")
    with op.batch_alter_table("count_sheets", schema=None) as batch_op:
        batch_op.drop_index("ix_count_sheets_store_date")
        batch_op.drop_index("ix_count_sheets_company_state")
    op.drop_table("count_sheets")
    with op.batch_alter_table("transfer_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_lines_transfer_id"))
    op.drop_table("transfer_lines")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfers_to_store_id"))
        batch_op.drop_index(batch_op.f("ix_transfers_from_store_id"))
        batch_op.drop_index("ix_transfers_company_state")
    op.drop_table("transfers")
    op.drop_table("transfer_count_sequences")
