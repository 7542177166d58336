"""exception classes: the triage class of an exception, how sure, and who said so

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-07 17:10:00

Decision 0076. ``exceptions`` gets ``exception_class`` (a payment or stock class, or null),
``class_confidence`` (0..1, four decimals) and ``class_source`` (``rule``, ``model`` or ``person``).
Existing rows keep no class (weight 1 in the priority, their ``stake`` unchanged) until
``retailcore exceptions triage`` classifies them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exceptions") as batch:
        batch.add_column(sa.Column("exception_class", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("class_confidence", orm.ExactDecimal(precision=5, scale=4), nullable=True))
        batch.add_column(sa.Column("class_source", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exceptions") as batch:
        batch.drop_column("class_source")
        batch.drop_column("class_confidence")
        batch.drop_column("exception_class")
