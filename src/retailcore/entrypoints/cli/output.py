"""What the listing and report commands print: a table for people, JSON or CSV for scripts.

Every listing and report command takes ``--output table|json|csv`` (default ``table``) and describes
what it prints as a :class:`Listing`: typed rows under named columns. Then:

* ``table`` fits the terminal's width (``COLUMNS`` when stdout is not a terminal; 80 without it). Key
  columns (codes, numbers, dates, amounts) are never cut or wrapped; text columns (names, labels) wrap
  down to :data:`MIN_TEXT_WIDTH`; if that is still too wide, the columns a command marked as droppable
  are left out, least important first, and a line says which; if even the rest does not fit, every row
  is printed as a record, one ``column value`` line per column. See decision 0022.
* ``csv``: a header row of the column names, then one row per row; amounts as canonical decimals.
* ``json``: the rows as an array of objects keyed by the column names, or, for a report or a single
  record the API also serves, the API's own document. Amounts are strings (``"12.50"``), never numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from retailcore.core.decimals import canonical


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


OutputOption = Annotated[
    Format,
    typer.Option(
        "--output", "-o", case_sensitive=False, help="table (for people), or json or csv (for scripts)."
    ),
]

MIN_TEXT_WIDTH = 12
"""A text column is wrapped no narrower than this: below it, a name reads as a list of fragments."""
COLUMN_GAP = 2
"""Spaces between two columns (the table has no vertical rules, to leave the width to the data)."""

Kind = Literal["key", "amount", "text"]


@dataclass(frozen=True)
class Column:
    name: str
    """The CSV header and the JSON key: the API's field name where there is one."""
    kind: Kind = "key"
    """``key``: printed whole on one line (codes, numbers, dates, states); ``amount``: the same, aligned
    right; ``text``: may wrap (names, labels, reasons)."""
    label: str | None = None
    """The table's header; by default the name with spaces for underscores."""
    drop: int = 0
    """0: always shown. Otherwise the column may be left out of a table too wide for the terminal; the
    highest number goes first, and columns with the same number go together (debit and credit)."""
    blank: str = ""
    """What a table shows for no value (``never`` for an expiry); CSV leaves it empty, JSON has null."""

    @property
    def heading(self) -> str:
        return self.label or self.name.replace("_", " ")


def key(name: str, label: str | None = None, *, drop: int = 0, blank: str = "") -> Column:
    return Column(name, "key", label, drop, blank)


def amount(name: str, label: str | None = None, *, drop: int = 0) -> Column:
    return Column(name, "amount", label, drop)


def text(name: str, label: str | None = None, *, drop: int = 0) -> Column:
    return Column(name, "text", label, drop)


@dataclass
class Listing:
    title: str
    columns: Sequence[Column]
    rows: list[Sequence[Any]]
    summary: list[tuple[str, Any]] = field(default_factory=list)
    """Lines under the table (``total: 12.00``); tables only: JSON and CSV carry rows."""
    empty: str = "nothing to show"
    """Printed instead of an empty table."""


# -- values ----------------------------------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def cell(value: Any, *, in_table: bool = False) -> str:
    """A value as CSV text: canonical decimals, ISO 8601 dates and instants (UTC, to the second), true or
    false, empty for none. A table shows instants to the minute and yes or no, for a person."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if in_table else ("true" if value else "false")
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, dt.datetime):
        return f"{_utc(value):%Y-%m-%d %H:%MZ}" if in_table else f"{_utc(value):%Y-%m-%dT%H:%M:%SZ}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def json_value(value: Any) -> Any:
    """A value as the API writes it in JSON: decimals, ids, dates and instants as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal | dt.date):  # dates and instants
        return cell(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


# -- the three formats -----------------------------------------------------------------------------


def emit(listing: Listing, output: Format, *, document: Any = None) -> None:
    """Print ``listing`` on stdout in ``output``; ``document`` (already JSON-ready) replaces the rows in
    JSON, for the commands that print what the API serves."""
    if output is Format.json:
        rows = [
            {column.name: json_value(value) for column, value in zip(listing.columns, row, strict=True)}
            for row in listing.rows
        ]
        sys.stdout.write(json.dumps(rows if document is None else document, indent=2) + "\n")
    elif output is Format.csv:
        sys.stdout.write(to_csv(listing))
    else:
        print_table(console(), listing)


def to_csv(listing: Listing) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in listing.columns])
    writer.writerows([cell(value) for value in row] for row in listing.rows)
    return buffer.getvalue()


