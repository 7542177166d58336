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
        # 0027 (settlements), 0029 (bank statements), 0030 (intercompany), 0031 (accruals) and 0037 give
        # existing companies their rules as well.
        later = ["gateway-settlement", "settlement-adjustment", "bank-statement-match"]
        later += ["intercompany-goods-shipped", "intercompany-goods-received"]
        later += ["intercompany-resale", "intercompany-purchase", "accrual-shipped-not-invoiced"]
        # 0037 (loyalty, decision 0049)
        later += [
            "loyalty-points-earned",
            "loyalty-points-reversed",
            "loyalty-revalued-up",
            "loyalty-revalued-down",
        ]
        later += ["pos-session-cost-of-sales"]  # 0045 (foreign-currency tills, decision 0059)
        later += ["standard-cost-changed"]  # 0047 (stock costing, decision 0061)
        later += ["fx-settled-foreign", "fx-settled-received"]  # 0048 (decision 0062)
        assert sorted(rules) == sorted([*RULES, *later])
        engine.dispose()


def _id(engine, value: str) -> str:
    return value if engine.dialect.name == "postgresql" else value.replace("-", "")


def test_0018_gives_existing_approval_rules_the_restocking_fee_tax_line(tmp_path):
    from retailcore.accounting.posting.rulebook import DEFAULT_RULES

    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        migrations.downgrade(engine, "0016")
        company_id = "0190f0a0-0000-7000-8000-000000000002"
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
        migrations.upgrade(engine, "0017")
        with engine.begin() as connection:  # a policy set before: card refunds paid at once, as then
            connection.execute(
                text(
                    "INSERT INTO return_policies (company_id, no_receipt_allowed, no_receipt_roles,"
                    " cash_refunds_allowed) VALUES (:id, false, '[]', true)"
                ),
                {"id": _id(engine, company_id)},
            )
        approved = "SELECT lines FROM posting_rules WHERE code = 'return-refund-approved'"
        with engine.connect() as connection:
            before = connection.scalar(text(approved))
        assert not [line for line in _lines(before) if line.get("for_each") == "fee_taxes"]
        migrations.upgrade(engine)
        migrations.downgrade(engine, "0017")
        migrations.upgrade(engine)  # down and up again: one line, not two
        with engine.connect() as connection:
            after = _lines(connection.scalar(text(approved)))
            columns = connection.execute(
                text("SELECT card_refunds_await_confirmation, restocking_fee_taxable FROM return_policies")
            ).all()
        (current,) = [r for r in DEFAULT_RULES if r["code"] == "return-refund-approved"]
        assert after == current["lines"]  # the frozen line is what the rulebook says
        assert [line for line in after if line.get("for_each") == "fee_taxes"] == [
            {
                "side": "credit",
                "account_role": "output_tax",
                "amount": "tax",
                "label": "Restocking fee {return_ref} tax {tax_code}",
                "for_each": "fee_taxes",
            }
        ]
        assert [tuple(row) for row in columns] == [(False, True)]
        engine.dispose()


def _lines(value):
    import json

    return json.loads(value) if isinstance(value, str) else value
