"""The shared input types: storable text, bounded JSON, ISO dates and timestamps within the range."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from retailcore.core.inputs import (
    MAX_JSON_DEPTH,
    Day,
    Instant,
    JsonObject,
    Text,
    text,
)

TEXT = TypeAdapter(Text)
CODE = TypeAdapter(text(strip_whitespace=True, max_length=5, pattern=r"^[A-Z]+$"))
JSON = TypeAdapter(JsonObject)
DAY = TypeAdapter(Day)
INSTANT = TypeAdapter(Instant)

storable = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
unstorable = st.sampled_from(["\x00", "\ud800", "\udfff", "\udc00"])


def refusal(adapter: TypeAdapter, value: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        adapter.validate_python(value)
    return refused.value.errors()[0]


@given(storable)
def test_text_keeps_every_string_a_database_can_store(value):
    assert TEXT.validate_python(value) == value


@given(storable, unstorable, storable)
def test_text_refuses_a_nul_or_a_lone_surrogate_anywhere(before, bad, after):
    assert refusal(TEXT, before + bad + after)["type"] == "invalid_text"


def test_constraints_keep_pydantics_own_messages():
    assert CODE.validate_python("  AB ") == "AB"
    assert refusal(CODE, "ABCDEF")["type"] == "string_too_long"
    assert refusal(CODE, "ab")["type"] == "string_pattern_mismatch"


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_json_may_nest_to_the_limit_and_no_further():
    assert JSON.validate_python(nested(MAX_JSON_DEPTH)) == nested(MAX_JSON_DEPTH)

    error = refusal(JSON, nested(MAX_JSON_DEPTH + 1))

    assert error["type"] == "json_too_deep"
    assert error["loc"] == ("a",) * MAX_JSON_DEPTH


def test_json_names_every_string_at_fault_by_its_path():
    value = {"lines": [{"label": "ok"}, {"label": "a\x00"}], "note": "\ud800", "bad\x00key": 1, "n": 1.5}

    with pytest.raises(ValidationError) as refused:
        JSON.validate_python(value)

    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("lines", 1, "label"), "invalid_text"),
        (("note",), "invalid_text"),
        ((), "invalid_text"),  # a key is named by its object: the key itself is the bad text
    ]


@pytest.mark.parametrize("value", ["1900-01-01", "2026-02-28", "2199-12-31", dt.date(2026, 1, 1)])
def test_a_day_is_an_iso_date_or_a_date(value):
    assert DAY.validate_python(value) == dt.date.fromisoformat(str(value))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0, "date_form"),
        ("0", "date_form"),
        ("86400", "date_form"),
        (1_700_000_000, "date_form"),
        ("20261130", "date_form"),
        ("30/11/2026", "date_form"),
        ("2026-13-01", "date_from_datetime_parsing"),
        ("1899-12-31", "date_range"),
        ("2200-01-01", "date_range"),
        ("9999-12-31", "date_range"),
        (dt.date(1, 1, 1), "date_range"),
    ],
)
def test_a_day_is_not_a_number_nor_out_of_range(value, kind):
    error = refusal(DAY, value)

    assert error["type"] == kind
    if kind in ("date_form", "date_range"):
        assert error["msg"] == "Input should be an ISO 8601 date (YYYY-MM-DD) from 1900-01-01 to 2199-12-31"


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T10:00:00Z",
        "2026-03-02T10:00:00+14:00",
        "1900-01-01T00:00:00Z",
        "2199-12-31T23:59:59.999999Z",
    ],
)
def test_an_instant_is_an_iso_timestamp_with_its_offset(value):
    assert INSTANT.validate_python(value) == dt.datetime.fromisoformat(value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0, "datetime_form"),
        ("0", "datetime_form"),
        ("1700000000", "datetime_form"),
        ("2026-03-02", "datetime_form"),
        ("2026-03-02T10:00:00", "timezone_aware"),
        ("1899-12-31T23:00:00-05:00", "datetime_range"),  # 1900-01-01T04:00Z, but dated 1899 where it was
        ("2199-12-31T23:00:00-05:00", "datetime_range"),  # 2200-01-01T04:00Z
        ("9999-12-31T23:00:00-05:00", "datetime_range"),  # beyond what a datetime holds in UTC
        ("0001-01-01T00:00:00+01:00", "datetime_range"),  # before it
    ],
)
def test_an_instant_is_not_a_number_nor_out_of_range(value, kind):
    assert refusal(INSTANT, value)["type"] == kind
