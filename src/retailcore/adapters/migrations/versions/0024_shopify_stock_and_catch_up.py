"""shopify stock and catch-up: the Admin API access token, cursors, inventory items, levels pushed

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 01:20:00

Numbered 0024 on the shopstock branch, after 0023 (another branch's): re-chained onto the last revision
at merge. One nullable column on ``connectors`` (``access_token``, Fernet-encrypted like ``secret``)
and three new tables (decision 0032); nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("access_token", sa.Text(), nullable=True))

    op.create_table(
        "connector_cursors",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("last_run", sa.JSON(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_cursors_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", "name", name=op.f("pk_connector_cursors")),
    )
    op.create_table(
        "connector_items",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_items_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_connector_items_product_id_products")
        ),
        sa.PrimaryKeyConstraint("connector_id", "product_id", name=op.f("pk_connector_items")),
    )
    with op.batch_alter_table("connector_items", schema=None) as batch_op:
        batch_op.create_index("ix_connector_items_item", ["connector_id", "external_id"], unique=False)
    op.create_table(
        "connector_stock_levels",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("pushed_at", orm.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_stock_levels_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_connector_stock_levels_product_id_products")
        ),
        sa.PrimaryKeyConstraint(
            "connector_id", "product_id", "location", name=op.f("pk_connector_stock_levels")
        ),
    )


def downgrade() -> None:
    op.drop_table("connector_stock_levels")
    with op.batch_alter_table("connector_items", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_items_item")
    op.drop_table("connector_items")
    op.drop_table("connector_cursors")
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("access_token")
