"""What every settlement parser produces, and the checks they share.

A parser reads a whole file before anything is written and refuses it at the first bad line, naming the
line (the header is line 1): a missing column, a row cut short, an amount that is not an exact decimal in
the currency's minor units, an unknown currency, a negative fee where none can be, ``net != gross - fee``.
Columns are found by header name, never by position (both gateways add and reorder columns).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from retailcore.core.currencies import is_currency, minor_unit
from retailcore.core.errors import FieldProblem, ValidationFailed

FEE_MAY_BE_NEGATIVE = frozenset({"dispute_reversal", "adjustment", "refund_failure"})
"""Kinds whose fee can come back (a dispute won refunds its fee); elsewhere a negative fee is an error."""

_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class ParsedLine:
    """One line as the gateway wrote it, in our vocabulary (see ``tables.SettlementLine``)."""

    line_number: int
    line_key: str
    kind: str
    gateway_type: str
    occurred_on: dt.date
    currency: str
    gross: Decimal
    fee: Decimal
    net: Decimal
    batch: str | None = None
    reference: str | None = None
    reference2: str | None = None
    order_ref: str | None = None
    original_currency: str | None = None
    original_gross: Decimal | None = None
    description: str = ""


class FileRefused(ValidationFailed):
    """A settlement file that cannot be imported; ``line`` is its line number (1 is the header)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(
            f"line {line}: {message}",
            code="settlement-file-refused",
            problems=[FieldProblem(f"file.line.{line}", message)],
        )
        self.line = line


def rows(text: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row by column name)`` for each data row; refuses a header without a required
    column and a row whose field count differs from the header's."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileRefused(1, "the file is empty") from None
    except csv.Error as exc:
        raise FileRefused(1, f"not CSV ({exc})") from None
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise FileRefused(1, f"wrong header: no column {', '.join(missing)}")
    try:
        for fields in reader:
            number = reader.line_num
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                raise FileRefused(
                    number, f"the row has {len(fields)} fields, the header {len(header)} (truncated?)"
                )
            yield number, dict(zip(header, fields, strict=True))
    except csv.Error as exc:
        raise FileRefused(reader.line_num, f"not CSV ({exc})") from None


def currency(value: str, line: int, column: str) -> str:
    code = value.strip().upper()
    if not is_currency(code):
        raise FileRefused(line, f"{column}: unknown currency {value!r}")
    return code


def amount(
    value: str, line: int, column: str, code: str | None = None, blank_is_zero: bool = True
) -> Decimal:
    """An exact decimal; with ``code``, at most that currency's minor unit of places."""
    text = value.strip()
    if not text:
        if blank_is_zero:
            return Decimal(0)
        raise FileRefused(line, f"{column}: no amount")
    if not _DECIMAL.match(text):
        raise FileRefused(line, f"{column}: {value!r} is not an amount")
    number = Decimal(text)
    if code is not None and -number.as_tuple().exponent > minor_unit(code):  # type: ignore[operator]
        raise FileRefused(line, f"{column}: {value!r} has more decimals than {code} has")
    return number


def date(value: str, line: int, column: str) -> dt.date:
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise FileRefused(line, f"{column}: {value!r} is not a date (YYYY-MM-DD ...)") from None


def checked(line: ParsedLine) -> ParsedLine:
    """The checks every format shares: fees never negative where none can be, ``net = gross - fee``."""
    if line.fee < 0 and line.kind not in FEE_MAY_BE_NEGATIVE:
        raise FileRefused(line.line_number, f"fee: {line.fee} is negative on a {line.gateway_type} line")
    if line.net != line.gross - line.fee:
        raise FileRefused(line.line_number, f"net {line.net} is not gross {line.gross} minus fee {line.fee}")
    return line


def optional(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None
