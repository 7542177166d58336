"""order lines' product and location checked once per statement, not once per row

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 17:30:00

On PostgreSQL every foreign key is a trigger that runs one query, with a ``FOR KEY SHARE`` row lock,
per inserted row. A POS batch writes 3,000 order lines in one ``COPY``; their keys to ``products`` and
``locations`` cost 60-120 ms of it, a fifth of the batch (docs/benchmarks.md). Here those two keys
become statement-level triggers over the inserted or updated rows (one join for the whole ``COPY``),
plus triggers that refuse deleting a product or a location that order lines refer to, which is what the
keys also guaranteed. SQLite's foreign keys are cheap, but the schema must be the same on both
backends, so SQLite gets the equivalent row triggers.

The other keys of ``order_lines`` stay declarative: ``(company_id, order_id)`` to ``orders`` (with its
``ON DELETE CASCADE``) and ``reservation_id`` (null on POS lines, so not checked there).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_PRODUCT = "an order line refers to no product of its company"
NO_LOCATION = "an order line refers to no location"
PRODUCT_USED = "the product is on order lines"
LOCATION_USED = "the location is on order lines"

POSTGRESQL_UP = f"""
CREATE FUNCTION order_lines_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_lines n
        LEFT JOIN products p ON p.company_id = n.company_id AND p.id = n.product_id
        WHERE p.id IS NULL
    ) THEN
        RAISE foreign_key_violation USING MESSAGE = '{NO_PRODUCT}';
    END IF;
    IF EXISTS (
        SELECT 1 FROM new_lines n
        LEFT JOIN locations l ON l.id = n.location_id
        WHERE n.location_id IS NOT NULL AND l.id IS NULL
    ) THEN
        RAISE foreign_key_violation USING MESSAGE = '{NO_LOCATION}';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER order_lines_references_on_insert AFTER INSERT ON order_lines
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION order_lines_check_references();
CREATE TRIGGER order_lines_references_on_update AFTER UPDATE ON order_lines
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION order_lines_check_references();
CREATE FUNCTION products_keep_ordered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM gone g JOIN order_lines l ON l.company_id = g.company_id AND l.product_id = g.id
    ) THEN
        RAISE foreign_key_violation USING MESSAGE = '{PRODUCT_USED}';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER products_keep_ordered AFTER DELETE ON products
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION products_keep_ordered();
CREATE FUNCTION locations_keep_ordered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone g JOIN order_lines l ON l.location_id = g.id) THEN
        RAISE foreign_key_violation USING MESSAGE = '{LOCATION_USED}';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER locations_keep_ordered AFTER DELETE ON locations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION locations_keep_ordered();
"""

POSTGRESQL_DOWN = """
DROP TRIGGER locations_keep_ordered ON locations;
DROP FUNCTION locations_keep_ordered();
DROP TRIGGER products_keep_ordered ON products;
DROP FUNCTION products_keep_ordered();
DROP TRIGGER order_lines_references_on_update ON order_lines;
DROP TRIGGER order_lines_references_on_insert ON order_lines;
DROP FUNCTION order_lines_check_references();
"""

_PRODUCT_MISSING = (
    "NOT EXISTS (SELECT 1 FROM products WHERE company_id = NEW.company_id AND id = NEW.product_id)"
)
_LOCATION_MISSING = (
    "NEW.location_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM locations WHERE id = NEW.location_id)"
)
SQLITE_UP = [
    f"""CREATE TRIGGER order_lines_product_on_insert BEFORE INSERT ON order_lines
        WHEN {_PRODUCT_MISSING} BEGIN SELECT RAISE(ABORT, '{NO_PRODUCT}'); END""",
    f"""CREATE TRIGGER order_lines_location_on_insert BEFORE INSERT ON order_lines
        WHEN {_LOCATION_MISSING} BEGIN SELECT RAISE(ABORT, '{NO_LOCATION}'); END""",
    f"""CREATE TRIGGER order_lines_product_on_update BEFORE UPDATE OF company_id, product_id ON order_lines
        WHEN {_PRODUCT_MISSING} BEGIN SELECT RAISE(ABORT, '{NO_PRODUCT}'); END""",
    f"""CREATE TRIGGER order_lines_location_on_update BEFORE UPDATE OF location_id ON order_lines
        WHEN {_LOCATION_MISSING} BEGIN SELECT RAISE(ABORT, '{NO_LOCATION}'); END""",
    f"""CREATE TRIGGER products_keep_ordered BEFORE DELETE ON products
        WHEN EXISTS (SELECT 1 FROM order_lines WHERE company_id = OLD.company_id AND product_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, '{PRODUCT_USED}'); END""",
    f"""CREATE TRIGGER locations_keep_ordered BEFORE DELETE ON locations
        WHEN EXISTS (SELECT 1 FROM order_lines WHERE location_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, '{LOCATION_USED}'); END""",
]
SQLITE_TRIGGERS = [
    "order_lines_product_on_insert",
    "order_lines_location_on_insert",
    "order_lines_product_on_update",
    "order_lines_location_on_update",
    "products_keep_ordered",
    "locations_keep_ordered",
]


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_order_lines_company_id_products"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_order_lines_location_id_locations"), type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_UP)
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_DOWN)
    else:
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
