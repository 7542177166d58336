"""point of sale

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _amount() -> orm.ExactDecimal:
    return orm.ExactDecimal(precision=19, scale=4)


def upgrade() -> None:
    op.create_table(
        "pos_terminals",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_terminals_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_pos_terminals_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_terminals")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_pos_terminals_company_id_code")),
    )
    with op.batch_alter_table("pos_terminals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_terminals_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pos_terminals_store_id"), ["store_id"], unique=False)

    op.create_table(
        "pos_sessions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("is_rescue", sa.Boolean(), nullable=False),
        sa.Column("opening_float", _amount(), nullable=False),
        sa.Column("opened_at", orm.UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", orm.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("counted", sa.JSON(), nullable=True),
        sa.Column("expected_cash", _amount(), nullable=True),
        sa.Column("cash_difference", _amount(), nullable=True),
        sa.Column("closing_event_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('open', 'closed')", name=op.f("ck_pos_sessions_state")),
        sa.CheckConstraint("opening_float >= 0", name=op.f("ck_pos_sessions_opening_float_not_negative")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_sessions_company_id_companies")
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_pos_sessions_store_id_stores")),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["pos_terminals.id"], name=op.f("fk_pos_sessions_terminal_id_pos_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_sessions")),
        sa.UniqueConstraint("terminal_id", "number", name=op.f("uq_pos_sessions_terminal_id_number")),
    )
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_sessions_company_id"), ["company_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pos_sessions_store_id"), ["store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pos_sessions_terminal_id"), ["terminal_id"], unique=False)

    op.create_table(
        "pos_sales",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.Uuid(), nullable=False),
        sa.Column("client_uuid", sa.Uuid(), nullable=False),
        sa.Column("sold_at", orm.UTCDateTime(), nullable=False),
        sa.Column("received_at", orm.UTCDateTime(), nullable=False),
        sa.Column("net", _amount(), nullable=False),
        sa.Column("tax", _amount(), nullable=False),
        sa.Column("gross", _amount(), nullable=False),
        sa.Column("change", _amount(), nullable=False),
        sa.Column("cogs", _amount(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("tenders", sa.JSON(), nullable=False),
        sa.Column("stock_event_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_sales_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["pos_sessions.id"], name=op.f("fk_pos_sales_session_id_pos_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["pos_terminals.id"], name=op.f("fk_pos_sales_terminal_id_pos_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_sales")),
        sa.UniqueConstraint("company_id", "client_uuid", name=op.f("uq_pos_sales_company_id_client_uuid")),
    )
    with op.batch_alter_table("pos_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_sales_session_id"), ["session_id"], unique=False)

    op.create_table(
        "pos_session_totals",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("net", _amount(), nullable=False),
        sa.Column("tax", _amount(), nullable=False),
        sa.Column("tax_base", _amount(), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('tax', 'category', 'tender', 'cogs')", name=op.f("ck_pos_session_totals_kind")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["pos_sessions.id"], name=op.f("fk_pos_session_totals_session_id_pos_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_session_totals")),
        sa.UniqueConstraint(
            "session_id", "kind", "key", name=op.f("uq_pos_session_totals_session_id_kind_key")
        ),
    )

    op.create_table(
        "pos_cash_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_pos_cash_movements_direction")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_pos_cash_movements_amount_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_cash_movements_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["pos_sessions.id"], name=op.f("fk_pos_cash_movements_session_id_pos_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_cash_movements")),
    )
    with op.batch_alter_table("pos_cash_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_cash_movements_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pos_cash_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_cash_movements_session_id"))

    op.drop_table("pos_cash_movements")
    op.drop_table("pos_session_totals")
    with op.batch_alter_table("pos_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_sales_session_id"))

    op.drop_table("pos_sales")
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_sessions_terminal_id"))
        batch_op.drop_index(batch_op.f("ix_pos_sessions_store_id"))
        batch_op.drop_index(batch_op.f("ix_pos_sessions_company_id"))

    op.drop_table("pos_sessions")
    with op.batch_alter_table("pos_terminals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_terminals_store_id"))
        batch_op.drop_index(batch_op.f("ix_pos_terminals_company_id"))

    op.drop_table("pos_terminals")
