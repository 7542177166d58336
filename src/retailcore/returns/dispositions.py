"""Where returned goods go, by their condition: rules as data, per company, with defaults.

A company without rows in ``return_dispositions`` has :data:`DEFAULT_DISPOSITIONS`: resaleable goods
go back to the receiving store's sellable stock, damaged goods to its damaged (quarantine) location,
defective goods to its return-to-vendor place (a damaged-kind location coded ``RTV`` or ending in
``-RTV`` when the store has one, else its damaged location) until the vendor credit is claimed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from retailcore.core.errors import Conflict, FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory.services import STOCK_ROLE
from retailcore.masterdata.tables import Company, Location
from retailcore.returns.commands import DispositionsView, DispositionView, SetDispositions
from retailcore.returns.tables import CONDITIONS, ReturnDisposition


@dataclass(frozen=True)
class Disposition:
    location_kind: str
    location_code: str | None = None


DEFAULT_DISPOSITIONS: dict[str, Disposition] = {
    "resaleable": Disposition("stock"),
    "damaged": Disposition("damaged"),
    "defective": Disposition("damaged", "RTV"),
}


def disposition_for(session: Session, company_id: uuid.UUID, condition: str) -> Disposition:
    row = session.get(ReturnDisposition, (company_id, condition))
    if row is None:
        return DEFAULT_DISPOSITIONS[condition]
    return Disposition(row.location_kind, row.location_code)


def dispositions(session: Session, company: Company) -> DispositionsView:
    """The company's rules, one per condition: its own row, else the default (``default: true``)."""
    own = {
        row.condition: row
        for row in session.scalars(
            select(ReturnDisposition).where(ReturnDisposition.company_id == company.id)
        )
    }
    rules = []
    for condition in CONDITIONS:
        row = own.get(condition)
        rule = Disposition(row.location_kind, row.location_code) if row else DEFAULT_DISPOSITIONS[condition]
        rules.append(
            DispositionView(
                condition=condition,  # type: ignore[arg-type]
                location_kind=rule.location_kind,  # type: ignore[arg-type]
                location_code=rule.location_code,
                valuation_role=STOCK_ROLE[rule.location_kind],
                default=row is None,
            )
        )
    return DispositionsView(company_id=company.id, rules=rules)


def _location_exists(session: Session, company_id: uuid.UUID, kind: str, code: str | None) -> bool:
    query = select(Location.id).where(
        Location.company_id == company_id, Location.kind == kind, Location.active.is_(True)
    )
    if code is not None:
        query = query.where((Location.code == code) | Location.code.like(f"%-{code}"))
    return session.scalar(query.limit(1)) is not None


def set_dispositions(
    session: Session, ctx: CommandContext, company: Company, body: SetDispositions
) -> DispositionsView:
    """Replace the company's rules: each condition at most once, each naming a kind (and code) of
    location the company has at some store (``422`` naming the field otherwise); a condition left out
    goes back to its default. ``ReturnDispositionsChanged`` keeps what they were and became."""
    seen: set[str] = set()
    for index, rule in enumerate(body.rules):
        if rule.condition in seen:
            raise ValidationFailed(
                f"the condition {rule.condition} is given twice",
                problems=[FieldProblem(f"rules.{index}.condition", "given twice")],
            )
        seen.add(rule.condition)
        if not _location_exists(session, company.id, rule.location_kind, rule.location_code):
            field = "location_code" if rule.location_code is not None else "location_kind"
            what = f"{rule.location_kind} location" + (
                f" coded {rule.location_code} (or ending in -{rule.location_code})"
                if rule.location_code
                else ""
            )
            raise ValidationFailed(
                f"the company has no active {what}",
                code="unknown-location",
                problems=[FieldProblem(f"rules.{index}.{field}", f"no active {what}")],
            )
    before = dispositions(session, company)
    session.execute(delete(ReturnDisposition).where(ReturnDisposition.company_id == company.id))
    session.add_all(
        ReturnDisposition(
            company_id=company.id,
            condition=rule.condition,
            location_kind=rule.location_kind,
            location_code=rule.location_code,
        )
        for rule in body.rules
    )
    session.flush()
    after = dispositions(session, company)
    record(
        session,
        ctx,
        type="ReturnDispositionsChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={
            "before": [rule.model_dump(mode="json") for rule in before.rules],
            "after": [rule.model_dump(mode="json") for rule in after.rules],
        },
    )
    return after


def location_for(
    session: Session, company_id: uuid.UUID, store_id: uuid.UUID, condition: str, field: str
) -> Location:
    """The receiving store's location for goods of ``condition``; ``409 no-disposition-location``
    when the store has none of that kind."""
    wanted = disposition_for(session, company_id, condition)
    candidates = list(
        session.scalars(
            select(Location)
            .where(
                Location.company_id == company_id,
                Location.store_id == store_id,
                Location.kind == wanted.location_kind,
                Location.active.is_(True),
            )
            .order_by(Location.code)
        )
    )
    for location in candidates:
        if wanted.location_code and (
            location.code == wanted.location_code or location.code.endswith(f"-{wanted.location_code}")
        ):
            return location
    if not candidates:
        raise Conflict(
            f"the receiving store has no active {wanted.location_kind} location for {condition} goods",
            code="no-disposition-location",
            problems=[FieldProblem(field, f"{condition}: no {wanted.location_kind} location")],
        )
    return candidates[0]
