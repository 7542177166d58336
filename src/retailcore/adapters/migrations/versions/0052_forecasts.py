"""forecasts: stored demand forecasting runs and their per-series, per-day forecasts

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-07 17:00:00

Decision 0073. ``forecast_runs`` (company, as_of, horizon, series, models, duration, summary MASE per
model as JSON, created_by) and ``forecasts`` (run, product, store or the web channel, location, day,
quantity, chosen model, backtest sigma and MASE). Both are created empty; ``retailcore forecast run``
fills them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Integer(), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("duration_seconds", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forecast_runs_company_as_of", "forecast_runs", ["company_id", "as_of"])
    op.create_table(
        "forecasts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("sigma", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("mase", orm.ExactDecimal(precision=19, scale=8), nullable=True),
        sa.CheckConstraint("channel IN ('store', 'web')", name="channel"),
        sa.CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forecasts_run_product", "forecasts", ["run_id", "product_id"])


def downgrade() -> None:
    op.drop_index("ix_forecasts_run_product", table_name="forecasts")
    op.drop_table("forecasts")
    op.drop_index("ix_forecast_runs_company_as_of", table_name="forecast_runs")
    op.drop_table("forecast_runs")