def console(*, stderr: bool = False) -> Console:
    """stdout (or stderr), made when a command prints so that it reads the width (``COLUMNS``) of that
    moment. Lines are not folded (``soft_wrap``): the terminal wraps them, and a search finds them."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False)


# -- tables that fit ---------------------------------------------------------------------------------


def progress_bar(console: Console, *, disable: bool = False) -> Progress:
    """The progress bar of long jobs (imports, ingests, exports, the relay's backlog): what it does,
    the bar, done of total, time taken; on standard error, so standard output stays the result."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


def _longest_word(value: str) -> int:
    return max((cell_len(word) for word in value.split()), default=0)


@dataclass(frozen=True)
class _Measure:
    natural: int
    """On one line: the longest value, or the heading if it is longer."""
    minimum: int
    """The narrowest the column may be: keys keep their longest value; headings may wrap at spaces."""


def _measure(column: Column, values: list[str]) -> _Measure:
    longest = max((cell_len(value) for value in values), default=0)
    natural = max(longest, cell_len(column.heading))
    heading = _longest_word(column.heading)
    if column.kind == "text":
        return _Measure(natural, min(natural, max(MIN_TEXT_WIDTH, heading)))
    return _Measure(natural, max(longest, heading))


def layout(columns: Sequence[Column], texts: list[list[str]], width: int) -> dict[int, int] | None:
    """The width of each column shown, by index, within ``width``; None when even the columns that are
    never dropped do not fit side by side."""
    measures = [_measure(column, [row[i] for row in texts]) for i, column in enumerate(columns)]
    shown = list(range(len(columns)))
    while True:
        gaps = COLUMN_GAP * (len(shown) - 1)
        natural = {i: measures[i].natural for i in shown}
        if sum(natural.values()) + gaps <= width:
            return natural
        widths = {i: measures[i].minimum for i in shown}
        spare = width - gaps - sum(widths.values())
        if spare >= 0:
            # What is left widens the text columns first, then the headings that wrap, one character
            # at a time in turn, up to what each needs on one line.
            for kinds in (("text",), ("key", "amount")):
                wanting = [i for i in shown if columns[i].kind in kinds and widths[i] < natural[i]]
                while spare and wanting:
                    for i in list(wanting):
                        if spare == 0:
                            break
                        widths[i] += 1
                        spare -= 1
                        if widths[i] == natural[i]:
                            wanting.remove(i)
            return widths
        first = max((columns[i].drop for i in shown), default=0)
        if not first:
            return None
        shown = [i for i in shown if columns[i].drop != first]


def print_table(out: Console, listing: Listing) -> None:
    if not listing.rows:
        out.print(Text(listing.empty))
        return
    texts = [
        [
            column.blank if value is None else cell(value, in_table=True)
            for column, value in zip(listing.columns, row, strict=True)
        ]
        for row in listing.rows
    ]
    out.print(Text(listing.title, style="bold"))
    widths = layout(listing.columns, texts, out.width)
    if widths is None:
        _print_records(out, listing.columns, texts)
    else:
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, COLUMN_GAP - 1, 0, 0),
            header_style="bold",
        )
        for i, width in widths.items():
            column = listing.columns[i]
            justify: Literal["left", "right"] = "right" if column.kind == "amount" else "left"
            table.add_column(column.heading, justify=justify, width=width, overflow="fold")
        for row in texts:
            table.add_row(*(Text(row[i]) for i in widths))
        out.print(table)
        left_out = [column.heading for i, column in enumerate(listing.columns) if i not in widths]
        if left_out:
            out.print(
                Text(
                    f"left out at {out.width} columns: {', '.join(left_out)}"
                    " (a wider terminal shows them, as does --output csv or json)",
                    style="dim",
                ),
                soft_wrap=False,
            )
    for label, value in listing.summary:
        out.print(Text(f"{label}: {cell(value, in_table=True)}"))


def _print_records(out: Console, columns: Sequence[Column], texts: list[list[str]]) -> None:
    """Too many key columns for the width: each row as ``column value`` lines, a blank line between."""
    grid = Table.grid(padding=(0, COLUMN_GAP, 0, 0))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for number, row in enumerate(texts):
        if number:
            grid.add_row("", "")
        for column, value in zip(columns, row, strict=True):
            grid.add_row(Text(column.heading), Text(value))
    out.print(grid)
