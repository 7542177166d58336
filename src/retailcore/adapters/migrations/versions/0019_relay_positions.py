"""relay positions: how far each relay has published the event log to the message broker

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:30:00

Numbered 0019 on the relay branch, after 0017: another branch may add 0018, and this revision is
re-chained onto the head at merge. One table, ``relay_positions`` (decision 0027): a row per relay
name with the last acknowledged log position, written only after the broker acknowledged every event
up to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relay_positions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("published", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_relay_positions")),
    )


def downgrade() -> None:
    op.drop_table("relay_positions")
