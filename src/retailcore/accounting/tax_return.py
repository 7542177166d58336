"""The tax return of a period: the tax report's per-rate totals, and the return's boxes (decision 0041).

Rules:

* **Boxes are data.** Each company keeps its return's layout in ``tax_return_boxes``: a box adds up
  *terms*, each one of the tax report's four measures (``tax_collected``, ``tax_deductible``,
  ``base_collected``, ``base_deductible``) for one tax code or every code (``*``), with a sign. A
  company that never set a layout uses :data:`DEFAULT_BOXES`, a generic VAT return: output tax, input
  tax, net payable, sales and purchases excluding tax.
* **Replace, never patch.** :func:`replace_boxes` swaps the whole layout in one transaction (an audited
  ``TaxReturnBoxesChanged`` event); an empty list goes back to the default.
* **Computed, never stored.** :func:`tax_return` reads :func:`retailcore.accounting.reports.tax_report`
  for the period and adds the boxes up; the CSV lists the rates, then the boxes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from retailcore.accounting import reports
from retailcore.accounting import tables as a
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.core.inputs import text
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.tables import Company

ZERO = Decimal(0)
Measure = Literal["tax_collected", "tax_deductible", "base_collected", "base_deductible"]


class BoxTerm(BaseModel):
    """One measure of the tax report, for one tax code (``*``: every code), added or subtracted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    measure: Measure
    tax_code: text(min_length=1, max_length=32) = "*"  # type: ignore[valid-type]
    sign: Literal["+", "-"] = "+"


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    box: text(min_length=1, max_length=16)  # type: ignore[valid-type]
    label: text(min_length=1, max_length=200)  # type: ignore[valid-type]
    terms: list[BoxTerm] = Field(min_length=1, max_length=50)


class BoxLayout(BaseModel):
    """A company's tax return layout; ``default`` when the company never set one."""

    company_id: uuid.UUID
    default: bool
    boxes: list[Box]


class ReplaceBoxes(BaseModel):
    """Replace the company's tax return layout (an empty ``boxes`` goes back to the default)."""

    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    boxes: list[Box] = Field(max_length=100)


def _box(box: str, label: str, *terms: tuple[str, str]) -> Box:
    return Box(box=box, label=label, terms=[BoxTerm(measure=m, sign=s) for m, s in terms])  # type: ignore[arg-type]


DEFAULT_BOXES: list[Box] = [
    _box("1", "Output tax: tax collected on sales", ("tax_collected", "+")),
    _box("2", "Input tax: tax deductible on purchases", ("tax_deductible", "+")),
    _box("3", "Net tax payable (1 - 2)", ("tax_collected", "+"), ("tax_deductible", "-")),
    _box("4", "Total sales excluding tax", ("base_collected", "+")),
    _box("5", "Total purchases excluding tax", ("base_deductible", "+")),
]


def layout(session: Session, company_id: uuid.UUID) -> BoxLayout:
    rows = session.scalars(
        select(a.TaxReturnBox)
        .where(a.TaxReturnBox.company_id == company_id)
        .order_by(a.TaxReturnBox.position)
    ).all()
    if not rows:
        return BoxLayout(company_id=company_id, default=True, boxes=DEFAULT_BOXES)
    boxes = [Box(box=r.box, label=r.label, terms=[BoxTerm(**t) for t in r.terms]) for r in rows]
    return BoxLayout(company_id=company_id, default=False, boxes=boxes)


def replace_boxes(session: Session, ctx: CommandContext, company: Company, boxes: list[Box]) -> BoxLayout:
    seen: set[str] = set()
    for index, box in enumerate(boxes):
        if box.box in seen:
            raise ValidationFailed(
                f"box {box.box!r} is named twice",
                problems=[FieldProblem(f"boxes.{index}.box", "named twice")],
            )
        seen.add(box.box)
    session.execute(delete(a.TaxReturnBox).where(a.TaxReturnBox.company_id == company.id))
    for position, box in enumerate(boxes):
        session.add(
            a.TaxReturnBox(
                company_id=company.id,
                box=box.box,
                label=box.label,
                position=position,
                terms=[term.model_dump() for term in box.terms],
                updated_by=ctx.actor,
            )
        )
    record(
        session,
        ctx,
        type="TaxReturnBoxesChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"boxes": [box.model_dump() for box in boxes]},
    )
    session.flush()
    return layout(session, company.id)


class RateTotal(BaseModel):
    tax_code: str | None
    base_collected: DecimalStr
    tax_collected: DecimalStr
    base_deductible: DecimalStr
    tax_deductible: DecimalStr
    net_payable: DecimalStr


class BoxTotal(BaseModel):
    box: str
    label: str
    amount: DecimalStr


class TaxReturn(reports.Report):
    company_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    default_layout: bool
    rates: list[RateTotal]
    boxes: list[BoxTotal]

    def title(self) -> str:
        return f"Tax return {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["section", "code", "label", "base_collected", "tax_collected", "base_deductible"]
        header += ["tax_deductible", "net_payable", "amount"]
        rows: list[list[Any]] = [
            [
                "rate",
                r.tax_code,
                "",
                r.base_collected,
                r.tax_collected,
                r.base_deductible,
                r.tax_deductible,
                r.net_payable,
                "",
            ]
            for r in self.rates
        ]
        rows += [["box", b.box, b.label, "", "", "", "", "", b.amount] for b in self.boxes]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        return [(f"box {b.box}", b.amount) for b in self.boxes]


def tax_return(session: Session, company_id: uuid.UUID, date_from: dt.date, date_to: dt.date) -> TaxReturn:
    """Per-rate totals of the period (months added up) and the boxes of the company's layout."""
    report = reports.tax_report(session, company_id, date_from, date_to)
    measures = ("base_collected", "tax_collected", "base_deductible", "tax_deductible")
    by_code: dict[str | None, dict[str, Decimal]] = {}
    for row in report.rows:
        cell = by_code.setdefault(row.tax_code, dict.fromkeys(measures, ZERO))
        for measure in measures:
            cell[measure] += getattr(row, measure)
    rates = [
        RateTotal(tax_code=code, **cell, net_payable=cell["tax_collected"] - cell["tax_deductible"])
        for code, cell in sorted(by_code.items(), key=lambda item: item[0] or "")
    ]
    found = layout(session, company_id)
    boxes = []
    for box in found.boxes:
        amount = ZERO
        for term in box.terms:
            value = sum(
                (cell[term.measure] for code, cell in by_code.items() if term.tax_code in ("*", code)), ZERO
            )
            amount += value if term.sign == "+" else -value
        boxes.append(BoxTotal(box=box.box, label=box.label, amount=amount))
    return TaxReturn(
        company_id=company_id,
        date_from=date_from,
        date_to=date_to,
        default_layout=found.default,
        rates=rates,
        boxes=boxes,
    )
