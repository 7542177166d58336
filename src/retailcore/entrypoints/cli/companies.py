"""``--company``: the company a command is about, by code or id, or the installation's only company.

Every command that takes ``--company`` declares it with :data:`CompanyOption` and resolves it with
:func:`company_named`, the resolution the API uses for ``company_id`` (decision 0021): a code or an id,
and without one, the installation's only company (several: an error listing their codes).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.core.errors import InvalidReference
from retailcore.masterdata.services import company_in_scope
from retailcore.masterdata.tables import Company, Store

CompanyOption = Annotated[
    str | None,
    typer.Option(
        "--company", "-c", help="Company code or id; optional when the installation has only one company."
    ),
]


def company_named(session: Session, ref: str | None) -> Company:
    """The company ``--company`` names, or the only one; a :class:`RetailcoreError` says what is wrong."""
    return company_in_scope(session, system_principal("cli"), ref, field="--company")


def one_named(
    session: Session, company: Company, entity: Any, model: Any, key: Any, ref: str, *, what: str, code: str
) -> Any:
    """``entity`` (a row or a column of ``model``) of the company's ``model`` that ``ref`` names by id or
    by ``key`` (a number, a code); else ``InvalidReference`` ``code``: "no {what} 'ref' in company X"."""
    try:
        by_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        by_id = None
    query = select(entity).where(model.company_id == company.id)
    found = session.scalar(query.where(model.id == by_id)) if by_id is not None else None
    found = found or session.scalar(query.where(key == ref.strip()))
    if found is None:
        raise InvalidReference(f"no {what} '{ref}' in company {company.code}", code=code)
    return found


def store_codes(session: Session, company: Company) -> dict[uuid.UUID, str]:
    """The company's stores' codes by id (tables show codes where the rows hold ids)."""
    return dict(session.execute(select(Store.id, Store.code).where(Store.company_id == company.id)).all())
