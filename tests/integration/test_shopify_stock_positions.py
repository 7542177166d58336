"""The stock push reads the event log up to a settled position: on PostgreSQL a position drawn by a
transaction still at work is waited for, and one that rolled back is stepped over (decision 0032)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.connectors.shopify_stock import settled_head
from retailcore.eventlog.services import CommandContext, record
from retailcore.eventlog.tables import Event

POSTGRES_URL = os.environ.get("RETAILCORE_TEST_DATABASE_URL")


def _one(session: Any, company_id: uuid.UUID) -> None:
    record(
        session,
        CommandContext(system_principal("test")),
        type="ProductPriced",
        company_id=company_id,
        aggregate_type="Product",
        aggregate_id=uuid.uuid4(),
        payload={},
    )
    session.flush()


def _head(runtime: Any) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.max(Event.position))) or 0


def _settled(runtime: Any, after: int) -> int:
    with runtime.session_factory() as session:
        return settled_head(session, after, grace_seconds=0)


def test_on_sqlite_every_committed_position_is_settled(runtime, company):
    before = _head(runtime)
    with transaction(runtime.session_factory) as session:
        _one(session, uuid.UUID(company["id"]))
    assert _settled(runtime, before) == before + 1


@pytest.mark.skipif(not POSTGRES_URL, reason="SQLite has one writer: positions are visible in order")
def test_a_position_still_being_written_is_waited_for_and_a_rolled_back_one_stepped_over(runtime, company):
    company_id = uuid.UUID(company["id"])
    before = _head(runtime)
    slow = runtime.session_factory()
    slow.begin()
    _one(slow, company_id)  # draws before + 1, not committed yet
    with transaction(runtime.session_factory) as session:
        _one(session, company_id)  # before + 2, committed
    assert _settled(runtime, before) == before  # the writer of before + 1 is still at work
    slow.commit()
    slow.close()
    assert _settled(runtime, before) == before + 2

    aborted = runtime.session_factory()
    aborted.begin()
    _one(aborted, company_id)  # before + 3, rolled back: a hole for ever
    aborted.rollback()
    aborted.close()
    with transaction(runtime.session_factory) as session:
        _one(session, company_id)  # before + 4
    assert _settled(runtime, before + 2) == before + 4
