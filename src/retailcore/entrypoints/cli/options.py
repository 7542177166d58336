"""Option types every command shares, so that one kind of value is read and refused the same way.

A date is read as the API reads one (:data:`retailcore.core.inputs.Day`: ``YYYY-MM-DD`` only, from
1900-01-01 to 2199-12-31); a malformed one is a usage error naming the option, in the CLI's error style
(``error: --as-of: '2026-02-30' is not a date (YYYY-MM-DD)``, exit 2).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from pydantic import TypeAdapter, ValidationError

from retailcore.core.inputs import FIRST_DAY, LAST_DAY, Day

_DAY = TypeAdapter(Day)


def parse_day(value: str) -> dt.date:
    try:
        return _DAY.validate_python(value.strip())
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "date_range":
            raise typer.BadParameter(
                f"'{value}' is outside {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
            ) from None
        raise typer.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None


def date_option(*names: str, help: str) -> Any:
    """``Annotated[dt.date | None, date_option("--as-of", help="...")]``."""
    return typer.Option(*names, parser=parse_day, metavar="YYYY-MM-DD", help=help)
