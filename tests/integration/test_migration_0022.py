"""Migration 0022 (POS exchanges): order payments take the kind ``exchange``, and companies set up
before get the exchange lines of their untouched ``pos-session-close`` and ``return-refunded`` rules."""

from __future__ import annotations

import datetime as dt
import importlib

from sqlalchemy import inspect, select, update

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.accounting.posting.rulebook import (
    DEFAULT_RULES,
    EXCHANGE_GIVEN,
    EXCHANGE_TAKEN,
    LOYALTY_GIVEN,
    LOYALTY_TAKEN,
)
from retailcore.accounting.tables import PostingRule
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from support import empty_database

revision = importlib.import_module(
    "retailcore.adapters.migrations.versions.0022_pos_exchanges_and_gift_cards"
)
CODES = ("pos-session-close", "return-refunded")


def test_the_frozen_lines_are_the_rulebooks():
    assert revision.NEW_LINES["pos-session-close"][1] == EXCHANGE_TAKEN
    assert revision.NEW_LINES["return-refunded"][1] == EXCHANGE_GIVEN


def test_0022_gives_untouched_rules_the_exchange_lines_and_leaves_edited_ones(tmp_path):
    subscriptions.install()
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine, "0017")
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
            for rule in session.scalars(select(PostingRule).where(PostingRule.code.in_(CODES))):
                # (0037's loyalty lines came later: they go too, and 0037 puts them back after these.)
                later = (EXCHANGE_TAKEN, EXCHANGE_GIVEN, LOYALTY_TAKEN, LOYALTY_GIVEN)
                rule.lines = [line for line in rule.lines if line not in later]
            # Finance changed EDITED's closing rule: a second version from a date.
            old = session.scalar(
                select(PostingRule).where(
                    PostingRule.company_id == ids["EDITED"], PostingRule.code == "pos-session-close"
                )
            )
            session.execute(
                update(PostingRule).where(PostingRule.id == old.id).values(valid_to=dt.date(2026, 5, 31))
            )
            session.add(
                PostingRule(
                    company_id=old.company_id,
                    code=old.code,
                    name=old.name,
                    event_type=old.event_type,
                    journal_code=old.journal_code,
                    priority=old.priority,
                    conditions=old.conditions,
                    lines=list(old.lines),
                    valid_from=dt.date(2026, 6, 1),
                )
            )
        migrations.upgrade(engine)
        checks = inspect(engine).get_check_constraints("order_payments")
        assert any("exchange" in (check.get("sqltext") or "") for check in checks)
        assert {"ck_order_payments_kind", "ck_order_payments_state", "ck_order_payments_amounts"} <= {
            check["name"] for check in checks
        }  # SQLite copies the table: the other checks come along
        totals = inspect(engine).get_check_constraints("pos_session_totals")
        assert any("gift_cards" in (check.get("sqltext") or "") for check in totals)
        defaults = {rule["code"]: rule["lines"] for rule in DEFAULT_RULES if rule["code"] in CODES}
        with factory() as session:
            rules = session.execute(
                select(PostingRule.company_id, PostingRule.code, PostingRule.lines).where(
                    PostingRule.code.in_(CODES)
                )
            ).all()
            for company_id, code, lines in rules:
                if company_id == ids["EDITED"] and code == "pos-session-close":
                    assert EXCHANGE_TAKEN not in lines  # its accountant adds it
                else:
                    assert lines == defaults[code]
        migrations.downgrade(engine, "0017")
        checks = inspect(engine).get_check_constraints("order_payments")
        assert not any("exchange" in (check.get("sqltext") or "") for check in checks)
        with factory() as session:
            for lines in session.scalars(select(PostingRule.lines).where(PostingRule.code.in_(CODES))):
                assert EXCHANGE_TAKEN not in lines and EXCHANGE_GIVEN not in lines
        engine.dispose()
