"""The period close's pure parts: the period's days, the report's CSV and HTML."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from retailcore.closing.commands import CheckItem, Checklist
from retailcore.closing.services import period_span
from retailcore.core.errors import ValidationFailed


@pytest.mark.parametrize(
    ("period", "first", "last"),
    [
        ("2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        ("2026-12", dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
        ("2028-02", dt.date(2028, 2, 1), dt.date(2028, 2, 29)),
    ],
)
def test_a_period_is_a_calendar_month(period, first, last):
    assert period_span(period) == (first, last)


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "2026", "26-11", "2026-11-01", ""])
def test_anything_but_yyyy_mm_is_refused_naming_the_period(period):
    with pytest.raises(ValidationFailed) as refused:
        period_span(period)
    assert [p.field for p in refused.value.problems] == ["period"]


def checklist() -> Checklist:
    red = CheckItem(
        code="stock",
        title="Stock <valuation> & ledger",
        status="red",
        figures={"roles": [{"role": "inventory", "difference": Decimal("5.00")}]},
        action="Find the move",
    )
    green = CheckItem(code="pos_sessions", title="POS", status="green", figures={"open_at_period_end": 0})
    return Checklist(
        company_id=uuid.uuid4(),
        period="2026-11",
        date_from=dt.date(2026, 11, 1),
        date_to=dt.date(2026, 11, 30),
        lock_date=None,
        items=[green, red],
    )


def test_the_report_names_the_red_items_and_writes_one_csv_row_per_item():
    found = checklist()
    assert found.red == ["stock"]
    assert found.to_csv().splitlines() == [
        "code,title,status,figures,action,reason",
        "pos_sessions,POS,green,open_at_period_end=0,,",
        "stock,Stock <valuation> & ledger,red,roles=role=inventory difference=5.00,Find the move,",
    ]


def test_the_html_report_escapes_what_it_shows():
    page = checklist().to_html()
    assert "Stock &lt;valuation&gt; &amp; ledger" in page
    assert "<valuation>" not in page
    assert '<tr class="red">' in page and '<tr class="green">' in page
