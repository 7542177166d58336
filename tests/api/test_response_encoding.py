"""A command's response is encoded as FastAPI's ``jsonable_encoder`` would: the same data, so the same
bytes, and the same document kept for idempotent replays."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from retailcore.entrypoints.api import deps


class Kind(enum.StrEnum):
    sale = "sale"


class Line(BaseModel):
    product_id: uuid.UUID
    quantity: Decimal
    unit_price: Decimal


class View(BaseModel):
    id: uuid.UUID
    kind: Kind
    total: Decimal
    business_date: dt.date
    created_at: dt.datetime
    note: str | None
    lines: list[Line]
    tags: tuple[str, ...]
    extra: dict[str, Decimal]
    schema_: str = Field(alias="schema")


def test_a_model_is_encoded_as_jsonable_encoder_encodes_it():
    # given a view with every kind of value a response holds
    view = View(
        id=uuid.uuid4(),
        kind=Kind.sale,
        total=Decimal("12.50"),
        business_date=dt.date(2026, 12, 7),
        created_at=dt.datetime(2026, 12, 7, 14, 0, 1, 250, tzinfo=dt.UTC),
        note=None,
        lines=[Line(product_id=uuid.uuid4(), quantity=Decimal("1.000"), unit_price=Decimal("12.5"))],
        tags=("a", "é"),
        extra={"tax": Decimal("2.08")},
        schema="v1",
    )

    # then the command's encoding and FastAPI's are the same data (Decimals as strings, the alias)
    assert deps._content(view) == jsonable_encoder(view)
    assert deps._content(view)["schema"] == "v1"
    assert deps._content(view)["total"] == "12.50"


def test_what_is_not_a_model_is_left_to_jsonable_encoder():
    value = {"total": Decimal("1.10"), "at": dt.date(2026, 1, 2)}
    assert deps._content(value) == jsonable_encoder(value)
