"""Set-based query helpers: the same results on both backends, through the columns' own types."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import Amount
from retailcore.adapters.queries import one_of, update_rows

scratch = MetaData()
probe = Table(
    "scratch_query_probe",
    scratch,
    Column("ref", Uuid, primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("owner", String(8)),
    Column("amount", Amount()),
    Column("label", String(20)),
)
REFS = [uuid.uuid4() for _ in range(3)]


@pytest.fixture
def engine(runtime):
    scratch.create_all(runtime.engine)
    with Session(runtime.engine) as session, session.begin():
        insert_rows(
            session,
            probe,
            [
                {"ref": ref, "slot": slot, "owner": owner, "amount": Decimal(slot), "label": "old"}
                for ref in REFS
                for slot in (1, 2)
                for owner in ("a" if ref != REFS[2] else "b",)
            ],
        )
    yield runtime.engine
    scratch.drop_all(runtime.engine)


def _rows(engine) -> dict[tuple[uuid.UUID, int], tuple[Decimal, str]]:
    with engine.connect() as connection:
        return {(r.ref, r.slot): (r.amount, r.label) for r in connection.execute(select(probe))}


@pytest.mark.parametrize("wanted", [[], REFS[:1], REFS[1:], [*REFS, uuid.uuid4()]])
def test_one_of_finds_exactly_the_rows_of_the_values(engine, wanted):
    with Session(engine) as session:
        found = set(session.scalars(select(probe.c.ref).where(one_of(session, probe.c.ref, wanted))))
    assert found == set(wanted) & set(REFS)


def test_update_rows_sets_each_row_its_own_values_and_leaves_the_others(engine):
    before = _rows(engine)
    with Session(engine) as session, session.begin():
        update_rows(
            session,
            probe,
            ("ref", "slot"),
            ("amount", "label"),
            [(REFS[0], 2, Decimal("10.5"), "new"), (REFS[1], 1, Decimal("-0.0001"), "newer")],
        )
    after = _rows(engine)
    assert after[(REFS[0], 2)] == (Decimal("10.5"), "new")
    assert after[(REFS[1], 1)] == (Decimal("-0.0001"), "newer")
    assert {k: v for k, v in after.items() if k not in {(REFS[0], 2), (REFS[1], 1)}} == {
        k: v for k, v in before.items() if k not in {(REFS[0], 2), (REFS[1], 1)}
    }


def test_update_rows_applies_the_criteria_to_every_row(engine):
    with Session(engine) as session, session.begin():
        update_rows(
            session,
            probe,
            ("ref", "slot"),
            ("label",),
            [(REFS[0], 1, "mine"), (REFS[2], 1, "not mine")],
            probe.c.owner == "a",
        )
    after = _rows(engine)
    assert after[(REFS[0], 1)][1] == "mine" and after[(REFS[2], 1)][1] == "old"


@pytest.mark.parametrize("bad", [Decimal("0.00001"), 1.5])  # float-ok: a float must be refused
def test_update_rows_refuses_a_value_its_column_cannot_hold_and_changes_nothing(engine, bad):
    before = _rows(engine)
    # SQLAlchemy wraps the column type's error in a StatementError; it is still the type's message.
    with (
        pytest.raises((TypeError, ValueError, StatementError), match=r"[dD]ecimal"),
        Session(engine) as session,
        session.begin(),
    ):
        update_rows(
            session, probe, ("ref", "slot"), ("amount",), [(REFS[0], 1, Decimal(7)), (REFS[1], 1, bad)]
        )
    assert _rows(engine) == before
