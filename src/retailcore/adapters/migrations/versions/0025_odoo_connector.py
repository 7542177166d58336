"""odoo connector: connector_links of Odoo products, partners and moves; connector_entries (the cursor)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 01:10:00

Follows 0024 (the Shopify stock push).

* ``connector_links.kind`` also takes ``product``, ``customer`` and ``move``: an Odoo
  ``product.product``, ``res.partner`` or ``account.move`` id and what it is here (decision 0033).
* ``connector_entries``: each posted journal entry an outbound connector has taken into a message, at
  most once per connector (its primary key), with the message and the aggregation key.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("order", "line", "fulfillment", "refund")
KINDS = (*KINDS_BEFORE, "product", "customer", "move")


def _one_of(values: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _kinds(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("connector_links", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_connector_links_kind"), type_="check")
        batch_op.create_check_constraint("kind", _one_of(values))


def upgrade() -> None:
    _kinds(KINDS)
    op.create_table(
        "connector_entries",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("move_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_entries_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_connector_entries_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["sync_messages.id"],
            name=op.f("fk_connector_entries_message_id_sync_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", "entry_id", name=op.f("pk_connector_entries")),
    )
    with op.batch_alter_table("connector_entries", schema=None) as batch_op:
        batch_op.create_index("ix_connector_entries_key", ["connector_id", "move_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connector_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_entries_key")
    op.drop_table("connector_entries")
    op.execute(sa.text(f"DELETE FROM connector_links WHERE NOT ({_one_of(KINDS_BEFORE)})"))
    _kinds(KINDS_BEFORE)
