"""connectors: connectors (encrypted secrets), their sync log, and external id links (decision 0029)

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-06 22:15:19

Numbered 0021 on the shopify branch, after 0017 (main's head when it was written): the revisions other
branches add in between are merged first, and this one is re-chained onto the last of them at merge.
New tables only; nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('shopify', 'marketplace', 'odoo')", name=op.f("ck_connectors_kind")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_connectors_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_connectors_kind_name")),
    )
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.create_index("ix_connectors_company", ["company_id"], unique=False)

    op.create_table(
        "connector_links",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("internal_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('order', 'line', 'fulfillment', 'refund')", name=op.f("ck_connector_links_kind")
        ),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_connector_links_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connector_id", "kind", "external_id", name=op.f("pk_connector_links")),
    )
    op.create_table(
        "sync_messages",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("webhook_id", sa.String(length=128), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", orm.UTCDateTime(), nullable=True),
        sa.Column("waits_for", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duplicate_deliveries", sa.Integer(), nullable=False),
        sa.Column("duplicate_of", sa.String(length=64), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", orm.UTCDateTime(), nullable=False),
        sa.Column("processed_at", orm.UTCDateTime(), nullable=True),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f("ck_sync_messages_direction")),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'failed', 'retried', 'dead_lettered')",
            name=op.f("ck_sync_messages_status"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_sync_messages_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_sync_messages_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_messages")),
        sa.UniqueConstraint(
            "connector_id", "webhook_id", name=op.f("uq_sync_messages_connector_id_webhook_id")
        ),
    )
    with op.batch_alter_table("sync_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sync_messages_connector", ["connector_id", "id"], unique=False)
        batch_op.create_index("ix_sync_messages_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_sync_messages_waiting", ["connector_id", "waits_for"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_messages_waiting")
        batch_op.drop_index("ix_sync_messages_due")
        batch_op.drop_index("ix_sync_messages_connector")

    op.drop_table("sync_messages")
    op.drop_table("connector_links")
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_index("ix_connectors_company")

    op.drop_table("connectors")
