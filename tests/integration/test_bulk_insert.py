"""``insert_rows`` writes exactly what an ORM insert would, on both backends, or nothing at all."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, Uuid, cast, insert, select
from sqlalchemy.orm import Session

from retailcore.adapters.bulk import JsonList, _processor, insert_rows, insert_values
from retailcore.adapters.orm import Amount, Quantity, UTCDateTime

scratch = MetaData()
probe = Table(
    "scratch_bulk_probe",
    scratch,
    Column("id", Integer, primary_key=True),
    Column("ref", Uuid),
    Column("amount", Amount()),
    Column("quantity", Quantity()),
    Column("details", JSON),
    Column("at", UTCDateTime),
    Column("flag", Boolean),
    Column("label", String(20)),
)

PARIS = dt.timezone(dt.timedelta(hours=1))


@pytest.fixture
def engine(runtime):
    scratch.create_all(runtime.engine)
    yield runtime.engine
    scratch.drop_all(runtime.engine)


def _read(engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(probe).order_by(probe.c.id))]


def test_values_round_trip_as_an_orm_insert_writes_them(engine):
    shared_ref = uuid.uuid4()
    shared_amount = Decimal("19.99")
    shared_details = {"taxes": [{"code": "VAT", "amount": "3.33"}]}
    at = dt.datetime(2026, 11, 27, 10, 30, tzinfo=PARIS)
    rows = [
        # The same objects on consecutive rows: converted once, written on every row.
        {
            "id": n,
            "ref": shared_ref,
            "amount": shared_amount,
            "quantity": Decimal(n),
            "details": shared_details,
            "at": at,
            "flag": n % 2 == 0,
            "label": f"row {n}",
        }
        for n in range(1, 4)
    ] + [
        {
            "id": 4,
            "ref": None,
            "amount": Decimal("-0.0001"),
            "quantity": None,
            "details": [1, "two"],
            "at": None,
            "flag": None,
            "label": None,
        },
        {  # what COPY's text format must escape, inside JSON and out; JSON null
            "id": 5,
            "ref": uuid.uuid4(),
            "amount": Decimal(0),
            "quantity": Decimal(5),
            "details": {"note": 'tab\there, back\\slash, "quoted", new\nline, été'},
            "at": at,
            "flag": True,
            "label": "a\tb\\c\nd",
        },
        {"id": 6, "ref": None, "amount": None, "quantity": None, "details": None, "at": None}
        | {"flag": None, "label": None},
    ]
    with Session(engine) as session, session.begin():
        insert_rows(session, probe, rows)
    with engine.begin() as connection:
        connection.execute(
            insert(probe),
            [{**row, "id": row["id"] + 100} for row in rows],  # the same rows through SQLAlchemy
        )
    stored = _read(engine)
    bulk, orm = stored[:6], stored[6:]
    assert [{**row, "id": row["id"] + 100} for row in bulk] == orm
    assert bulk[0] == {
        "id": 1,
        "ref": shared_ref,
        "amount": Decimal("19.99"),
        "quantity": Decimal("1"),
        "details": shared_details,
        "at": at.astimezone(dt.UTC),
        "flag": False,
        "label": "row 1",
    }
    assert [row["quantity"] for row in bulk] == [Decimal(1), Decimal(2), Decimal(3), None, Decimal(5), None]
    assert bulk[4]["details"] == rows[4]["details"] and bulk[4]["label"] == rows[4]["label"]
    assert bulk[3]["amount"] == Decimal("-0.0001")
    assert all(isinstance(row["amount"], Decimal) for row in bulk[:5]) and bulk[5]["amount"] is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("amount", 1.5),  # float-ok: a float must be refused, that is the point
        ("amount", Decimal("0.00001")),  # more decimals than the column keeps
        ("amount", Decimal("NaN")),
        ("at", dt.datetime(2026, 11, 27, 10, 30)),  # naive: ambiguous
    ],
)
def test_a_bad_value_refuses_the_whole_insert(engine, column, value):
    good = {"id": 1, "ref": uuid.uuid4(), "amount": Decimal("1.00"), "quantity": Decimal(1)}
    good |= {"details": {}, "at": dt.datetime(2026, 11, 27, tzinfo=dt.UTC), "flag": True, "label": "x"}
    with pytest.raises((TypeError, ValueError)), Session(engine) as session, session.begin():
        insert_rows(session, probe, [good, {**good, "id": 2, column: value}])
    assert _read(engine) == []


def test_an_unknown_column_is_refused_before_anything_is_written(engine):
    with pytest.raises(KeyError, match="no column"), Session(engine) as session, session.begin():
        insert_rows(session, probe, [{"id": 1, "nonsense": 1}])
    assert _read(engine) == []


def test_nothing_to_insert_is_not_an_error(engine):
    with Session(engine) as session, session.begin():
        insert_rows(session, probe, [])
    assert _read(engine) == []


@pytest.mark.parametrize(
    "rows",
    [
        [(1, "a"), (2,)],  # rows of different widths
        [(1,), (2,)],  # every row short of a column
        [(1, "a", True), (2, "b", False)],  # every row with one too many
    ],
)
def test_rows_that_do_not_match_the_columns_are_refused_before_anything_is_written(engine, rows):
    with pytest.raises(ValueError, match="must have 2 values"), Session(engine) as session, session.begin():
        insert_values(session, probe, ("id", "label"), rows)
    assert _read(engine) == []


def test_a_value_object_repeated_across_rows_is_stored_in_every_row(engine):
    """Repeated objects are converted once per column: each row still gets its own stored value."""
    shared_amount, shared_ref = Decimal("2.50"), uuid.uuid4()
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    rows = [
        (n, shared_ref if n % 2 else uuid.uuid4(), shared_amount if n < 8 else Decimal(n), at)
        for n in range(1, 11)
    ]
    with Session(engine) as session, session.begin():
        insert_values(session, probe, ("id", "ref", "amount", "at"), rows)
    stored = {row["id"]: row for row in _read(engine)}
    for n, ref, amount, _ in rows:
        assert (stored[n]["ref"], stored[n]["amount"]) == (ref, amount)


def test_a_list_carrying_its_json_text_is_stored_as_the_same_list_would_be(engine):
    records = [{"source": "promotion", "code": "SPRING", "amount": "1.50", "note": 'tab\there, "été"'}]
    shared = JsonList(records)
    rows = [{"id": 1, "details": records}, {"id": 2, "details": shared}, {"id": 3, "details": shared}]
    rows += [{"id": 4, "details": JsonList([])}, {"id": 5, "details": None}]
    with Session(engine) as session, session.begin():
        insert_rows(session, probe, rows)
    assert [row["details"] for row in _read(engine)] == [records, records, records, [], None]
    with engine.connect() as connection:
        texts = connection.execute(select(cast(probe.c.details, String)).order_by(probe.c.id)).scalars().all()
    # Byte for byte what the plain list was written as.
    assert texts[1] == texts[2] == texts[0]
    assert shared == records and isinstance(shared, list)
    # ... and the text it carries is what is written: not dumped again.
    assert _processor(probe.c.details.type, engine.dialect)(shared) is shared.json_text
