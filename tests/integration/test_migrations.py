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
