"""ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:15:52.486962
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Posted entries and their lines never change: corrections are reversals. The database enforces it,
# whatever the client. Drafts may change until posted; posting itself is the one allowed update
# (state draft -> posted, plus the number and who posted).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION retailcore_refuse_posted_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.state = 'posted' THEN
            RAISE EXCEPTION '% row is posted and immutable', TG_TABLE_NAME;
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.state = 'posted' THEN
        RAISE EXCEPTION '% row is posted and immutable', TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


def _install_immutability_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in ("journal_entries", "journal_lines"):
            op.execute(
                f"CREATE TRIGGER {table}_posted_immutable BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION retailcore_refuse_posted_change()"
            )
        return
    for table in ("journal_entries", "journal_lines"):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_posted_immutable_{action.lower()} BEFORE {action} ON {table}"
                f" WHEN OLD.state = 'posted'"
                f" BEGIN SELECT RAISE(ABORT, '{table} row is posted and immutable'); END"
            )


def _drop_immutability_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("journal_entries", "journal_lines"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_posted_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS retailcore_refuse_posted_change()")
        return
    for table in ("journal_entries", "journal_lines"):
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_posted_immutable_{action}")


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_exchange_rates_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint(
            "company_id",
            "currency",
            "rate_date",
            name=op.f("uq_exchange_rates_company_id_currency_rate_date"),
        ),
    )
    op.create_table(
        "fiscal_years",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_fiscal_years_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiscal_years")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_fiscal_years_company_id_code")),
        sa.UniqueConstraint("company_id", "start_date", name=op.f("uq_fiscal_years_company_id_start_date")),
    )
    with op.batch_alter_table("fiscal_years", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fiscal_years_company_id"), ["company_id"], unique=False)

    op.create_table(
        "journals",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_journals_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journals")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_journals_company_id_code")),
    )
    with op.batch_alter_table("journals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journals_company_id"), ["company_id"], unique=False)

    op.create_table(
        "journal_sequences",
        sa.Column("journal_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_journal_sequences_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_journal_sequences_journal_id_journals")
        ),
        sa.PrimaryKeyConstraint("journal_id", "year", name=op.f("pk_journal_sequences")),
    )

    op.create_table(
        "ledger_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("lock_date", sa.Date(), nullable=True),
        sa.Column("fiscal_year_start_month", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_ledger_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_ledger_settings")),
    )
    op.create_table(
        "posting_rules",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("journal_code", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_posting_rules_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posting_rules")),
        sa.UniqueConstraint(
            "company_id", "code", "valid_from", name=op.f("uq_posting_rules_company_id_code_valid_from")
        ),
    )
    with op.batch_alter_table("posting_rules", schema=None) as batch_op:
        batch_op.create_index("ix_posting_rules_company_event", ["company_id", "event_type"], unique=False)

    op.create_table(
        "journal_entries",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("journal_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("reversal_of_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("posted_by", sa.String(length=128), nullable=True),
        sa.Column("posted_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("state IN ('draft', 'posted')", name=op.f("ck_journal_entries_state")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_journal_entries_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_journal_entries_journal_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["reversal_of_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_entries_reversal_of_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_journal_entries_event_id")),
        sa.UniqueConstraint("journal_id", "number", name=op.f("uq_journal_entries_journal_id_number")),
        sa.UniqueConstraint("reversal_of_id", name=op.f("uq_journal_entries_reversal_of_id")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index("ix_journal_entries_company_date", ["company_id", "date"], unique=False)

    op.create_table(
        "periods",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_periods_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["fiscal_year_id"], ["fiscal_years.id"], name=op.f("fk_periods_fiscal_year_id_fiscal_years")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_periods")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_periods_company_id_code")),
    )
    with op.batch_alter_table("periods", schema=None) as batch_op:
        batch_op.create_index(
            "ix_periods_company_dates", ["company_id", "start_date", "end_date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_periods_fiscal_year_id"), ["fiscal_year_id"], unique=False)

    op.create_table(
        "journal_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("debit", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("credit", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_currency", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("rate", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("product_category", sa.String(length=200), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("tax_code", sa.String(length=32), nullable=True),
        sa.Column("tax_base", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("journal_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "debit >= 0 AND credit >= 0 AND NOT (debit > 0 AND credit > 0)",
            name=op.f("ck_journal_lines_one_side"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_journal_lines_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_journal_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_lines_entry_id_journal_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.create_index("ix_journal_lines_account_date", ["account_id", "date"], unique=False)
        batch_op.create_index("ix_journal_lines_entry", ["entry_id"], unique=False)
        batch_op.create_index(
            "ix_journal_lines_report", ["company_id", "state", "date", "account_id"], unique=False
        )

    op.create_table(
        "line_matches",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("debit_line_id", sa.Uuid(), nullable=False),
        sa.Column("credit_line_id", sa.Uuid(), nullable=False),
        sa.Column("amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("reconciliation_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_line_matches_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_line_matches_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_line_matches_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["credit_line_id"],
            ["journal_lines.id"],
            name=op.f("fk_line_matches_credit_line_id_journal_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_line_id"], ["journal_lines.id"], name=op.f("fk_line_matches_debit_line_id_journal_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_matches")),
    )
    with op.batch_alter_table("line_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_line_matches_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_line_matches_credit_line_id"), ["credit_line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_line_matches_debit_line_id"), ["debit_line_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_line_matches_reconciliation_id"), ["reconciliation_id"], unique=False
        )

    _install_immutability_triggers()


def downgrade() -> None:
    _drop_immutability_triggers()
    with op.batch_alter_table("line_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_line_matches_reconciliation_id"))
        batch_op.drop_index(batch_op.f("ix_line_matches_debit_line_id"))
        batch_op.drop_index(batch_op.f("ix_line_matches_credit_line_id"))
        batch_op.drop_index(batch_op.f("ix_line_matches_account_id"))

    op.drop_table("line_matches")
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_lines_report")
        batch_op.drop_index("ix_journal_lines_entry")
        batch_op.drop_index("ix_journal_lines_account_date")

    op.drop_table("journal_lines")
    with op.batch_alter_table("periods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_periods_fiscal_year_id"))
        batch_op.drop_index("ix_periods_company_dates")

    op.drop_table("periods")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_entries_company_date")

    op.drop_table("journal_entries")
    with op.batch_alter_table("posting_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_posting_rules_company_event")

    op.drop_table("posting_rules")
    op.drop_table("ledger_settings")
    with op.batch_alter_table("journals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journals_company_id"))

    op.drop_table("journal_sequences")
    op.drop_table("journals")
    with op.batch_alter_table("fiscal_years", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fiscal_years_company_id"))

    op.drop_table("fiscal_years")
    op.drop_table("exchange_rates")
