"""Migrations build the schema from nothing, and agree with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine
from retailcore.adapters.schema import metadata
from support import empty_database


def test_migrated_schema_matches_the_models(runtime):
    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": migrations.declared_for(connection.dialect.name)},
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_upgrade_builds_every_table_on_an_empty_database(tmp_path):
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        assert inspect(engine).get_table_names() == []
        migrations.upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
        assert migrations.current_revision(engine) == migrations.head_revision(engine)
        migrations.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()


def test_upgrade_twice_is_harmless(runtime):
    migrations.upgrade(runtime.engine)
    with runtime.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1


def test_0016_brings_companies_set_up_before_to_the_gift_card_rules_and_accounts(tmp_path):
    import importlib

    from sqlalchemy import delete, select, update

    from retailcore.access.model import system_principal
    from retailcore.accounting import subscriptions
    from retailcore.accounting.posting.rulebook import DEFAULT_RULES
    from retailcore.accounting.tables import PostingRule
    from retailcore.adapters.db import make_session_factory, transaction
    from retailcore.eventlog.services import CommandContext
    from retailcore.masterdata.commands import CreateCompany
    from retailcore.masterdata.services import create_company
    from retailcore.masterdata.tables import Account

    revision = importlib.import_module(
        "retailcore.adapters.migrations.versions.0016_gift_cards_and_store_credit"
    )
    new_codes = [rule["code"] for rule in revision.RULES]
    # The frozen copy is what the rulebook of this release says.
    for rule in revision.RULES:
        (current,) = [r for r in DEFAULT_RULES if r["code"] == rule["code"]]
        assert {k: current.get(k, {}) for k in ("event_type", "journal_code", "conditions", "lines")} == {
            k: rule[k] for k in ("event_type", "journal_code", "conditions", "lines")
        }
    subscriptions.install()
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine, "0015")
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            company = create_company(
                session,
                CommandContext(system_principal()),
                CreateCompany(code="OLD", name="Old", currency="EUR", country="FR"),
            )
            company_id = company.id
        with transaction(factory) as session:  # as a company of the release before would stand
            session.execute(delete(PostingRule).where(PostingRule.code.in_(new_codes)))
            session.execute(delete(Account).where(Account.code == "4400"))
            session.execute(update(Account).where(Account.code == "6040").values(role=None))
        migrations.upgrade(engine)
        with factory() as session:
            codes = set(session.scalars(select(PostingRule.code).where(PostingRule.company_id == company_id)))
            assert set(new_codes) <= codes
            roles = dict(
                session.execute(
                    select(Account.code, Account.role).where(Account.company_id == company_id)
                ).all()
            )
            assert (roles["4400"], roles["6040"]) == ("gift_card_breakage", "customer_goodwill")
        engine.dispose()
