"""Migration 0038 (discounts): its columns and tables, and companies set up before get the account of the
role ``sales_discounts`` and the discount lines of the three sales rules, as the rulebook has them."""

from __future__ import annotations

import importlib

from sqlalchemy import delete, inspect, select

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import DEFAULT_RULES, _discount_lines
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Account
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0038_discounts")


def test_the_frozen_lines_are_the_rulebooks():
    for label in revision.RULE_LABELS.values():
        assert revision._discount_lines(label) == _discount_lines(label)


def test_0038_gives_companies_set_up_before_the_account_and_the_rule_lines(tmp_path):
    subscriptions.install()
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine, revision.down_revision)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            company = create_company(
                session,
                CommandContext(system_principal()),
                CreateCompany(code="OLD", name="Old", currency="EUR", country="FR"),
            )
            company_id = company.id
        with transaction(factory) as session:  # as companies of the release before stood
            session.execute(delete(Account).where(Account.role == "sales_discounts"))
            for rule in session.scalars(
                select(PostingRule).where(PostingRule.code.in_(revision.RULE_LABELS))
            ):
                rule.lines = [line for line in rule.lines if line.get("for_each") != "discounts"]
        assert "discount_policies" not in inspect(engine).get_table_names()

        migrations.upgrade(engine, revision.revision)

        tables = inspect(engine).get_table_names()
        assert {"discount_policies", "discount_settings"} <= set(tables)
        assert "discounts" in {c["name"] for c in inspect(engine).get_columns("order_lines")}
        wanted = {
            rule["code"]: rule["lines"] for rule in DEFAULT_RULES if rule["code"] in revision.RULE_LABELS
        }
        with factory() as session:
            rules = {
                rule.code: rule.lines
                for rule in session.scalars(
                    select(PostingRule).where(
                        PostingRule.company_id == company_id, PostingRule.code.in_(revision.RULE_LABELS)
                    )
                )
            }
            account = session.scalar(
                select(Account).where(Account.company_id == company_id, Account.role == "sales_discounts")
            )
        # the same lines (the migration appends the two, the rulebook has them after the sales lines)
        assert {code: sorted(map(repr, lines)) for code, lines in rules.items()} == {
            code: sorted(map(repr, lines)) for code, lines in wanted.items()
        }
        assert (account.code, account.type) == ("4020", "income")
        migrations.downgrade(engine, revision.down_revision)
        assert "discount_policies" not in inspect(engine).get_table_names()
        engine.dispose()
