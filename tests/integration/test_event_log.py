"""The event log is append-only at the database itself, whatever the client."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from retailcore.eventlog.tables import Event


def test_events_cannot_be_updated_or_deleted(runtime, company):
    with runtime.session_factory() as session:
        first = session.scalar(select(Event).order_by(Event.position).limit(1))
    assert first is not None and first.type == "CompanyCreated"

    for statement in (
        update(Event).where(Event.position == first.position).values(type="Tampered"),
        delete(Event).where(Event.position == first.position),
    ):
        with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as connection:
            connection.execute(statement)

    with runtime.session_factory() as session:
        assert session.get(Event, first.position).type == "CompanyCreated"


def test_one_command_shares_a_correlation_id_and_carries_its_key_once(client, admin, runtime):
    response = client.post(
        "/api/v1/companies",
        json={"code": "KEYED", "name": "Keyed", "currency": "EUR", "country": "FR"},
        headers={**admin, "Idempotency-Key": "company-keyed-1"},
    )
    assert response.status_code == 201
    with runtime.session_factory() as session:
        events = session.scalars(select(Event).order_by(Event.position)).all()
    assert len({e.correlation_id for e in events}) == 1
    assert [e.idempotency_key for e in events if e.idempotency_key] == ["company-keyed-1"]
    assert events[0].type == "CompanyCreated"
    assert {e.type for e in events[1:]} == {"LocationCreated", "AccountCreated"}
