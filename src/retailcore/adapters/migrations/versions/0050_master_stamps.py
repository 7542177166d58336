"""master stamps: a per-company token the trading master-data tables change by trigger

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07 15:00:00

Decision 0070. ``master_stamps`` holds one row per company whose ``token`` takes a new, never reused
value whenever a row of the master data a sale or an order reads on every transaction is inserted,
updated or deleted: taxes, tax rules and tax settings, payment methods, the POS cash rounding,
promotions, stores and price lists (a PostgreSQL sequence's next value; a 64-bit random number on
SQLite). A process caches what it read of them under the token and reads them again when the token
differs (``masterdata/cache.py``). The same mechanism as the ledger's stamps (migration 0049), on other
tables and with a token of its own, so that a tax or a promotion change does not reload the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "taxes",
    "tax_rules",
    "tax_settings",
    "payment_methods",
    "pos_cash_rounding",
    "promotions",
    "stores",
    "price_lists",
)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION retailcore_bump_master_stamp() RETURNS trigger AS $$
DECLARE
    company uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        company := OLD.company_id;
    ELSE
        company := NEW.company_id;
    END IF;
    INSERT INTO master_stamps (company_id, token) VALUES (company, nextval('master_stamp_tokens'))
    ON CONFLICT (company_id) DO UPDATE SET token = EXCLUDED.token;
    IF TG_OP = 'UPDATE' AND OLD.company_id IS DISTINCT FROM NEW.company_id THEN
        INSERT INTO master_stamps (company_id, token) VALUES (OLD.company_id, nextval('master_stamp_tokens'))
        ON CONFLICT (company_id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

# SQLite has no sequence: a 64-bit random number stands in for one (a repeat is a 1 in 2^64 chance).
SQLITE_BUMP = (
    "INSERT INTO master_stamps (company_id, token) VALUES ({row}.company_id, random())"
    " ON CONFLICT (company_id) DO UPDATE SET token = excluded.token;"
)


def upgrade() -> None:
    op.create_table(
        "master_stamps",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_master_stamps")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE master_stamp_tokens")
        op.execute(
            "INSERT INTO master_stamps (company_id, token)"
            " SELECT id, nextval('master_stamp_tokens') FROM companies"
        )
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_master_stamp AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION retailcore_bump_master_stamp()"
            )
        return
    op.execute("INSERT INTO master_stamps (company_id, token) SELECT id, random() FROM companies")
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
        op.execute("DROP FUNCTION IF EXISTS retailcore_bump_master_stamp()")
        op.execute("DROP SEQUENCE IF EXISTS master_stamp_tokens")
    else:
        for table in TABLES:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_master_stamp_{action}")
    op.drop_table("master_stamps")
