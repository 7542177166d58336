"""Routes for master data: one router per collection, all built by :func:`collection_router`.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the parameter
annotations of the route functions built in the factory, and they must be real classes.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.errors import PermissionDenied, ValidationFailed
from retailcore.core.inputs import Text, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata import tables as t
from retailcore.masterdata import views as v

ViewT = TypeVar("ViewT", bound=BaseModel)


class PageOf(BaseModel, Generic[ViewT]):
    items: list[ViewT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="Page size.")
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")

    def resolved(self, session: Session, principal: Principal) -> Self:
        """The query with the companies and stores it names (by code or id) as ids, checked in scope."""
        return self

    def conditions(self) -> list[ColumnElement[bool]]:
        return []


class CompanyScopedQuery(ListQuery):
    company_id: c.CompanyRef | None = Field(
        None, description="Company code or id; every company the token sees when absent."
    )
    active: bool | None = None

    def resolved(self, session: Session, principal: Principal) -> Self:
        if self.company_id is None:
            return self
        company = s.company_in_scope(session, principal, self.company_id)
        return self.model_copy(update={"company_id": company.id})

    def scoped(self, table: Any) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.company_id is not None:
            conditions.append(table.company_id == self.company_id)
        if self.active is not None and hasattr(table, "active"):
            conditions.append(table.active == self.active)
        return conditions


class CompanyQuery(ListQuery):
    code: Text | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        return [t.Company.code == self.code] if self.code else []


class StoreQuery(CompanyScopedQuery):
    kind: Literal["store", "warehouse"] | None = None
    code: Text | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.Store)
        if self.kind:
            conditions.append(t.Store.kind == self.kind)
        if self.code:
            conditions.append(t.Store.code == self.code)
        return conditions


class LocationQuery(CompanyScopedQuery):
    store_id: c.StoreRef | None = None
    kind: c.LocationKind | None = None
    code: Text | None = None

    def resolved(self, session: Session, principal: Principal) -> Self:
        query = super().resolved(session, principal)
        if self.store_id is None:
            return query
        company = session.get(t.Company, query.company_id) if query.company_id else None
        store_id = s.store_id_in_scope(session, principal, self.store_id, company=company)
        return query.model_copy(update={"store_id": store_id})

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.Location)
        if self.store_id:
            conditions.append(t.Location.store_id == self.store_id)
        if self.kind:
            conditions.append(t.Location.kind == self.kind)
        if self.code:
            conditions.append(t.Location.code == self.code)
        return conditions


class ProductQuery(CompanyScopedQuery):
    sku: Text | None = None
    barcode: Text | None = None
    category: Text | None = Field(
        None, description="This category and its sub-categories (`Apparel` finds `Apparel/Tops`)."
    )
    channel: c.Channel | None = None
    tax_category: Text | None = None
    q: text(max_length=100) | None = Field(None, description="Case-insensitive search in SKU and name.")

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.Product)
        if self.sku:
            conditions.append(t.Product.sku == self.sku)
        if self.barcode:
            conditions.append(
                t.Product.id.in_(
                    select(t.ProductBarcode.product_id).where(t.ProductBarcode.barcode == self.barcode)
                )
            )
        if self.category:
            conditions.append(
                or_(
                    t.Product.category == self.category,
                    t.Product.category.startswith(self.category + "/", autoescape=True),
                )
            )
        if self.channel:
            conditions.append(getattr(t.Product, f"available_{self.channel}").is_(True))
        if self.tax_category:
            conditions.append(t.Product.tax_category == self.tax_category)
        if self.q:
            conditions.append(
                or_(
                    t.Product.sku.icontains(self.q, autoescape=True),
                    t.Product.name.icontains(self.q, autoescape=True),
                )
            )
        return conditions


class CustomerQuery(CompanyScopedQuery):
    code: Text | None = None
    email: Text | None = None
    q: text(max_length=100) | None = Field(
        None, description="Case-insensitive search in name, code and e-mail."
    )

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.Customer)
        if self.code:
            conditions.append(t.Customer.code == self.code)
        if self.email:
            conditions.append(t.Customer.email == self.email.lower())
        if self.q:
            conditions.append(
                or_(
                    t.Customer.name.icontains(self.q, autoescape=True),
                    t.Customer.code.icontains(self.q, autoescape=True),
                    t.Customer.email.icontains(self.q, autoescape=True),
                )
            )
        return conditions


class PaymentMethodQuery(CompanyScopedQuery):
    kind: c.PaymentMethodKind | None = None
    gateway: Text | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.PaymentMethod)
        if self.kind:
            conditions.append(t.PaymentMethod.kind == self.kind)
        if self.gateway:
            conditions.append(t.PaymentMethod.gateway == self.gateway)
        return conditions


class TaxRuleQuery(CompanyScopedQuery):
    jurisdiction: Text | None = None
    tax_category: Text | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.TaxRule)
        if self.jurisdiction:
            conditions.append(t.TaxRule.jurisdiction == self.jurisdiction.upper())
        if self.tax_category:
            conditions.append(t.TaxRule.tax_category == self.tax_category)
        return conditions


class AccountQuery(CompanyScopedQuery):
    type: c.AccountType | None = None
    role: c.AccountRole | None = None
    code: Text | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions = self.scoped(t.Account)
        if self.type:
            conditions.append(t.Account.type == self.type.value)
        if self.role:
            conditions.append(t.Account.role == self.role.value)
        if self.code:
            conditions.append(t.Account.code == self.code)
        return conditions


def _if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":  # "*" matches any current version (RFC 9110)
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ValidationFailed(
            "If-Match must be the ETag the API returned", code="invalid-if-match"
        ) from None


def collection_router(
    *,
    path: str,
    kind: s.Kind,
    permission: str,
    view: type[BaseModel],
    create_request: type[c.Request],
    update_request: type[c.Request],
    query: type[ListQuery],
    create: Callable[[Session, CommandContext, Any], Any] | None = None,
    description: str = "",
) -> APIRouter:
    """Create, read, update and list one kind of master data."""
    router = APIRouter(prefix=path, tags=[path.strip("/")], route_class=DecimalRoute)
    noun = kind.name
    create_row = create or (lambda session, ctx, body: s.create(session, ctx, kind, body))

    @router.post(
        "",
        status_code=201,
        response_model=view,
        summary=f"Create a {noun}",
        description=description,
        responses={409: {"description": "A unique field is taken"}, 422: {"description": "Invalid input"}},
    )
    async def create_endpoint(
        body: create_request,  # type: ignore[valid-type]
        api: Annotated[Api, Depends(writer(f"{permission}:write"))],
    ) -> Response:
        return await api.command(
            lambda session, ctx: kind.view(create_row(session, ctx, body)),
            status_code=201,
            location=lambda result: f"/api/v1{path}/{result.id}",
        )

    @router.get("", response_model=PageOf[view], summary=f"List {noun}s")  # type: ignore[valid-type]
    def list_endpoint(
        params: Annotated[query, Query()],  # type: ignore[valid-type]
        api: Annotated[Api, Depends(reader(f"{permission}:read"))],
    ) -> Any:
        def work(session: Session) -> s.Page:
            conditions = params.resolved(session, api.principal).conditions()
            return s.list_rows(
                session, api.principal, kind, conditions, cursor=params.cursor, limit=params.limit
            )

        return api.read(work)

    @router.get("/{item_id}", response_model=view, summary=f"Get a {noun}")
    def get_endpoint(
        item_id: Annotated[uuid.UUID, Path()],
        api: Annotated[Api, Depends(reader(f"{permission}:read"))],
    ) -> Response:
        result = api.read(lambda session: kind.view(s.get(session, api.principal, kind, item_id)))
        return JSONResponse(result.model_dump(mode="json"), headers={"ETag": f'"{result.version}"'})

    @router.patch("/{item_id}", response_model=view, summary=f"Change a {noun}")
    async def update_endpoint(
        item_id: Annotated[uuid.UUID, Path()],
        body: update_request,  # type: ignore[valid-type]
        api: Annotated[Api, Depends(writer(f"{permission}:write"))],
        if_match: Annotated[
            str | None, Header(description="ETag from a GET: refuse the change if it moved on.")
        ] = None,
    ) -> Response:
        expected = _if_match(if_match)
        return await api.command(
            lambda session, ctx: kind.view(
                s.update(session, ctx, kind, item_id, body, expected_version=expected)
            )
        )

    return router


def _create_company(session: Session, ctx: CommandContext, body: c.CreateCompany) -> t.Company:
    if ctx.principal.company_id is not None:
        raise PermissionDenied("only an installation-wide admin token may create companies")
    return s.create_company(session, ctx, body)


ROUTERS = [
    collection_router(
        path="/companies",
        kind=s.COMPANY,
        permission="companies",
        view=v.CompanyView,
        create_request=c.CreateCompany,
        update_request=c.UpdateCompany,
        query=CompanyQuery,
        create=_create_company,
        description="Also creates the company's virtual locations and loads its chart of accounts template.",
    ),
    collection_router(
        path="/stores",
        kind=s.STORE,
        permission="stores",
        view=v.StoreView,
        create_request=c.CreateStore,
        update_request=c.UpdateStore,
        query=StoreQuery,
        create=s.create_store,
        description="Stores and warehouses; creates their stock, backroom and damaged locations by default.",
    ),
    collection_router(
        path="/locations",
        kind=s.LOCATION,
        permission="locations",
        view=v.LocationView,
        create_request=c.CreateLocation,
        update_request=c.UpdateLocation,
        query=LocationQuery,
    ),
    collection_router(
        path="/products",
        kind=s.PRODUCT,
        permission="products",
        view=v.ProductView,
        create_request=c.CreateProduct,
        update_request=c.UpdateProduct,
        query=ProductQuery,
    ),
    collection_router(
        path="/customers",
        kind=s.CUSTOMER,
        permission="customers",
        view=v.CustomerView,
        create_request=c.CreateCustomer,
        update_request=c.UpdateCustomer,
        query=CustomerQuery,
    ),
    collection_router(
        path="/payment-methods",
        kind=s.PAYMENT_METHOD,
        permission="payment_methods",
        view=v.PaymentMethodView,
        create_request=c.CreatePaymentMethod,
        update_request=c.UpdatePaymentMethod,
        query=PaymentMethodQuery,
    ),
    collection_router(
        path="/tax-rules",
        kind=s.TAX_RULE,
        permission="tax_rules",
        view=v.TaxRuleView,
        create_request=c.CreateTaxRule,
        update_request=c.UpdateTaxRule,
        query=TaxRuleQuery,
    ),
    collection_router(
        path="/accounts",
        kind=s.ACCOUNT,
        permission="accounts",
        view=v.AccountView,
        create_request=c.CreateAccount,
        update_request=c.UpdateAccount,
        query=AccountQuery,
    ),
]
