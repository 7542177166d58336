"""accruals and tax return boxes

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 04:00:00

Issue 17's close items (decision 0041).

* ``tax_return_boxes``: a company's tax return layout as data (box, label, position, terms).
* Companies set up before: the account of the new role ``unbilled_receivable`` (``1215``) where the
  company has none of that role and the code is free, and the rule ``accrual-shipped-not-invoiced``
  (a frozen copy) where the company has no rule of that code.

No timestamp is backfilled: the customer deposits check reads the order events, which carry their time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_ACCOUNT = ("1215", "Unbilled receivables (shipped, not invoiced)", "asset", "unbilled_receivable", False)


def _line(side: str, role: str, label: str) -> dict[str, Any]:
    return {"side": side, "account_role": role, "amount": "amount", "label": label, "for_each": "orders"}


NEW_RULE: dict[str, Any] = {
    "code": "accrual-shipped-not-invoiced",
    "name": "Period-end accrual: the receivable of goods shipped and not invoiced, shown as unbilled",
    "event_type": "ShippedNotInvoicedAccrued",
    "journal_code": "MISC",
    "priority": 100,
    "conditions": {},
    "lines": [
        _line("debit", "unbilled_receivable", "Unbilled {order_ref}"),
        _line("credit", "receivable", "Unbilled {order_ref}"),
    ],
}


def upgrade() -> None:
    op.create_table(
        "tax_return_boxes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("box", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_tax_return_boxes_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_return_boxes")),
        sa.UniqueConstraint("company_id", "box", name=op.f("uq_tax_return_boxes_company_id_box")),
    )
    _existing_companies()


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    accounts = sa.table(
        "accounts",
        sa.column("company_id", sa.Uuid()),
        *(sa.column(name) for name in ("code", "name", "type", "role")),
        *(sa.column(name) for name in ("reconcilable", "currency", "active", "version")),
        sa.column("id", sa.Uuid()),
        sa.column("created_at", orm.UTCDateTime()),
        sa.column("updated_at", orm.UTCDateTime()),
    )
    rules = sa.table(
        "posting_rules",
        sa.column("company_id", sa.Uuid()),
        *(sa.column(name) for name in ("code", "name", "event_type", "journal_code")),
        *(sa.column(name) for name in ("priority", "valid_to", "active", "version")),
        sa.column("conditions", sa.JSON()),
        sa.column("lines", sa.JSON()),
        sa.column("valid_from", sa.Date()),
        sa.column("id", sa.Uuid()),
        sa.column("created_at", orm.UTCDateTime()),
        sa.column("updated_at", orm.UTCDateTime()),
    )
    for raw in [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]:
        company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        taken = {
            (row.code, row.role)
            for row in bind.execute(
                sa.select(accounts.c.code, accounts.c.role).where(accounts.c.company_id == company_id)
            )
        }
        code, name, type_, role, reconcilable = NEW_ACCOUNT
        if role not in {r for _, r in taken} and code not in {c for c, _ in taken}:
            bind.execute(
                accounts.insert().values(
                    id=uuid.uuid4(), company_id=company_id, code=code, name=name, type=type_, role=role,
                    reconcilable=reconcilable, currency=None, active=True, version=1,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        have = set(bind.execute(sa.select(rules.c.code).where(rules.c.company_id == company_id)).scalars())
        if NEW_RULE["code"] not in have:
            bind.execute(
                rules.insert().values(
                    id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                    active=True, version=1, created_at=now, updated_at=now, **NEW_RULE,
                )
            )  # fmt: skip


def downgrade() -> None:
    op.drop_table("tax_return_boxes")
