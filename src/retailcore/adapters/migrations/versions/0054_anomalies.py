"""anomalies: stored scans of discounts and returns

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07 17:10:00

Decision 0075. ``anomaly_scans``: one row per scan of a company's days; ``anomalies``: every cashier x
store x day (and store x day) row the scan scored, flagged or not, with its features and explanation.
Frozen DDL: no live code is imported but the column types.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "anomaly_scans",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("threshold", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_anomaly_scans_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_scans")),
    )
    op.create_index("ix_anomaly_scans_company_created", "anomaly_scans", ["company_id", "created_at"])
    op.create_table(
        "anomalies",
        sa.Column("scan_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("store_code", sa.String(length=64), nullable=False),
        sa.Column("cashier", sa.String(length=128), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("amount_at_risk", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("exception_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["anomaly_scans.id"],
            name=op.f("fk_anomalies_scan_id_anomaly_scans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_anomalies_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_anomalies_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomalies")),
    )
    op.create_index("ix_anomalies_scan_score", "anomalies", ["scan_id", "flagged", "score"])
    op.create_index("ix_anomalies_scan_store_day", "anomalies", ["scan_id", "store_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_anomalies_scan_store_day", table_name="anomalies")
    op.drop_index("ix_anomalies_scan_score", table_name="anomalies")
    op.drop_table("anomalies")
    op.drop_index("ix_anomaly_scans_company_created", table_name="anomaly_scans")
    op.drop_table("anomaly_scans")
