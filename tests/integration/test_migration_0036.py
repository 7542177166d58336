"""Migration 0036 (promotion governance, decision 0048) downgrades while pricing managers exist
(decision 0056): their tokens become revoked cashier tokens and their users disabled cashiers, so the
older role check holds; upgraded again, the schema is at head and the rows are still there."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.access.services import authenticate, create_token
from retailcore.access.tables import ApiToken, User
from retailcore.access.users import create_user
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.core.errors import Unauthenticated
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from support import empty_database

revision = importlib.import_module("retailcore.adapters.migrations.versions.0036_promotion_governance")


def test_0036_downgrades_with_pricing_managers_and_upgrades_again(tmp_path):
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            create_company(
                session,
                CommandContext(system_principal()),
                CreateCompany(code="OLD", name="Old", currency="EUR", country="FR"),
            )
        with transaction(factory) as session:
            pricing = create_token(session, role="pricing_manager", company="OLD", name="pm-token")
            create_token(session, role="finance", company="OLD", name="fin-token")
            create_user(session, "pm", "a long enough password 1", "pricing_manager", company="OLD")
        migrations.downgrade(engine, revision.down_revision)
        assert migrations.current_revision(engine) == "0035"
        with engine.connect() as connection:
            tokens = {
                name: (role, revoked_at is not None, revoked_by)
                for name, role, revoked_at, revoked_by in connection.execute(
                    select(ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.revoked_by)
                )
            }
            users = dict(connection.execute(select(User.username, User.disabled_at.is_not(None))).all())
            user_role = connection.scalar(select(User.role).where(User.username == "pm"))
        assert tokens == {
            "pm-token": ("cashier", True, "downgrade of 0036: was pricing_manager"),
            "fin-token": ("finance", False, None),
        }
        assert users == {"pm": True} and user_role == "cashier"
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision(engine)
        with factory() as session:
            assert session.scalar(select(ApiToken.role).where(ApiToken.name == "pm-token")) == "cashier"
            with pytest.raises(Unauthenticated):  # revoked: the cashier role gives it nothing
                authenticate(session, pricing.token)
        engine.dispose()
