"""Any gateway's CSV, read through a column mapping (JSON):

.. code-block:: json

    {"columns": {"line_id": "Txn", "date": "Date", "type": "Type", "currency": "Cur", "gross": "Gross",
                 "fee": "Fee", "net": "Net", "reference": "Payment", "order_ref": "Order", "batch": "Payout"},
     "types": {"Sale": "charge", "Refund": "refund", "Payout": "payout"}}

``line_id``, ``date``, ``type``, ``currency`` and ``gross`` are required; ``fee`` defaults to 0 and
``net`` to ``gross - fee``. ``types`` maps the file's type values to our kinds (a value already one of
our kinds needs no entry; any other is an ``adjustment``). Amounts are signed as money into the
gateway balance (a refund is negative), like Stripe's.
"""

from __future__ import annotations

from typing import Any

from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.settlements import parsing as p
from retailcore.settlements.tables import LINE_KINDS

NEEDED = ("line_id", "date", "type", "currency", "gross")
KNOWN = (*NEEDED, "fee", "net", "reference", "reference2", "order_ref", "batch", "description")


def check_mapping(mapping: Any) -> dict[str, Any]:
    if not isinstance(mapping, dict) or not isinstance(mapping.get("columns"), dict):
        raise ValidationFailed(
            'a csv gateway needs a mapping {"columns": {...}}',
            problems=[FieldProblem("mapping", "missing or not an object with columns")],
        )
    columns = mapping["columns"]
    problems = [
        FieldProblem(f"mapping.columns.{name}", "required") for name in NEEDED if not columns.get(name)
    ]
    problems += [
        FieldProblem(f"mapping.columns.{name}", "unknown field") for name in columns if name not in KNOWN
    ]
    types = mapping.get("types") or {}
    if not isinstance(types, dict):
        problems.append(FieldProblem("mapping.types", "not an object"))
    else:
        problems += [
            FieldProblem(f"mapping.types.{name}", f"{kind!r} is not one of {', '.join(LINE_KINDS)}")
            for name, kind in types.items()
            if kind not in LINE_KINDS
        ]
    if problems:
        raise ValidationFailed("the column mapping is not usable", problems=problems)
    return {"columns": dict(columns), "types": dict(types)}


def parse(text: str, mapping: Any) -> list[p.ParsedLine]:
    mapping = check_mapping(mapping)
    columns: dict[str, str] = mapping["columns"]
    types: dict[str, str] = mapping["types"]
    lines = []
    for number, row in p.rows(text, list(columns.values())):

        def get(name: str, row: dict[str, str] = row) -> str:
            return row[columns[name]] if name in columns else ""

        code = p.currency(get("currency"), number, columns["currency"])
        gross = p.amount(get("gross"), number, columns["gross"], code, blank_is_zero=False)
        fee = p.amount(get("fee"), number, columns.get("fee", "fee"), code)
        net = p.amount(get("net"), number, columns["net"], code) if get("net").strip() else gross - fee
        gateway_type = get("type").strip()
        key = get("line_id").strip()
        if not key:
            raise p.FileRefused(number, f"{columns['line_id']}: empty")
        lines.append(
            p.checked(
                p.ParsedLine(
                    line_number=number,
                    line_key=key[:200],
                    kind=types.get(
                        gateway_type, gateway_type if gateway_type in LINE_KINDS else "adjustment"
                    ),
                    gateway_type=gateway_type[:64],
                    occurred_on=p.date(get("date"), number, columns["date"]),
                    currency=code,
                    gross=gross,
                    fee=fee,
                    net=net,
                    batch=get("batch").strip() or None,
                    reference=get("reference").strip() or None,
                    reference2=get("reference2").strip() or None,
                    order_ref=get("order_ref").strip() or None,
                    description=get("description")[:500],
                )
            )
        )
    return lines
