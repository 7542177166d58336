"""Route parameters that name a company or a store, by code or id (decision 0021).

Bodies and query models use :data:`masterdata.commands.CompanyRef` and ``StoreRef`` directly; these are
the same types as plain route parameters. ``masterdata.services.company_in_scope`` and
``store_in_scope`` resolve them, in every route alike.
"""

from typing import Annotated

from fastapi import Query

from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef

CompanyParam = Annotated[CompanyRef | None, Query(description=COMPANY_DEFAULT)]
StoreParam = Annotated[StoreRef | None, Query(description="Store code or id.")]
