"""realized exchange differences at settlement: the rules fx-settled-foreign and fx-settled-received

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-07 11:40:00

Numbered 0048 on the fxsettle branch (issue 20); re-chained onto the last revision at merge (only
``down_revision`` changes). Decision 0062.

* Every company that has no rule of these codes gets the two rules (frozen copies of this release's
  rulebook): foreign money turned into the company's (a gateway's payout of a foreign-currency till's
  card sales, a foreign cash deposit banked) posts its realized exchange difference.
* ``cash_deposits.rate``: the rate the deposited foreign cash was booked at (null: the company's
  currency).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULES: list[dict[str, Any]] = [  # frozen copies of the rulebook's rules of this release
    {
        "code": "fx-settled-foreign",
        "name": "Foreign money turned into the company's: it leaves its account at the rate it was booked at",
        "event_type": "ForeignMoneySettled",
        "journal_code": "FX",
        "priority": 100,
        "conditions": {},
        "lines": [
            {"side": "credit", "account_code": "$account", "amount": "amount",
             "label": "Settled in {settled_currency} {what}"},
            {"side": "debit", "account_role": "$difference_role", "amount": "amount",
             "label": "Exchange difference {what}"},
        ],
    },
    {
        "code": "fx-settled-received",
        "name": "Foreign money turned into the company's: what arrived in the company's currency",
        "event_type": "ForeignMoneyReceived",
        "journal_code": "FX",
        "priority": 100,
        "conditions": {},
        "lines": [
            {"side": "debit", "account_code": "$account", "amount": "amount", "label": "Received for {what}"},
            {"side": "credit", "account_role": "$difference_role", "amount": "amount",
             "label": "Exchange difference {what}"},
        ],
    },
]  # fmt: skip

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    *(sa.column(name) for name in ("code", "name", "event_type", "journal_code")),
    *(sa.column(name) for name in ("priority", "valid_to", "active", "version")),
    sa.column("conditions", sa.JSON()),
    sa.column("lines", sa.JSON()),
    sa.column("valid_from", sa.Date()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("cash_deposits") as batch:
        batch.add_column(sa.Column("rate", orm.ExactDecimal(precision=19, scale=8), nullable=True))
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    companies = [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]
    for rule in RULES:
        have = set(
            bind.execute(sa.select(_rules.c.company_id).where(_rules.c.code == rule["code"])).scalars()
        )
        for raw in companies:
            company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
            if company_id in have:
                continue
            bind.execute(
                _rules.insert().values(
                    id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                    active=True, version=1, created_at=now, updated_at=now, **rule,
                )
            )  # fmt: skip


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM posting_rules WHERE code IN ('fx-settled-foreign', 'fx-settled-received')")
    )
    with op.batch_alter_table("cash_deposits") as batch:
        batch.drop_column("rate")
