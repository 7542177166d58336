"""Event payloads are stored as JSON: money as decimal strings (never floats), ids and times as text."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from decimal import Decimal

from pydantic import BaseModel

from retailcore.eventlog.services import to_json


class Channel(enum.StrEnum):
    POS = "pos"


class Line(BaseModel):
    sku: str
    amount: Decimal


class Cents(Decimal):
    pass


def test_a_payload_becomes_plain_json_with_exact_amounts():
    product, store = uuid.uuid4(), uuid.uuid4()
    at = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.UTC)
    payload = {
        "product_id": product,
        "quantity": Decimal("1.5000"),
        "items": ({"cost": Decimal("-0.01"), "store_id": store}, [None, True, 3, "x"]),
        "date": dt.date(2026, 11, 27),
        "at": at,
        product: "a key that is an id",
        "line": Line(sku="A-1", amount=Decimal("2.50")),
        "channel": Channel.POS,
        "subclassed": Cents("0.10"),
    }
    converted = to_json(payload)
    assert converted == {
        "product_id": str(product),
        "quantity": "1.5000",
        "items": [{"cost": "-0.01", "store_id": str(store)}, [None, True, 3, "x"]],
        "date": "2026-11-27",
        "at": "2026-11-27T10:30:00+00:00",
        str(product): "a key that is an id",
        "line": {"sku": "A-1", "amount": "2.50"},
        "channel": "pos",
        "subclassed": "0.10",
    }
    assert json.loads(json.dumps(converted)) == converted
