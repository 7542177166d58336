"""Migration 0017 gives companies set up before it the accounts and posting rules returns post with."""

from __future__ import annotations

from sqlalchemy import text

from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine
from support import empty_database

RULES = ("return-refund-approved", "return-refund-paid", "return-payment-refunded")


def test_existing_companies_get_the_return_accounts_and_rules(tmp_path):
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        # A company as an older release left it: without the new accounts and rules.
        migrations.downgrade(engine, "0016")
        company_id = "0190f0a0-0000-7000-8000-000000000001"
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO companies (id, code, name, currency, country, tax_jurisdiction,"
                    " chart_template, pos_approval_threshold, sale_clock_past_days,"
                    " sale_clock_future_days, sale_clock_policy, created_at, updated_at, version)"
                    " VALUES (:id, 'OLD', 'Old', 'EUR', 'FR', 'FR', 'generic_retail', 2000, 30, 1,"
                    " 'book_on_receipt', :now, :now, 1)"
                ),
                {"id": _id(engine, company_id), "now": "2026-01-01 00:00:00"},
            )
        migrations.upgrade(engine)
        migrations.upgrade(engine)  # harmless twice
        with engine.connect() as connection:
            roles = set(connection.scalars(text("SELECT role FROM accounts WHERE code IN ('2230', '4110')")))
            rules = list(connection.scalars(text("SELECT code FROM posting_rules ORDER BY code")))
        assert roles == {"refunds_payable", "restocking_fees"}
        assert sorted(rules) == sorted(RULES)
        engine.dispose()


def _id(engine, value: str) -> str:
    return value if engine.dialect.name == "postgresql" else value.replace("-", "")
