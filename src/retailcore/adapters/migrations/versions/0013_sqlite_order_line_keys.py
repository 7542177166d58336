"""SQLite: order lines' product and location back to foreign keys (PostgreSQL keeps its triggers)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 19:30:00

Migration 0012 gave SQLite row triggers equivalent to PostgreSQL's statement triggers. Measured on a
replayed POS batch (docs/decisions/0013), those triggers tripled the cost of inserting its 3,000 order
lines (about 55 ms instead of 20 ms): any trigger on the table makes SQLite run a trigger program per
row, while its foreign key checks are a plain index probe. So on SQLite the two references are
foreign keys again, as they were before 0012; the delete guards go with the triggers, since the keys
refuse those deletes themselves. Nothing changes on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0012's SQLite triggers; kept here as text so that this migration does not depend on it.
_PRODUCT_MISSING = (
    "NOT EXISTS (SELECT 1 FROM products WHERE company_id = NEW.company_id AND id = NEW.product_id)"
)
_LOCATION_MISSING = (
    "NEW.location_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM locations WHERE id = NEW.location_id)"
)
_NO_PRODUCT = "an order line refers to no product of its company"
_NO_LOCATION = "an order line refers to no location"
SQLITE_TRIGGERS = {
    "order_lines_product_on_insert": f"""CREATE TRIGGER order_lines_product_on_insert
        BEFORE INSERT ON order_lines
        WHEN {_PRODUCT_MISSING} BEGIN SELECT RAISE(ABORT, '{_NO_PRODUCT}'); END""",
    "order_lines_location_on_insert": f"""CREATE TRIGGER order_lines_location_on_insert
        BEFORE INSERT ON order_lines
        WHEN {_LOCATION_MISSING} BEGIN SELECT RAISE(ABORT, '{_NO_LOCATION}'); END""",
    "order_lines_product_on_update": f"""CREATE TRIGGER order_lines_product_on_update
        BEFORE UPDATE OF company_id, product_id ON order_lines
        WHEN {_PRODUCT_MISSING} BEGIN SELECT RAISE(ABORT, '{_NO_PRODUCT}'); END""",
    "order_lines_location_on_update": f"""CREATE TRIGGER order_lines_location_on_update
        BEFORE UPDATE OF location_id ON order_lines
        WHEN {_LOCATION_MISSING} BEGIN SELECT RAISE(ABORT, '{_NO_LOCATION}'); END""",
    "products_keep_ordered": """CREATE TRIGGER products_keep_ordered BEFORE DELETE ON products
        WHEN EXISTS (SELECT 1 FROM order_lines WHERE company_id = OLD.company_id AND product_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'the product is on order lines'); END""",
    "locations_keep_ordered": """CREATE TRIGGER locations_keep_ordered BEFORE DELETE ON locations
        WHEN EXISTS (SELECT 1 FROM order_lines WHERE location_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'the location is on order lines'); END""",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_order_lines_company_id_products"),
            "products",
            ["company_id", "product_id"],
            ["company_id", "id"],
        )
        batch_op.create_foreign_key(
            op.f("fk_order_lines_location_id_locations"), "locations", ["location_id"], ["id"]
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_order_lines_company_id_products"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_order_lines_location_id_locations"), type_="foreignkey")
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)
