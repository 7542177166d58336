"""inventory

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:53:45.271915
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_exceptions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_stock_exceptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stock_exceptions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_exceptions")),
    )
    with op.batch_alter_table("stock_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_stock_exceptions_company_status", ["company_id", "status"], unique=False)

    op.create_table(
        "product_costs",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("last_unit_cost", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_product_costs_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_costs_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_costs")),
    )
    with op.batch_alter_table("product_costs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_costs_company_id"), ["company_id"], unique=False)

    op.create_table(
        "stock_moves",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("from_location_id", sa.Uuid(), nullable=False),
        sa.Column("to_location_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("unit_cost", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_moves_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stock_moves_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["from_location_id"], ["locations.id"], name=op.f("fk_stock_moves_from_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_stock_moves_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["to_location_id"], ["locations.id"], name=op.f("fk_stock_moves_to_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_moves")),
    )
    with op.batch_alter_table("stock_moves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_moves_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_stock_moves_from", ["from_location_id", "product_id"], unique=False)
        batch_op.create_index(
            "ix_stock_moves_product_date", ["company_id", "product_id", "date"], unique=False
        )
        batch_op.create_index("ix_stock_moves_to", ["to_location_id", "product_id"], unique=False)

    op.create_table(
        "stock_quants",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("reserved", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stock_quants_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_stock_quants_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_stock_quants_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", "location_id", name=op.f("pk_stock_quants")),
    )
    with op.batch_alter_table("stock_quants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_quants_company_id"), ["company_id"], unique=False)

    op.create_table(
        "valuation_layers",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("move_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("remaining_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("unit_cost", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_valuation_layers_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["move_id"], ["stock_moves.id"], name=op.f("fk_valuation_layers_move_id_stock_moves")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_valuation_layers_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_valuation_layers")),
    )
    with op.batch_alter_table("valuation_layers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_valuation_layers_open", ["company_id", "product_id", "remaining_quantity"], unique=False
        )
    op.create_table(
        "stock_value_adjustments",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stock_value_adjustments_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_stock_value_adjustments_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_stock_value_adjustments_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_value_adjustments")),
    )
    with op.batch_alter_table("stock_value_adjustments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_value_adjustments_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            "ix_stock_value_adjustments_product_date", ["company_id", "product_id", "date"], unique=False
        )

    # Done moves are history: corrections are new moves. The database refuses edits.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER stock_moves_append_only BEFORE UPDATE OR DELETE ON stock_moves"
            " FOR EACH ROW EXECUTE FUNCTION retailcore_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER stock_moves_append_only_{action.lower()} BEFORE {action} ON stock_moves"
                " BEGIN SELECT RAISE(ABORT, 'stock_moves is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_moves_append_only ON stock_moves")
    else:
        op.execute("DROP TRIGGER IF EXISTS stock_moves_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS stock_moves_append_only_delete")
    with op.batch_alter_table("valuation_layers", schema=None) as batch_op:
        batch_op.drop_index("ix_valuation_layers_open")

    op.drop_table("stock_value_adjustments")
    op.drop_table("valuation_layers")
    with op.batch_alter_table("stock_quants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_quants_company_id"))

    op.drop_table("stock_quants")
    with op.batch_alter_table("stock_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_moves_to")
        batch_op.drop_index("ix_stock_moves_product_date")
        batch_op.drop_index("ix_stock_moves_from")
        batch_op.drop_index(batch_op.f("ix_stock_moves_event_id"))

    op.drop_table("stock_moves")
    with op.batch_alter_table("product_costs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_costs_company_id"))

    op.drop_table("product_costs")
    with op.batch_alter_table("stock_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_exceptions_company_status")

    op.drop_table("stock_exceptions")
