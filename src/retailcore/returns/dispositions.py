"""Where returned goods go, by their condition: rules as data, per company, with defaults.

A company without rows in ``return_dispositions`` has :data:`DEFAULT_DISPOSITIONS`: resaleable goods
go back to the receiving store's sellable stock, damaged goods to its damaged (quarantine) location,
defective goods to its return-to-vendor place (a damaged-kind location coded ``RTV`` or ending in
``-RTV`` when the store has one, else its damaged location) until the vendor credit is claimed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.core.errors import Conflict, FieldProblem
from retailcore.masterdata.tables import Location
from retailcore.returns.tables import ReturnDisposition


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


def set_disposition(
    session: Session, company_id: uuid.UUID, condition: str, location_kind: str, location_code: str | None
) -> None:
    row = session.get(ReturnDisposition, (company_id, condition))
    if row is None:
        row = ReturnDisposition(company_id=company_id, condition=condition)
        session.add(row)
    row.location_kind, row.location_code = location_kind, location_code
    session.flush()


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
