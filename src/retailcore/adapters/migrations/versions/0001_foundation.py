"""foundation: master data, event log, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:07:23.769926
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION retailcore_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tax_jurisdiction", sa.String(length=32), nullable=False),
        sa.Column("chart_template", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("code", name=op.f("uq_companies_code")),
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotent_requests")),
        sa.UniqueConstraint(
            "source", "idempotency_key", name=op.f("uq_idempotent_requests_source_idempotency_key")
        ),
    )
    with op.batch_alter_table("idempotent_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotent_requests_company_id"), ["company_id"], unique=False)

    op.create_table(
        "accounts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=48), nullable=True),
        sa.Column("reconcilable", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "type IN ('asset', 'liability', 'equity', 'income', 'expense')", name=op.f("ck_accounts_type")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_accounts_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_accounts_company_id_code")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_accounts_company_role", ["company_id", "role"], unique=False)

    op.create_table(
        "customers",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("credit_limit", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_customers_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_customers_company_id_code")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_company_email", ["company_id", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_company_id"), ["company_id"], unique=False)

    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", orm.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", orm.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_events_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
        sa.UniqueConstraint("source", "idempotency_key", name=op.f("uq_events_source_idempotency_key")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_aggregate", ["aggregate_id", "position"], unique=False)
        batch_op.create_index("ix_events_company_position", ["company_id", "position"], unique=False)
        batch_op.create_index("ix_events_company_type", ["company_id", "type"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_correlation_id"), ["correlation_id"], unique=False)

    op.create_table(
        "payment_methods",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'card') = (gateway IS NOT NULL)", name=op.f("ck_payment_methods_card_gateway")
        ),
        sa.CheckConstraint(
            "kind IN ('cash', 'card', 'gift_card', 'store_credit', 'on_account')",
            name=op.f("ck_payment_methods_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_payment_methods_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_payment_methods_company_id_code")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_methods_company_id"), ["company_id"], unique=False)

    op.create_table(
        "products",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("unit_of_measure", sa.String(length=16), nullable=False),
        sa.Column("tax_category", sa.String(length=32), nullable=False),
        sa.Column("cost_method", sa.String(length=16), nullable=False),
        sa.Column("list_price", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("standard_cost", orm.ExactDecimal(precision=19, scale=6), nullable=False),
        sa.Column("available_pos", sa.Boolean(), nullable=False),
        sa.Column("available_web", sa.Boolean(), nullable=False),
        sa.Column("available_marketplace", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "cost_method IN ('fifo', 'average', 'standard')", name=op.f("ck_products_cost_method")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_products_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_products_company_id_id")),
        sa.UniqueConstraint("company_id", "sku", name=op.f("uq_products_company_id_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_company_category", ["company_id", "category"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_company_id"), ["company_id"], unique=False)

    op.create_table(
        "stores",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("tax_jurisdiction", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('store', 'warehouse')", name=op.f("ck_stores_kind")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stores_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_stores_company_id_code")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_stores_company_id_id")),
    )
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stores_company_id"), ["company_id"], unique=False)

    op.create_table(
        "tax_rules",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=32), nullable=False),
        sa.Column("tax_category", sa.String(length=32), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_tax_rules_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rules")),
        sa.UniqueConstraint(
            "company_id",
            "jurisdiction",
            "tax_category",
            name=op.f("uq_tax_rules_company_id_jurisdiction_tax_category"),
        ),
    )
    with op.batch_alter_table("tax_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tax_rules_company_id"), ["company_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('cashier', 'store_manager', 'finance', 'integration', 'admin')",
            name=op.f("ck_api_tokens_role"),
        ),
        sa.CheckConstraint(
            "store_id IS NULL OR company_id IS NOT NULL", name=op.f("ck_api_tokens_store_needs_company")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_api_tokens_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_api_tokens_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_company_id"), ["company_id"], unique=False)

    op.create_table(
        "locations",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('stock', 'backroom', 'damaged') AND store_id IS NOT NULL) OR (kind IN ('supplier', 'customer', 'in_transit', 'inventory_loss') AND store_id IS NULL)",
            name=op.f("ck_locations_kind_store"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id", "store_id"],
            ["stores.company_id", "stores.id"],
            name=op.f("fk_locations_company_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_locations_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_locations_company_id_code")),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_locations_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_locations_store_id"), ["store_id"], unique=False)

    op.create_table(
        "product_barcodes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("barcode", sa.String(length=48), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_product_barcodes_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_product_barcodes_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_barcodes")),
        sa.UniqueConstraint("company_id", "barcode", name=op.f("uq_product_barcodes_company_id_barcode")),
    )
    with op.batch_alter_table("product_barcodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_barcodes_product_id"), ["product_id"], unique=False)

    op.create_table(
        "taxes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rate_percent", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("price_included", sa.Boolean(), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("rounding IN ('line', 'document')", name=op.f("ck_taxes_rounding")),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_taxes_company_id_companies")),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["tax_rules.id"], name=op.f("fk_taxes_rule_id_tax_rules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxes")),
        sa.UniqueConstraint("rule_id", "code", name=op.f("uq_taxes_rule_id_code")),
    )
    with op.batch_alter_table("taxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taxes_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_taxes_rule_id"), ["rule_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # The log is the audit trail: refuse edits at the database, whatever the client.
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
            " FOR EACH ROW EXECUTE FUNCTION retailcore_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_append_only_{action.lower()} BEFORE {action} ON events"
                " BEGIN SELECT RAISE(ABORT, 'events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS retailcore_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    with op.batch_alter_table("taxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxes_rule_id"))
        batch_op.drop_index(batch_op.f("ix_taxes_company_id"))

    op.drop_table("taxes")
    with op.batch_alter_table("product_barcodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_barcodes_product_id"))

    op.drop_table("product_barcodes")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_locations_store_id"))
        batch_op.drop_index(batch_op.f("ix_locations_company_id"))

    op.drop_table("locations")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_company_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("tax_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_rules_company_id"))

    op.drop_table("tax_rules")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stores_company_id"))

    op.drop_table("stores")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_company_id"))
        batch_op.drop_index("ix_products_company_category")

    op.drop_table("products")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_methods_company_id"))

    op.drop_table("payment_methods")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_correlation_id"))
        batch_op.drop_index("ix_events_company_type")
        batch_op.drop_index("ix_events_company_position")
        batch_op.drop_index("ix_events_aggregate")

    op.drop_table("events")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_company_id"))
        batch_op.drop_index("ix_customers_company_email")

    op.drop_table("customers")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_company_role")
        batch_op.drop_index(batch_op.f("ix_accounts_company_id"))

    op.drop_table("accounts")
    with op.batch_alter_table("idempotent_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotent_requests_company_id"))

    op.drop_table("idempotent_requests")
    op.drop_table("companies")
