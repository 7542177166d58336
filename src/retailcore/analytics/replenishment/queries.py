"""Reading replenishment suggestions: the views the API and the CLI show, and the filtered list."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.paging import keyset_page
from retailcore.analytics.replenishment.tables import ReplenishmentSuggestion
from retailcore.core.decimals import DecimalStr
from retailcore.masterdata.tables import Product, Store


class SuggestionView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    run_id: uuid.UUID
    as_of: dt.date
    kind: str
    product_id: uuid.UUID
    sku: str
    store_id: uuid.UUID
    store_code: str
    location_id: uuid.UUID
    supplier: str | None
    source_store_id: uuid.UUID | None
    quantity: DecimalStr
    unit_price: DecimalStr | None
    reorder_point: DecimalStr
    order_up_to: DecimalStr
    position: DecimalStr
    daily_mean: DecimalStr
    daily_sigma: DecimalStr
    lead_time_days: int
    review_days: int
    service_level: DecimalStr
    model: str
    state: str
    purchase_order_id: uuid.UUID | None
    transfer_id: uuid.UUID | None
    created_by: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None


class SuggestionPage(BaseModel):
    items: list[SuggestionView]
    next_cursor: uuid.UUID | None


def views(session: Session, rows: list[ReplenishmentSuggestion]) -> list[SuggestionView]:
    skus = dict(
        session.execute(
            select(Product.id, Product.sku).where(Product.id.in_({r.product_id for r in rows}))
        ).all()
    )
    codes = dict(
        session.execute(select(Store.id, Store.code).where(Store.id.in_({r.store_id for r in rows}))).all()
    )
    return [
        SuggestionView.model_validate(
            {
                **{name: getattr(row, name) for name in SuggestionView.model_fields if hasattr(row, name)},
                "sku": skus.get(row.product_id, ""),
                "store_code": codes.get(row.store_id, ""),
            }
        )
        for row in rows
    ]


def list_suggestions(
    session: Session,
    company_id: uuid.UUID,
    *,
    state: str | None = None,
    kind: str | None = None,
    store_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> SuggestionPage:
    query = select(ReplenishmentSuggestion).where(ReplenishmentSuggestion.company_id == company_id)
    for column, value in (
        (ReplenishmentSuggestion.state, state),
        (ReplenishmentSuggestion.kind, kind),
        (ReplenishmentSuggestion.store_id, store_id),
        (ReplenishmentSuggestion.product_id, product_id),
        (ReplenishmentSuggestion.run_id, run_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, next_cursor = keyset_page(session, query, ReplenishmentSuggestion.id, limit, cursor)
    return SuggestionPage(items=views(session, rows), next_cursor=next_cursor)


def company_of(session: Session, suggestion_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(
        select(ReplenishmentSuggestion.company_id).where(ReplenishmentSuggestion.id == suggestion_id)
    )


def total_quantity(rows: list[SuggestionView]) -> Decimal:
    return sum((row.quantity for row in rows), Decimal(0))
