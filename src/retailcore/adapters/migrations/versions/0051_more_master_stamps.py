"""more master stamps: the discount and costing settings renew the company's master stamp

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-07 15:30:00

Decision 0070 (amendment of 2026-12-07). A sale and an order's fulfilment read the company's discount
posting mode (``discount_settings``) and average cost precision (``costing_settings``) on every
transaction; they now come from ``masterdata/cache.py`` under the company's ``master_stamps`` token, so
their rows renew it as migration 0050's tables do, with the same trigger function on PostgreSQL and the
same three triggers per table on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("discount_settings", "costing_settings")

# As in migration 0050; repeated rather than imported, so that this migration stays as it ran.
SQLITE_BUMP = (
    "INSERT INTO master_stamps (company_id, token) VALUES ({row}.company_id, random())"
    " ON CONFLICT (company_id) DO UPDATE SET token = excluded.token;"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_master_stamp AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION retailcore_bump_master_stamp()"
            )
        return
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_master_stamp_insert AFTER INSERT ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='NEW')} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_master_stamp_update AFTER UPDATE ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='NEW')} {SQLITE_BUMP.format(row='OLD')} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_master_stamp_delete AFTER DELETE ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='OLD')} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_master_stamp ON {table}")
        return
    for table in TABLES:
        for action in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_master_stamp_{action}")
