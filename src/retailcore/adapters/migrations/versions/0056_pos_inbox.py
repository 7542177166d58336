"""pos inbox: sales batches accepted at the edge with Prefer: respond-async, posted by a drain

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-08 00:40:00

Decision 0084. Numbered 0056 on the posinbox branch: it is re-chained onto the last revision at merge
(only ``down_revision`` changes). ``pos_inbox``: one row per accepted request (the session, who sent
it, its Idempotency-Key and client uuids, the body as received, pending / ingested / refused, its result
or problem). Created empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "pos_inbox"


def _fk(column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{TABLE}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("caller", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("uuid_key", sa.String(length=80), nullable=False),
        sa.Column("client_uuids", sa.JSON(), nullable=False),
        sa.Column("sale_count", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", orm.UTCDateTime(), nullable=False),
        sa.Column("ingested_at", orm.UTCDateTime(), nullable=True),
        sa.Column("refused_at", orm.UTCDateTime(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'ingested', 'refused')", name=op.f(f"ck_{TABLE}_status")),
        _fk("company_id", "companies"),
        _fk("store_id", "stores"),
        _fk("session_id", "pos_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("source", "idempotency_key", name=op.f(f"uq_{TABLE}_source_idempotency_key")),
        sa.UniqueConstraint("company_id", "uuid_key", name=op.f(f"uq_{TABLE}_company_id_uuid_key")),
    )
    op.create_index("ix_pos_inbox_status_session", TABLE, ["status", "session_id"])


def downgrade() -> None:
    op.drop_index("ix_pos_inbox_status_session", table_name=TABLE)
    op.drop_table(TABLE)
