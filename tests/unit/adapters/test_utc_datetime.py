"""UTCDateTime binds on SQLite exactly the text SQLAlchemy's own SQLite DATETIME stores."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from retailcore.adapters.orm import UTCDateTime

SQLITE = sqlite.dialect()
OURS = UTCDateTime().bind_processor(SQLITE)
SQLALCHEMY = DateTime(timezone=True).dialect_impl(SQLITE).bind_processor(SQLITE)

offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


moments = st.datetimes(
    min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=st.just(dt.UTC) | offsets
)


@given(moments)
def test_the_stored_text_is_sqlalchemys_for_the_utc_time(moment: dt.datetime) -> None:
    assert OURS(moment) == SQLALCHEMY(moment.astimezone(dt.UTC))


def test_microseconds_are_always_written() -> None:
    assert OURS(dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.UTC)) == "2026-11-27 10:30:00.000000"
    paris = dt.timezone(dt.timedelta(hours=1))
    assert OURS(dt.datetime(2026, 11, 27, 10, 30, 0, 5, tzinfo=paris)) == "2026-11-27 09:30:00.000005"


def test_none_stays_null_and_naive_datetimes_are_refused() -> None:
    assert OURS(None) is None
    with pytest.raises(ValueError, match="naive"):
        OURS(dt.datetime(2026, 11, 27, 10, 30))


def test_other_backends_keep_the_type_decorators_processing() -> None:
    from sqlalchemy.dialects import postgresql

    process = UTCDateTime().bind_processor(postgresql.dialect())
    assert process is not None
    bound = process(dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    assert bound == dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC) and bound.tzinfo == dt.UTC
