"""rate limit buckets: each token's request bucket in the database, shared by every API process

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-08 00:30:00

Decision 0087. ``rate_limit_buckets`` holds one row per token that made a request while
``RETAILCORE_RATE_LIMIT_STORE=database``: its level and the clock reading it was computed at. Empty
until then; the default store (``memory``) never reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_buckets",
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_rate_limit_buckets")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
