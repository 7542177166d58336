"""Input types every request shares: text a database can store, bounded JSON, dates within a range.

Each request model and route parameter declares its strings, free-form JSON, dates and timestamps with
these types, so that what one endpoint refuses every endpoint refuses (docs/api.md, "Accepted text,
dates and timestamps"; decision 0017):

* :data:`Text` (and :func:`text` with constraints): no NUL character (U+0000), which PostgreSQL cannot
  store in text and SQLite would keep silently, and no unpaired surrogate (a JSON ``"\\ud800"``), which
  is not a character and cannot be encoded as UTF-8 by any driver.
* :data:`JsonObject`: a JSON object whose strings (keys and values) are valid :data:`Text`, nested at
  most :data:`MAX_JSON_DEPTH` levels; a refusal names the path of the value at fault.
* :data:`Day` and :data:`Instant`: ISO 8601 text only (never a number: ``0`` is not 1970-01-01), from
  :data:`FIRST_DAY` to :data:`LAST_DAY`; an instant also needs its UTC offset. The range keeps every
  date computation the system makes (fiscal years, periods, time zones) far from ``year 10000``.

The checks are cheap: they run on every string of a POS batch of a thousand sales.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

FIRST_DAY = dt.date(1900, 1, 1)
"""The first date the API accepts (the ledger's default posting rules are in force from it)."""
LAST_DAY = dt.date(2199, 12, 31)
"""The last date the API accepts: far enough for any contract, far from ``datetime``'s year 9999."""
FIRST_INSTANT = dt.datetime.combine(FIRST_DAY, dt.time.min, dt.UTC)
LAST_INSTANT = dt.datetime.combine(LAST_DAY, dt.time.max, dt.UTC)

MAX_JSON_DEPTH = 32
"""Levels of nested objects and arrays a free-form JSON field may have (the field itself is level 1).
Posting rules and event payloads need three or four; the bound keeps recursive code (validation,
serialisation, the rule engine) far from Python's recursion limit."""


# -- text -----------------------------------------------------------------------------------------------


def _text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "must not contain the NUL character (U+0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode: an unpaired surrogate (U+D800 to U+DFFF) is not a character"
    return None


def _valid_text(value: str) -> str:
    problem = _text_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_text", "Text " + problem)
    return value


ValidText = AfterValidator(_valid_text)
"""The check of :data:`Text`, to place after a type's other metadata (see :func:`text`)."""

Text = Annotated[str, ValidText]
"""A string with no NUL character and no unpaired surrogate."""


def text(**constraints: Any) -> Any:
    """:data:`Text` with pydantic ``StringConstraints`` (``max_length=200``, ``pattern=...``).

    The constraints come before the check: after a validator function, pydantic could no longer apply
    them in its core and would check them in Python, with other messages.
    """
    return Annotated[str, StringConstraints(**constraints), ValidText]


# -- free-form JSON ---------------------------------------------------------------------------------------


def _json_problems(
    value: Any, path: tuple[str | int, ...], depth: int, found: list[InitErrorDetails]
) -> None:
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem is not None:
            found.append(_json_error("invalid_text", "Text " + problem, path, value))
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_JSON_DEPTH:
        found.append(
            _json_error("json_too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path, "...")
        )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _json_problems(item, (*path, index), depth + 1, found)
        return
    for key, item in value.items():
        problem = _text_problem(key) if isinstance(key, str) else None
        if problem is not None:
            # The key itself is not fit to name a field: the path stops at its object.
            found.append(_json_error("invalid_text", "A key " + problem, path, key))
            continue
        _json_problems(item, (*path, key), depth + 1, found)


def _json_error(kind: str, message: str, path: tuple[str | int, ...], value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=path, input=value)


def _valid_json_object(value: dict[str, Any]) -> dict[str, Any]:
    found: list[InitErrorDetails] = []
    _json_problems(value, (), 1, found)
    if found:
        # Raised inside a validator, a ValidationError's locations are appended to the field's own:
        # the answer names ``payload.lines.0.label``, not just ``payload``.
        raise ValidationError.from_exception_data("JsonObject", found)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_valid_json_object)]
"""A free-form JSON object: its strings are :data:`Text`, its depth at most :data:`MAX_JSON_DEPTH`."""


# -- dates and timestamps ---------------------------------------------------------------------------------

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
DAY_FORM = f"an ISO 8601 date (YYYY-MM-DD) from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
INSTANT_FORM = (
    "an ISO 8601 date and time with its UTC offset (YYYY-MM-DDTHH:MM:SS+01:00 or ...Z), "
    f"from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()} (UTC)"
)


def day_in_range(value: dt.date) -> bool:
    return FIRST_DAY <= value <= LAST_DAY


def _iso_day(value: Any) -> Any:
    # A date object from a Python caller is fine; text must be ISO 8601 (pydantic alone would read a
    # number, or a string of digits, as seconds since 1970).
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise PydanticCustomError("date_form", "Input should be " + DAY_FORM)


def _day_in_range(value: dt.date) -> dt.date:
    if not day_in_range(value):
        raise PydanticCustomError("date_range", "Input should be " + DAY_FORM)
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_day), AfterValidator(_day_in_range)]
"""A calendar date, ``YYYY-MM-DD``, from :data:`FIRST_DAY` to :data:`LAST_DAY`."""


def _iso_instant(value: Any) -> Any:
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_INSTANT.match(value)):
        return value
    raise PydanticCustomError("datetime_form", "Input should be " + INSTANT_FORM)


def _instant_in_range(value: dt.datetime) -> dt.datetime:
    # The local date first: converting 9999-12-31T23:00-05:00 to UTC would overflow.
    if not day_in_range(value.date()) or not FIRST_INSTANT <= value <= LAST_INSTANT:
        raise PydanticCustomError("datetime_range", "Input should be " + INSTANT_FORM)
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_instant), AfterValidator(_instant_in_range)]
"""A moment: ISO 8601 date and time with its UTC offset, from :data:`FIRST_DAY` to :data:`LAST_DAY` (UTC)."""
