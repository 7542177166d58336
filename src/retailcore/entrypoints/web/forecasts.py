"""The back office's forecasts page (docs/intelligence.md): the latest run's forecasts against the
units actually sold, per product x store, the series with the most forecast units first, each with a
small inline SVG of its days (no script, no file from elsewhere).

Thin: it reads :func:`retailcore.analytics.forecasts.queries.series_against_actuals`. It needs
``kpis:read``, as the ``/forecasts`` API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.analytics.forecasts import queries as q
from retailcore.entrypoints.web import routes as web
from retailcore.masterdata.services import store_in_scope

router = APIRouter(include_in_schema=False)
SECTION = "forecasts"
SEES = "kpis:read"
WIDTH, HEIGHT = 140, 32


def _points(values: list[Decimal | None], top: Decimal) -> str:
    """SVG polyline points of ``values`` (None: not drawn) scaled into the sparkline's box."""
    step = WIDTH / max(len(values) - 1, 1)
    scale = (HEIGHT - 4) / top if top > 0 else Decimal(0)
    return " ".join(
        f"{index * step:.1f},{HEIGHT - 2 - float(value * scale):.1f}"  # float-ok: SVG coordinates
        for index, value in enumerate(values)
        if value is not None
    )


def _sparkline(series: q.SeriesAgainstActuals) -> dict[str, str]:
    forecast = [quantity for _day, quantity, _actual in series.days]
    actual = [value for _day, _quantity, value in series.days]
    top = max([*forecast, *(value for value in actual if value is not None), Decimal(0)])
    return {"forecast": _points(list(forecast), top), "actual": _points(actual, top)}


@router.get("/forecasts")
def forecasts_page(request: Request, store: str = "") -> Response:
    """The latest run's series, forecast against actuals; ``store`` (code) narrows to one store."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require(SEES)
        company = web._company(session, principal)
        named = store_in_scope(session, principal, store or None, company=company, field="store")
        store_id = named.id if named is not None else principal.store_id
        run, series = q.series_against_actuals(session, company.id, today=utcnow().date(), store_id=store_id)
        return "forecasts.html", {
            "run": None if run is None else q.run_view(run),
            "series": [(item, _sparkline(item)) for item in series],
            "store": store,
            "width": WIDTH,
            "height": HEIGHT,
        }

    return web.page(request, SECTION, work)
