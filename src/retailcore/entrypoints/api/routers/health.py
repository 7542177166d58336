"""Liveness and database reachability, for load balancers and monitoring (no token needed); with a read
replica, its lag and where the routed reads went (decision 0086)."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from retailcore import __version__

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the service up and its database reachable?")
def health(request: Request) -> Any:
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # a health check reports failures, it does not raise them
        database = f"unavailable: {type(exc).__name__}"
    status = 200 if database == "ok" else 503
    body = {"status": "ok" if status == 200 else "degraded", "database": database, "version": __version__}
    routing = getattr(request.app.state, "read_routing", None)
    if routing is not None:
        # A replica that lags or is down does not make the node unhealthy: its reads go to the primary.
        body["replica"] = routing.report()
    return JSONResponse(body, status_code=status)
