"""Migration 0043 (order shipping): its columns, and companies set up before get the account of the role
``shipping_revenue`` and the shipping lines of ``order-fulfilled``, as the rulebook has them."""

from __future__ import annotations

import importlib

from sqlalchemy import delete, inspect, select

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import DEFAULT_RULES, _shipping_lines
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Account
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0043_order_shipping")
SHIPPING_LISTS = ("shipping", "shipping_discounts")


def test_the_frozen_lines_are_the_rulebooks():
    assert _shipping_lines("Shipping") == revision.SHIPPING_LINES


def test_0043_gives_companies_set_up_before_the_account_and_the_rule_lines(tmp_path):
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
            session.execute(delete(Account).where(Account.role == "shipping_revenue"))
            rule = session.scalar(select(PostingRule).where(PostingRule.code == revision.RULE))
            rule.lines = [line for line in rule.lines if line.get("for_each") not in SHIPPING_LISTS]
        assert "shipping_amount" not in {c["name"] for c in inspect(engine).get_columns("orders")}

        migrations.upgrade(engine, revision.revision)

        columns = {c["name"] for c in inspect(engine).get_columns("orders")}
        assert {name for name, _ in revision.COLUMNS} <= columns
        (wanted,) = [rule["lines"] for rule in DEFAULT_RULES if rule["code"] == revision.RULE]
        with factory() as session:
            lines = session.scalar(
                select(PostingRule.lines).where(
                    PostingRule.company_id == company_id, PostingRule.code == revision.RULE
                )
            )
            account = session.scalar(
                select(Account).where(Account.company_id == company_id, Account.role == "shipping_revenue")
            )
        assert sorted(map(repr, lines)) == sorted(map(repr, wanted))
        assert (account.code, account.name, account.type) == ("4030", "Shipping income", "income")

        migrations.downgrade(engine, revision.down_revision)
        assert "shipping_amount" not in {c["name"] for c in inspect(engine).get_columns("orders")}
        with factory() as session:
            lines = session.scalar(select(PostingRule.lines).where(PostingRule.code == revision.RULE))
        assert not [line for line in lines if line.get("for_each") in SHIPPING_LISTS]
        engine.dispose()
