"""Views of the period close: the checklist's items with their figures, and the result of a close."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retailcore.accounting.reports import Report, cell_text
from retailcore.core.decimals import DecimalStr, canonical
from retailcore.core.inputs import text
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef

Status = Literal["green", "amber", "red", "n/a"]


class EntryRef(BaseModel):
    """A journal entry a check produced (an accrual, its reversal, a revaluation...)."""

    id: Any
    number: str | None
    date: dt.date
    journal: str
    reference: str
    amount: DecimalStr
    """The entry's total debit in the company currency."""
    reversal_of: str | None = None
    """The number of the entry this one reverses."""


class CheckItem(BaseModel):
    """One measured condition of the close.

    code
        Stable name (``pos_sessions``, ``gateway:stripe``, ``bank``, ``stock``, ``accruals``, ``grni``,
        ``gift_cards``, ``loyalty``, ``customer_deposits``, ``fx_revaluation``, ``tax_return``).
    status
        ``green`` (measured and right), ``amber`` (measured, needs a look, may be accepted), ``red``
        (measured and wrong: blocks the close), ``n/a`` (cannot be measured with what exists; ``reason``).
    figures
        The numbers behind the status (amounts are decimals as strings in JSON).
    action
        What to do while the item is not green.
    entries
        The journal entries the check's own run produced (accruals and their reversals, the FX
        revaluation and its reversal), for the close report.
    """

    code: str
    title: str
    status: Status
    figures: dict[str, Any]
    action: str = ""
    reason: str = ""
    entries: list[EntryRef] = Field(default_factory=list)


class Checklist(Report):
    company_id: Any
    period: str
    date_from: dt.date
    date_to: dt.date
    lock_date: dt.date | None
    items: list[CheckItem]

    @property
    def red(self) -> list[str]:
        return [i.code for i in self.items if i.status == "red"]

    def title(self) -> str:
        return f"Close checklist {self.period}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["code", "title", "status", "figures", "action", "reason"]
        return header, [
            [i.code, i.title, i.status, figures_text(i.figures), i.action, i.reason] for i in self.items
        ]

    def summary(self) -> list[tuple[str, Any]]:
        return [(s, sum(1 for i in self.items if i.status == s)) for s in ("green", "amber", "red", "n/a")]

    def to_html(self) -> str:
        """The close report as one server-rendered page: each check with its figures."""
        e = html.escape
        rows = "".join(
            f'<tr class="{e(i.status)}"><td>{e(i.code)}</td><td>{e(i.title)}</td><td>{e(i.status)}</td>'
            f"<td><pre>{e(figures_text(i.figures, sep=chr(10)))}</pre></td>"
            f"<td>{e(i.action or i.reason)}</td><td>{e(entries_text(i.entries))}</td></tr>"
            for i in self.items
        )
        return (
            '<!doctype html><html><head><meta charset="utf-8">'
            f"<title>{e(self.title())}</title><style>"
            "body{font-family:sans-serif}td,th{border:1px solid #999;padding:4px;vertical-align:top}"
            "table{border-collapse:collapse}.green td:nth-child(3){background:#cfc}"
            ".amber td:nth-child(3){background:#fe9}.red td:nth-child(3){background:#f99}"
            "</style></head><body>"
            f"<h1>{e(self.title())}</h1><p>{e(str(self.date_from))} to {e(str(self.date_to))}; "
            f"lock date {e(str(self.lock_date))}</p>"
            "<table><tr><th>check</th><th>what</th><th>status</th><th>figures</th><th>to do</th>"
            "<th>entries</th></tr>"
            f"{rows}</table></body></html>"
        )


def entries_text(entries: list[EntryRef]) -> str:
    return ", ".join(
        f"{x.number} {x.date} {canonical(x.amount)}"
        + (f" (reverses {x.reversal_of})" if x.reversal_of else "")
        for x in entries
    )


def report_csv(checklist: Checklist) -> str:
    """The close report as CSV: one row per check, then one row per entry it produced (same columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "code",
            "status",
            "figures",
            "action",
            "entry_number",
            "entry_date",
            "journal",
            "reference",
            "amount",
            "reversal_of",
        ]
    )
    for i in checklist.items:
        writer.writerow([i.code, i.status, figures_text(i.figures), i.action or i.reason] + [""] * 6)
        for x in i.entries:
            writer.writerow(
                [
                    i.code,
                    "",
                    "",
                    "",
                    x.number or "",
                    x.date.isoformat(),
                    x.journal,
                    x.reference,
                    canonical(x.amount),
                    x.reversal_of or "",
                ]
            )
    return buffer.getvalue()


def figures_text(figures: dict[str, Any], sep: str = "; ") -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, list):
            value = ", ".join(
                " ".join(f"{k}={cell_text(v)}" for k, v in item.items())
                if isinstance(item, dict)
                else str(item)
                for item in value
            )
        parts.append(f"{key}={cell_text(value)}")
    return sep.join(parts)


class CloseResult(BaseModel):
    period: str
    lock_date: dt.date
    previous_lock_date: dt.date | None
    checklist: Checklist


class RunClose(BaseModel):
    """Close a period: lock it when no item of its checklist is red and every amber one is accepted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    accept: list[text(max_length=64)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        max_length=100,
        description="Codes of the amber items finance accepts (e.g. `grni`, `fx_revaluation`).",
    )


class RunAccruals(BaseModel):
    """Post the period's accruals (goods shipped and not invoiced) and their reversal next period."""

    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)


class AccrualOrder(BaseModel):
    order_id: Any
    order_ref: str
    channel: str
    currency: str
    shipped: DecimalStr
    to_accrue: DecimalStr
    accrued: DecimalStr


class AccrualResult(BaseModel):
    """What an accrual run found and posted; ``posted`` empty when the accruals were already current."""

    period: str
    date: dt.date
    reversal_date: dt.date
    orders: list[AccrualOrder]
    posted: list[dict[str, Any]]
    entries: list[EntryRef]
