"""Migration 0031 (accruals, tax return boxes): its table, and companies set up before get the account of
the role ``unbilled_receivable`` and the rule ``accrual-shipped-not-invoiced`` as the rulebook has it."""

from __future__ import annotations

import importlib

from sqlalchemy import delete, inspect, select

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import ACCRUAL_RULES
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Account
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0031_accruals_and_tax_boxes")


def test_the_frozen_rule_is_the_rulebooks():
    frozen = {k: v for k, v in revision.NEW_RULE.items() if k not in ("conditions", "priority")}
    assert [frozen] == ACCRUAL_RULES


def test_0031_gives_companies_set_up_before_the_account_and_the_rule(tmp_path):
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
            session.execute(delete(PostingRule).where(PostingRule.code == revision.NEW_RULE["code"]))
            session.execute(delete(Account).where(Account.role == "unbilled_receivable"))
        assert "tax_return_boxes" not in inspect(engine).get_table_names()

        migrations.upgrade(engine, revision.revision)

        assert "tax_return_boxes" in inspect(engine).get_table_names()
        with factory() as session:
            rule = session.scalar(
                select(PostingRule).where(
                    PostingRule.company_id == company_id, PostingRule.code == revision.NEW_RULE["code"]
                )
            )
            account = session.scalar(
                select(Account).where(Account.company_id == company_id, Account.role == "unbilled_receivable")
            )
        assert (rule.event_type, rule.lines) == (ACCRUAL_RULES[0]["event_type"], ACCRUAL_RULES[0]["lines"])
        assert (account.code, account.type) == ("1215", "asset")
        migrations.downgrade(engine, revision.down_revision)
        assert "tax_return_boxes" not in inspect(engine).get_table_names()
        engine.dispose()
