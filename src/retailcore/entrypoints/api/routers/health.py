"""Liveness and database reachability, for load balancers and monitoring (no token needed)."""

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
    return JSONResponse(
        {"status": "ok" if status == 200 else "degraded", "database": database, "version": __version__},
        status_code=status,
    )
