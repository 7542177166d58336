"""``--company``: the company a command is about, by code or id, or the installation's only company.

Every command that takes ``--company`` declares it with :data:`CompanyOption` and resolves it with
:func:`company_named`, the resolution the API uses for ``company_id`` (decision 0021): a code or an id,
and without one, the installation's only company (several: an error listing their codes).
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.masterdata.services import company_in_scope
from retailcore.masterdata.tables import Company

CompanyOption = Annotated[
    str | None,
    typer.Option(
        "--company", "-c", help="Company code or id; optional when the installation has only one company."
    ),
]


def company_named(session: Session, ref: str | None) -> Company:
    """The company ``--company`` names, or the only one; a :class:`RetailcoreError` says what is wrong."""
    return company_in_scope(session, system_principal("cli"), ref, field="--company")
