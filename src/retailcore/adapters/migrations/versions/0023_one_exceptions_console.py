"""one exceptions console: ``stock_exceptions`` becomes ``exceptions`` (decision 0031)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 01:00:00

* ``exceptions``: every exception a person should look at (sync failures, dead letters, duplicates,
  tax and payment mismatches, and the stock kinds), with severity, money at risk, the time-invariant
  part of its priority (``stake``), owner, resolution, occurrences and a dedupe key.
* The rows of ``stock_exceptions`` are copied with their ids (``kind`` -> ``type``; severity and stake
  by kind, no money at risk: the old rows never said; the company's currency), so vendor bills keep
  pointing at theirs: ``vendor_bills.exception_id`` now refers to ``exceptions``. An unresolved oversold
  or negative stock row gets its place as dedupe key, a bill mismatch its bill (the oldest unresolved
  row of a place when there were several), as the services write them now. Then ``stock_exceptions``
  is dropped.
* Downgrade: ``stock_exceptions`` again with the stock kinds' rows (ids kept; the owner, resolution
  and occurrence count folded into ``details`` so no note is lost). Exceptions of the connectors
  (failed syncs, dead letters, duplicates, tax and payment mismatches, flags) have no place there and
  are dropped with ``exceptions``.

Frozen: plain SQLAlchemy core; the values below are copies of this revision's rules, not imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOCK_KINDS = (
    "oversold",
    "negative_stock",
    "stock_mismatch",
    "bill_mismatch",
    "sale_clock_out_of_window",
    "sale_in_locked_period",
)
SEVERITY = {
    "oversold": "high",
    "negative_stock": "medium",
    "stock_mismatch": "medium",
    "bill_mismatch": "medium",
    "sale_clock_out_of_window": "low",
    "sale_in_locked_period": "medium",
}
STAKE = {"low": 1000, "medium": 2000, "high": 4000, "critical": 8000}
"""Severity weight x 1000: the stake of a row with no money at risk."""
UNRESOLVED = ("open", "acknowledged")

old_table = sa.table(
    "stock_exceptions",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("product_id", sa.Uuid()),
    sa.column("location_id", sa.Uuid()),
    sa.column("store_id", sa.Uuid()),
    sa.column("message", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("event_id", sa.Uuid()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
    sa.column("updated_by", sa.String()),
)
new_table = sa.table(
    "exceptions",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("type", sa.String()),
    sa.column("severity", sa.String()),
    sa.column("status", sa.String()),
    sa.column("amount_at_risk", orm.ExactDecimal(precision=19, scale=4)),
    sa.column("currency", sa.String()),
    sa.column("stake", sa.Integer()),
    sa.column("dedupe_key", sa.String()),
    sa.column("open_key", sa.String()),
    sa.column("occurrences", sa.Integer()),
    sa.column("owner", sa.String()),
    sa.column("resolution", sa.Text()),
    sa.column("store_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("location_id", sa.Uuid()),
    sa.column("order_id", sa.Uuid()),
    sa.column("connector_id", sa.Uuid()),
    sa.column("sync_message_id", sa.Uuid()),
    sa.column("message", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("event_id", sa.Uuid()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("last_seen_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
    sa.column("updated_by", sa.String()),
    sa.column("acknowledged_at", orm.UTCDateTime()),
    sa.column("resolved_at", orm.UTCDateTime()),
)
companies = sa.table("companies", sa.column("id", sa.Uuid()), sa.column("currency", sa.String()))


def _create_exceptions() -> None:
    op.create_table(
        "exceptions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_at_risk", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stake", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("open_key", sa.String(length=200), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("connector_id", sa.Uuid(), nullable=True),
        sa.Column("sync_message_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledged_at", orm.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", orm.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_at_risk >= 0", name=op.f("ck_exceptions_amount_at_risk")),
        sa.CheckConstraint("occurrences >= 1", name=op.f("ck_exceptions_occurrences")),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high', 'critical')", name=op.f("ck_exceptions_severity")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_exceptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_exceptions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exceptions")),
        sa.UniqueConstraint("company_id", "open_key", name=op.f("uq_exceptions_company_id_open_key")),
    )
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_exceptions_company_status", ["company_id", "status"], unique=False)
        batch_op.create_index("ix_exceptions_company_store", ["company_id", "store_id"], unique=False)
        batch_op.create_index("ix_exceptions_sync_message", ["sync_message_id"], unique=False)


def _create_stock_exceptions() -> None:
    op.create_table(
        "stock_exceptions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("store_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_stock_exceptions_status")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_stock_exceptions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_exceptions")),
    )
    with op.batch_alter_table("stock_exceptions", schema=None) as batch_op:
        batch_op.create_index("ix_stock_exceptions_company_status", ["company_id", "status"], unique=False)


def _key(row: sa.Row) -> str | None:
    if row.kind in ("oversold", "negative_stock") and row.product_id and row.location_id:
        return f"{row.kind}:{row.product_id}:{row.location_id}"
    if row.kind == "bill_mismatch" and (row.details or {}).get("bill_id"):
        return f"bill_mismatch:{row.details['bill_id']}"
    return None


def _point_bills_at(table: str, old: str) -> None:
    with op.batch_alter_table("vendor_bills", schema=None) as batch_op:
        batch_op.drop_constraint(f"fk_vendor_bills_exception_id_{old}", type_="foreignkey")
        batch_op.create_foreign_key(f"fk_vendor_bills_exception_id_{table}", table, ["exception_id"], ["id"])


def upgrade() -> None:
    _create_exceptions()
    connection = op.get_bind()
    currency = dict(connection.execute(sa.select(companies.c.id, companies.c.currency)).all())
    taken: set[tuple[object, str]] = set()
    rows = []
    for row in connection.execute(sa.select(old_table).order_by(old_table.c.id)):
        severity = SEVERITY.get(row.kind, "medium")
        key = _key(row)
        open_key = None
        if key is not None and row.status in UNRESOLVED and (row.company_id, key) not in taken:
            taken.add((row.company_id, key))
            open_key = key
        details = row.details or {}
        resolved = details.get("resolved") if row.status == "resolved" else None
        acknowledged = details.get("acknowledged")
        rows.append(
            {
                "id": row.id,
                "company_id": row.company_id,
                "type": row.kind,
                "severity": severity,
                "status": row.status,
                "amount_at_risk": Decimal(0),
                "currency": currency[row.company_id],
                "stake": STAKE[severity],
                "dedupe_key": key,
                "open_key": open_key,
                "occurrences": 1,
                "owner": None,
                "resolution": resolved.get("note") if isinstance(resolved, dict) else None,
                "store_id": row.store_id,
                "product_id": row.product_id,
                "location_id": row.location_id,
                "order_id": None,
                "connector_id": None,
                "sync_message_id": None,
                "message": row.message,
                "details": details,
                "event_id": row.event_id,
                "created_at": row.created_at,
                "last_seen_at": row.updated_at,
                "updated_at": row.updated_at,
                "updated_by": row.updated_by,
                "acknowledged_at": row.updated_at if isinstance(acknowledged, dict) else None,
                "resolved_at": row.updated_at if row.status == "resolved" else None,
            }
        )
    if rows:
        connection.execute(new_table.insert(), rows)
    _point_bills_at("exceptions", "stock_exceptions")
    with op.batch_alter_table("stock_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_exceptions_company_status")
    op.drop_table("stock_exceptions")


def downgrade() -> None:
    _create_stock_exceptions()
    connection = op.get_bind()
    rows = []
    for row in connection.execute(
        sa.select(new_table).where(new_table.c.type.in_(STOCK_KINDS)).order_by(new_table.c.id)
    ):
        details = dict(row.details or {})
        for name in ("owner", "resolution"):
            if getattr(row, name):
                details[name] = getattr(row, name)
        if row.occurrences > 1:
            details["occurrences"] = row.occurrences
        rows.append(
            {
                "id": row.id,
                "company_id": row.company_id,
                "kind": row.type,
                "status": row.status,
                "product_id": row.product_id,
                "location_id": row.location_id,
                "store_id": row.store_id,
                "message": row.message,
                "details": details,
                "event_id": row.event_id,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "updated_by": row.updated_by,
            }
        )
    if rows:
        connection.execute(old_table.insert(), rows)
    # A bill pointing at an exception that is not a stock one cannot be (bills raise bill_mismatch).
    _point_bills_at("stock_exceptions", "exceptions")
    with op.batch_alter_table("exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_exceptions_sync_message")
        batch_op.drop_index("ix_exceptions_company_store")
        batch_op.drop_index("ix_exceptions_company_status")
    op.drop_table("exceptions")
