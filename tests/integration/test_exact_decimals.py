"""Amounts round-trip exactly on both backends, and arithmetic inside SQL stays exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, func, insert, select
from sqlalchemy.exc import StatementError

from retailcore.adapters.orm import Amount, ExactDecimal, UnitCost

scratch = MetaData()
amounts = Table(
    "scratch_amounts",
    scratch,
    Column("id", __import__("sqlalchemy").Integer, primary_key=True),
    Column("amount", Amount()),
    Column("unit_cost", UnitCost()),
)


@pytest.fixture
def engine(runtime):
    scratch.create_all(runtime.engine)
    yield runtime.engine
    scratch.drop_all(runtime.engine)


def test_point_one_plus_point_two_is_exactly_point_three(engine):
    with engine.begin() as connection:
        connection.execute(insert(amounts).values(amount=Decimal("0.1") + Decimal("0.2")))
        stored = connection.scalar(select(amounts.c.amount))
    assert stored == Decimal("0.3")
    assert isinstance(stored, Decimal)


def test_sum_in_sql_is_exact(engine):
    with engine.begin() as connection:
        connection.execute(insert(amounts), [{"amount": Decimal("0.1")}] * 10)
        total = connection.scalar(select(func.sum(amounts.c.amount)))
    assert total == Decimal("1")
    assert isinstance(total, Decimal)


def test_unit_costs_keep_six_decimals(engine):
    with engine.begin() as connection:
        connection.execute(insert(amounts).values(unit_cost=Decimal("12.345678")))
        assert connection.scalar(select(amounts.c.unit_cost)) == Decimal("12.345678")


def test_comparison_with_a_literal_is_exact(engine):
    with engine.begin() as connection:
        connection.execute(insert(amounts), [{"amount": Decimal("0.3")}, {"amount": Decimal("0.31")}])
        found = connection.scalars(select(amounts.c.amount).where(amounts.c.amount > Decimal("0.3"))).all()
    assert found == [Decimal("0.31")]


@pytest.mark.parametrize("bad", [Decimal("0.00001"), 0.1, 3, Decimal("NaN")])
def test_values_that_would_lose_exactness_are_refused(engine, bad):
    with pytest.raises(StatementError), engine.begin() as connection:
        connection.execute(insert(amounts).values(amount=bad))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.decimals(min_value=Decimal("-999999999999.999999"), max_value=Decimal("999999999999.999999"), places=6)
)
def test_any_value_within_scale_round_trips(engine, value):
    with engine.begin() as connection:
        row_id = connection.execute(insert(amounts).values(unit_cost=value)).inserted_primary_key[0]
        assert connection.scalar(select(amounts.c.unit_cost).where(amounts.c.id == row_id)) == value


def test_type_repr_is_what_migrations_import():
    assert repr(ExactDecimal(19, 6)) == "ExactDecimal(precision=19, scale=6)"


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_the_bind_processor_remembers_values_but_not_wrong_types(dialect_name):
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = (sqlite if dialect_name == "sqlite" else postgresql).dialect()
    process = Amount().bind_processor(dialect)
    first = process(Decimal("1.5"))
    assert process(Decimal("1.50")) == first  # equal values store the same
    assert process(Decimal("1")) != first
    with pytest.raises(TypeError):
        process(1)  # an int equal to a remembered Decimal is still refused
    with pytest.raises(TypeError):
        process(1.5)  # float-ok: the float must be refused
    with pytest.raises(ValueError):
        process(Decimal("1.00001"))
    assert process(None) is None
