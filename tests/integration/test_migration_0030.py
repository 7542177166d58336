"""Migration 0030 (multi-company): its tables, and companies set up before get the intercompany rules
as the rulebook has them and, on the generic chart, the accounts 4500 and 5040."""

from __future__ import annotations

import importlib

from sqlalchemy import delete, inspect, select

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import INTERCOMPANY_RULES
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Account
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0030_multicompany")
CODES = [rule["code"] for rule in INTERCOMPANY_RULES]
TABLES = {"company_groups", "company_group_members", "intercompany_accounts", "intercompany_documents"}


def test_the_frozen_rules_are_the_rulebooks():
    assert [
        {k: v for k, v in rule.items() if k != "conditions"} for rule in revision.RULES
    ] == INTERCOMPANY_RULES


def test_0030_gives_companies_set_up_before_the_intercompany_rules_and_accounts(tmp_path):
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
            session.execute(delete(PostingRule).where(PostingRule.code.in_(CODES)))
            session.execute(
                delete(Account).where(Account.company_id == company_id, Account.code.in_(["4500", "5040"]))
            )
        assert not TABLES & set(inspect(engine).get_table_names())

        migrations.upgrade(engine, revision.revision)

        assert set(inspect(engine).get_table_names()) >= TABLES
        with factory() as session:
            rules = {
                rule.code: rule
                for rule in session.scalars(
                    select(PostingRule).where(
                        PostingRule.company_id == company_id, PostingRule.code.in_(CODES)
                    )
                )
            }
            accounts = dict(
                session.execute(
                    select(Account.code, Account.role).where(
                        Account.company_id == company_id, Account.code.in_(["4500", "5040"])
                    )
                ).all()
            )
        assert {code: (rules[code].event_type, rules[code].lines) for code in CODES} == {
            rule["code"]: (rule["event_type"], rule["lines"]) for rule in INTERCOMPANY_RULES
        }
        assert accounts == {"4500": "intercompany_revenue", "5040": "intercompany_cost"}
        migrations.downgrade(engine, revision.down_revision)
        assert not TABLES & set(inspect(engine).get_table_names())
        engine.dispose()
