"""Migration 0037 (loyalty, decision 0049): its tables, the ``loyalty`` kind of payment methods and order
payments, and companies set up before get the loyalty accounts and rules, and the loyalty tender line in
their untouched tender rules (an edited rule is left to its accountant)."""

from __future__ import annotations

import datetime as dt
import importlib

from sqlalchemy import delete, inspect, select, update

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import DEFAULT_RULES, LOYALTY_GIVEN, LOYALTY_RULES, LOYALTY_TAKEN
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Account
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0037_loyalty")
TENDER_RULES = tuple(revision.TENDER_LINES)
LOYALTY_ROLES = ("loyalty_liability", "loyalty_cost")


def test_the_frozen_rules_and_lines_are_the_rulebooks():
    frozen = [
        {k: v for k, v in rule.items() if k not in ("conditions", "priority")} for rule in revision.NEW_RULES
    ]
    current = [{k: v for k, v in rule.items() if k != "conditions"} for rule in LOYALTY_RULES]
    assert frozen == current
    assert [rule.get("conditions", {}) for rule in LOYALTY_RULES] == [
        r["conditions"] for r in revision.NEW_RULES
    ]
    assert revision.TENDER_LINES == {
        "order-tender-accepted": LOYALTY_TAKEN,
        "order-tender-returned": LOYALTY_GIVEN,
        "pos-session-close": LOYALTY_TAKEN,
    }
    for code, line in revision.TENDER_LINES.items():
        assert line in next(rule["lines"] for rule in DEFAULT_RULES if rule["code"] == code)


def test_0037_gives_companies_set_up_before_the_accounts_rules_and_tender_lines(tmp_path):
    subscriptions.install()
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine, revision.down_revision)
        factory = make_session_factory(engine)
        ids = {}
        with transaction(factory) as session:
            for code in ("OLD", "EDITED"):
                company = create_company(
                    session,
                    CommandContext(system_principal()),
                    CreateCompany(code=code, name=code, currency="EUR", country="FR"),
                )
                ids[code] = company.id
        with transaction(factory) as session:  # as companies of the release before stood
            session.execute(
                delete(PostingRule).where(PostingRule.code.in_([r["code"] for r in LOYALTY_RULES]))
            )
            session.execute(delete(Account).where(Account.role.in_(LOYALTY_ROLES)))
            for rule in session.scalars(select(PostingRule).where(PostingRule.code.in_(TENDER_RULES))):
                rule.lines = [line for line in rule.lines if line not in (LOYALTY_TAKEN, LOYALTY_GIVEN)]
            # Finance changed EDITED's order-tender-accepted rule: a second version from a date.
            old = session.scalar(
                select(PostingRule).where(
                    PostingRule.company_id == ids["EDITED"], PostingRule.code == "order-tender-accepted"
                )
            )
            session.execute(
                update(PostingRule).where(PostingRule.id == old.id).values(valid_to=dt.date(2026, 5, 31))
            )
            session.add(
                PostingRule(
                    company_id=old.company_id, code=old.code, name=old.name, event_type=old.event_type,
                    journal_code=old.journal_code, priority=old.priority, conditions=old.conditions,
                    lines=list(old.lines), valid_from=dt.date(2026, 6, 1),
                )
            )  # fmt: skip
        assert "loyalty_accounts" not in inspect(engine).get_table_names()

        migrations.upgrade(engine, revision.revision)

        assert {"loyalty_programmes", "loyalty_accounts", "loyalty_movements"} <= set(
            inspect(engine).get_table_names()
        )
        for table in ("payment_methods", "order_payments"):
            checks = inspect(engine).get_check_constraints(table)
            assert any("'loyalty'" in (check.get("sqltext") or "") for check in checks), table
        defaults = {rule["code"]: rule["lines"] for rule in DEFAULT_RULES}
        with factory() as session:
            accounts = set(
                session.execute(
                    select(Account.company_id, Account.code, Account.role).where(
                        Account.role.in_(LOYALTY_ROLES)
                    )
                )
            )
            assert accounts == {
                (company_id, code, role)
                for company_id in ids.values()
                for code, role in (("2240", "loyalty_liability"), ("6045", "loyalty_cost"))
            }
            for rule in LOYALTY_RULES:
                stored = session.scalars(select(PostingRule).where(PostingRule.code == rule["code"])).all()
                assert len(stored) == 2 and all(r.lines == rule["lines"] for r in stored)
            rules = session.execute(
                select(PostingRule.company_id, PostingRule.code, PostingRule.lines).where(
                    PostingRule.code.in_(TENDER_RULES)
                )
            ).all()
            for company_id, code, lines in rules:
                if company_id == ids["EDITED"] and code == "order-tender-accepted":
                    assert LOYALTY_TAKEN not in lines  # its accountant adds it
                else:
                    assert lines == defaults[code], code
        migrations.upgrade(engine, revision.revision)  # harmless twice
        migrations.downgrade(engine, revision.down_revision)
        assert "loyalty_accounts" not in inspect(engine).get_table_names()
        checks = inspect(engine).get_check_constraints("payment_methods")
        assert not any("'loyalty'" in (check.get("sqltext") or "") for check in checks)
        with factory() as session:
            for lines in session.scalars(select(PostingRule.lines).where(PostingRule.code.in_(TENDER_RULES))):
                assert LOYALTY_TAKEN not in lines and LOYALTY_GIVEN not in lines
        engine.dispose()
