"""replenishment: where products are bought (supplier, lead time) and the suggestions a run makes

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07 17:00:00

Decision 0074. Numbered 0053 on the replenish branch: it is re-chained onto the last revision at merge
(only ``down_revision`` changes).

* ``replenishment_sources``: per company and product, the supplier a suggested PO names, its lead time
  in days and the unit price (there is no supplier master; a PO names its supplier as text).
* ``replenishment_suggestions``: one suggested purchase (warehouse, per supplier) or transfer
  (warehouse -> store) of one product, the figures it came from, and the PO or transfer it became.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        "replenishment_sources",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("supplier_ref", sa.String(length=64), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("unit_price", orm.UnitCost(), nullable=True),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "lead_time_days >= 0", name=op.f("ck_replenishment_sources_lead_time_not_negative")
        ),
        _fk("replenishment_sources", "company_id", "companies"),
        _fk("replenishment_sources", "product_id", "products"),
        sa.PrimaryKeyConstraint("company_id", "product_id", name=op.f("pk_replenishment_sources")),
    )
    table = "replenishment_suggestions"
    op.create_table(
        table,
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("source_store_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", orm.Quantity(), nullable=False),
        sa.Column("unit_price", orm.UnitCost(), nullable=True),
        sa.Column("reorder_point", orm.Quantity(), nullable=False),
        sa.Column("order_up_to", orm.Quantity(), nullable=False),
        sa.Column("position", orm.Quantity(), nullable=False),
        sa.Column("daily_mean", orm.Quantity(), nullable=False),
        sa.Column("daily_sigma", orm.Quantity(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("review_days", sa.Integer(), nullable=False),
        sa.Column("service_level", orm.Rate(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("purchase_order_id", sa.Uuid(), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('purchase', 'transfer')", name=op.f(f"ck_{table}_kind")),
        sa.CheckConstraint("state IN ('suggested', 'accepted', 'dismissed')", name=op.f(f"ck_{table}_state")),
        sa.CheckConstraint("quantity > 0", name=op.f(f"ck_{table}_quantity_positive")),
        _fk(table, "company_id", "companies"),
        _fk(table, "product_id", "products"),
        _fk(table, "store_id", "stores"),
        _fk(table, "location_id", "locations"),
        _fk(table, "source_store_id", "stores"),
        _fk(table, "purchase_order_id", "purchase_orders"),
        _fk(table, "transfer_id", "transfers"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    op.create_index("ix_replenishment_suggestions_company_state", table, ["company_id", "state"])
    op.create_index("ix_replenishment_suggestions_run", table, ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_replenishment_suggestions_run", table_name="replenishment_suggestions")
    op.drop_index("ix_replenishment_suggestions_company_state", table_name="replenishment_suggestions")
    op.drop_table("replenishment_suggestions")
    op.drop_table("replenishment_sources")
