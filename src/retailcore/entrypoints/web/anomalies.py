"""The back office's anomaly list (decision 0075): the latest scan's alerts, highest score first, each
with its explanation and a link to the exception it raised. Read through
:mod:`retailcore.analytics.anomalies.queries`, as ``GET /api/v1/anomalies``; needs ``exceptions:read``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.analytics.anomalies import queries as q
from retailcore.analytics.anomalies import services as detector
from retailcore.entrypoints.web import routes as web

router = APIRouter(include_in_schema=False)


@router.get("/anomalies")
def anomalies_page(request: Request, day: str | None = None) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("exceptions:read")
        company = web._company(session, principal)
        chosen = web._day(day, "day")
        scan = q.latest_scan(session, company.id)
        rows, _ = q.alerts(session, company.id, day=chosen, limit=500)
        if principal.store_id is not None:
            rows = [row for row in rows if row.store_id == principal.store_id]
        table = (
            ["score", "kind", "store", "cashier", "day", "amount_at_risk", "explanation"],
            [
                [
                    row.score,
                    row.kind,
                    row.store_code,
                    row.cashier or "",
                    row.day,
                    row.amount_at_risk,
                    detector.describe(row.explanation),
                ]
                for row in rows
            ],
        )
        return "anomalies.html", {
            "scan": scan,
            "rows": rows,
            "day": chosen,
            "currency": company.currency,
            "tables": {"anomalies": table},
        }

    return web.page(request, "anomalies", work)
