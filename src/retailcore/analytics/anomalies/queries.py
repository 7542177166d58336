"""Reading anomaly scans: the latest scan's alerts by score, and the scans (decision 0075)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from retailcore.analytics.anomalies.tables import AnomalyRow, AnomalyScan
from retailcore.core.errors import FieldProblem, ValidationFailed


def _anchor(session: Session, model: type, cursor: uuid.UUID | None) -> object | None:
    if cursor is None:
        return None
    anchor = session.get(model, cursor)
    if anchor is None:
        raise ValidationFailed(
            "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
        )
    return anchor


def latest_scan(session: Session, company_id: uuid.UUID) -> AnomalyScan | None:
    return session.scalar(
        select(AnomalyScan)
        .where(AnomalyScan.company_id == company_id)
        .order_by(AnomalyScan.created_at.desc(), AnomalyScan.id.desc())
        .limit(1)
    )


def alerts(
    session: Session,
    company_id: uuid.UUID,
    *,
    store_id: uuid.UUID | None = None,
    cashier: str | None = None,
    day: dt.date | None = None,
    limit: int = 100,
    cursor: uuid.UUID | None = None,
) -> tuple[list[AnomalyRow], uuid.UUID | None]:
    """The latest scan's flagged rows, highest score first (ties by id), one page after ``cursor``."""
    scan = latest_scan(session, company_id)
    if scan is None:
        return [], None
    query = select(AnomalyRow).where(AnomalyRow.scan_id == scan.id, AnomalyRow.flagged.is_(True))
    if store_id is not None:
        query = query.where(AnomalyRow.store_id == store_id)
    if cashier is not None:
        query = query.where(AnomalyRow.cashier == cashier)
    if day is not None:
        query = query.where(AnomalyRow.day == day)
    anchor = _anchor(session, AnomalyRow, cursor)
    if isinstance(anchor, AnomalyRow):
        query = query.where(
            or_(
                AnomalyRow.score < anchor.score,
                and_(AnomalyRow.score == anchor.score, AnomalyRow.id > anchor.id),
            )
        )
    rows = list(session.scalars(query.order_by(AnomalyRow.score.desc(), AnomalyRow.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


def scans(
    session: Session, company_id: uuid.UUID, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[AnomalyScan], uuid.UUID | None]:
    """The company's scans, newest first."""
    query = select(AnomalyScan).where(AnomalyScan.company_id == company_id)
    anchor = _anchor(session, AnomalyScan, cursor)
    if isinstance(anchor, AnomalyScan):
        query = query.where(
            or_(
                AnomalyScan.created_at < anchor.created_at,
                and_(AnomalyScan.created_at == anchor.created_at, AnomalyScan.id < anchor.id),
            )
        )
    rows = list(
        session.scalars(query.order_by(AnomalyScan.created_at.desc(), AnomalyScan.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
