"""promotions: promotions as data, margin floors, coupons and their redemptions

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 07:25:00

* ``promotions``: kind, stacking, priority, scope, the kind's parameters in ``rule`` (JSON), targeting
  (channels, stores, customer groups, weekly windows, local start and end), and the approval trail.
* ``margin_floors``: the least margin over cost per product or per category.
* ``coupons``: codes granting a promotion, with limits in total and per customer and a use counter.
* ``coupon_redemptions``: one row per coupon per order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stacking", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("store_ids", sa.JSON(), nullable=True),
        sa.Column("customer_groups", sa.JSON(), nullable=True),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("coupon_only", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("submitted_by", sa.String(length=128), nullable=True),
        sa.Column("submitted_at", orm.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", orm.UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=2000), nullable=True),
        sa.Column("override_by", sa.String(length=128), nullable=True),
        sa.Column("override_reason", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('percent_off', 'amount_off', 'buy_x_get_y', 'mix_and_match', 'bundle_price', 'tiered_spend', 'free_shipping')",
            name=op.f("ck_promotions_kind"),
        ),
        sa.CheckConstraint("scope IN ('line', 'category', 'order')", name=op.f("ck_promotions_scope")),
        sa.CheckConstraint(
            "stacking IN ('exclusive', 'stackable', 'best')", name=op.f("ck_promotions_stacking")
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'submitted', 'approved', 'rejected', 'scheduled', 'active', 'expired')",
            name=op.f("ck_promotions_state"),
        ),
        sa.CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name=op.f("ck_promotions_validity")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_promotions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_promotions_company_id_code")),
        sa.UniqueConstraint("company_id", "id", name=op.f("uq_promotions_company_id_id")),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index("ix_promotions_company_state", ["company_id", "state"], unique=False)

    op.create_table(
        "coupons",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("max_uses_per_customer", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("valid_from", orm.UTCDateTime(), nullable=True),
        sa.Column("valid_to", orm.UTCDateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("max_uses IS NULL OR max_uses > 0", name=op.f("ck_coupons_max_uses_positive")),
        sa.CheckConstraint("max_uses IS NULL OR uses <= max_uses", name=op.f("ck_coupons_uses_within_limit")),
        sa.CheckConstraint(
            "max_uses_per_customer IS NULL OR max_uses_per_customer > 0",
            name=op.f("ck_coupons_max_uses_per_customer_positive"),
        ),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_coupons_uses_not_negative")),
        sa.ForeignKeyConstraint(
            ["company_id", "promotion_id"],
            ["promotions.company_id", "promotions.id"],
            name=op.f("fk_coupons_company_id_promotions"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_coupons_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_coupons_company_id_code")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupons_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_promotion_id"), ["promotion_id"], unique=False)

    op.create_table(
        "margin_floors",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("floor", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(product_id IS NULL) <> (category IS NULL)", name=op.f("ck_margin_floors_product_or_category")
        ),
        sa.CheckConstraint("floor > -1", name=op.f("ck_margin_floors_floor_above_minus_one")),
        sa.ForeignKeyConstraint(
            ["company_id", "product_id"],
            ["products.company_id", "products.id"],
            name=op.f("fk_margin_floors_company_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_margin_floors_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_floors")),
        sa.UniqueConstraint("company_id", "category", name=op.f("uq_margin_floors_company_id_category")),
        sa.UniqueConstraint("company_id", "product_id", name=op.f("uq_margin_floors_company_id_product_id")),
    )
    with op.batch_alter_table("margin_floors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_margin_floors_company_id"), ["company_id"], unique=False)

    op.create_table(
        "coupon_redemptions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("coupon_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("redeemed_at", orm.UTCDateTime(), nullable=False),
        sa.Column("redeemed_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_coupon_redemptions_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_redemptions_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
        sa.UniqueConstraint("coupon_id", "order_id", name=op.f("uq_coupon_redemptions_coupon_id_order_id")),
    )
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupon_redemptions_coupon_customer", ["coupon_id", "customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_redemptions_coupon_customer")

    op.drop_table("coupon_redemptions")
    with op.batch_alter_table("margin_floors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_margin_floors_company_id"))

    op.drop_table("margin_floors")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupons_promotion_id"))
        batch_op.drop_index(batch_op.f("ix_coupons_batch"))

    op.drop_table("coupons")
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_index("ix_promotions_company_state")

    op.drop_table("promotions")
