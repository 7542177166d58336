"""ledger stamps: a per-company token the ledger master-data tables change by trigger

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07 14:05:00

Decision 0064. ``ledger_stamps`` holds one row per company whose ``token`` takes a new, never reused
value whenever a row of ``ledger_settings``, ``fiscal_years``, ``journals``, ``accounts`` or
``posting_rules`` of the company is inserted, updated or deleted (a PostgreSQL sequence's next value; a
64-bit random number on SQLite). A process caches the company's master data under the token it read and
reloads it when the token differs (``accounting/cache.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("ledger_settings", "fiscal_years", "journals", "accounts", "posting_rules")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION retailcore_bump_ledger_stamp() RETURNS trigger AS $$
DECLARE
    company uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        company := OLD.company_id;
    ELSE
        company := NEW.company_id;
    END IF;
    INSERT INTO ledger_stamps (company_id, token) VALUES (company, nextval('ledger_stamp_tokens'))
    ON CONFLICT (company_id) DO UPDATE SET token = EXCLUDED.token;
    IF TG_OP = 'UPDATE' AND OLD.company_id IS DISTINCT FROM NEW.company_id THEN
        INSERT INTO ledger_stamps (company_id, token) VALUES (OLD.company_id, nextval('ledger_stamp_tokens'))
        ON CONFLICT (company_id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# SQLite has no sequence: a 64-bit random number stands in for one (a repeat is a 1 in 2^64 chance).
SQLITE_BUMP = (
    "INSERT INTO ledger_stamps (company_id, token) VALUES ({row}.company_id, random())"
    " ON CONFLICT (company_id) DO UPDATE SET token = excluded.token;"
)


def upgrade() -> None:
    op.create_table(
        "ledger_stamps",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_ledger_stamps")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE ledger_stamp_tokens")
        op.execute(
            "INSERT INTO ledger_stamps (company_id, token)"
            " SELECT id, nextval('ledger_stamp_tokens') FROM companies"
        )
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_ledger_stamp AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION retailcore_bump_ledger_stamp()"
            )
        return
    op.execute("INSERT INTO ledger_stamps (company_id, token) SELECT id, random() FROM companies")
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_ledger_stamp_insert AFTER INSERT ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='NEW')} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_ledger_stamp_update AFTER UPDATE ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='NEW')} {SQLITE_BUMP.format(row='OLD')} END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_ledger_stamp_delete AFTER DELETE ON {table}"
            f" BEGIN {SQLITE_BUMP.format(row='OLD')} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_ledger_stamp ON {table}")
        op.execute("DROP FUNCTION IF EXISTS retailcore_bump_ledger_stamp()")
        op.execute("DROP SEQUENCE IF EXISTS ledger_stamp_tokens")
    else:
        for table in TABLES:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_ledger_stamp_{action}")
    op.drop_table("ledger_stamps")
