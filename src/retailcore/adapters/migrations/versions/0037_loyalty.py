"""loyalty: programmes, points accounts and movements; loyalty tenders; the loyalty accounts and rules

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 08:00:00

Numbered 0037 on the coupons branch, after 0035: other branches add 0036, and this revision is re-chained
onto the last of them at merge (only ``down_revision`` changes). Decision 0049.

* ``loyalty_programmes`` (one per company), ``loyalty_accounts`` (points per customer),
  ``loyalty_movements`` (append-only, ``once_key`` unique per company: an order earns once).
* ``payment_methods.kind`` and ``order_payments.kind`` also take ``loyalty``: points burned as a tender.
* Companies set up before: the accounts of the new roles ``loyalty_liability`` (``2240``) and
  ``loyalty_cost`` (``6045``) where the company has none of that role and the code is free; the rules
  ``loyalty-points-earned``, ``loyalty-points-reversed``, ``loyalty-revalued-up`` and
  ``loyalty-revalued-down`` (frozen copies) where the company has no rule of that code; and their
  default ``order-tender-accepted``, ``order-tender-returned`` and ``pos-session-close`` rules, when
  finance never changed them (one version, in force since the ledger was set up), take the line that
  posts a loyalty tender to ``loyalty_liability`` after their tender lines. A rule finance changed is
  left as it is (docs/coupons-and-loyalty.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHOD_KINDS_BEFORE = ("cash", "card", "gift_card", "store_credit", "on_account")
METHOD_KINDS = (*METHOD_KINDS_BEFORE, "loyalty")
PAYMENT_KINDS_BEFORE = ("cash", "card", "gift_card", "store_credit", "on_account", "exchange")
PAYMENT_KINDS = (*PAYMENT_KINDS_BEFORE, "loyalty")

NEW_ACCOUNTS = (
    ("2240", "Loyalty points outstanding", "liability", "loyalty_liability"),
    ("6045", "Loyalty programme cost", "expense", "loyalty_cost"),
)


def _line(side: str, role: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"side": side, "account_role": role, "amount": "amount", "label": label, **extra}


def _rule(
    code: str, name: str, event_type: str, debit: str, credit: str, label: str, **conditions: Any
) -> dict:
    return {
        "code": code,
        "name": name,
        "event_type": event_type,
        "journal_code": "SALES",
        "priority": 100,
        "conditions": conditions,
        "lines": [_line("debit", debit, label), _line("credit", credit, label)],
    }


NEW_RULES: list[dict[str, Any]] = [
    _rule(
        "loyalty-points-earned",
        "Loyalty points earned on an order: a cost, and a liability at the points' value",
        "LoyaltyPointsEarned",
        "loyalty_cost",
        "loyalty_liability",
        "Loyalty points {order_ref}",
    ),
    _rule(
        "loyalty-points-reversed",
        "Loyalty points of a refunded order taken back",
        "LoyaltyPointsReversed",
        "loyalty_liability",
        "loyalty_cost",
        "Loyalty points reversed {order_ref}",
    ),
    _rule(
        "loyalty-revalued-up",
        "Loyalty points outstanding revalued at a higher point value",
        "LoyaltyLiabilityRevalued",
        "loyalty_cost",
        "loyalty_liability",
        "Loyalty points revalued",
        direction="up",
    ),
    _rule(
        "loyalty-revalued-down",
        "Loyalty points outstanding revalued at a lower point value",
        "LoyaltyLiabilityRevalued",
        "loyalty_liability",
        "loyalty_cost",
        "Loyalty points revalued",
        direction="down",
    ),
]

_TAKEN = _line(
    "debit", "loyalty_liability", "Paid by loyalty points", for_each="tenders", where={"kind": "loyalty"}
)
_GIVEN = _line(
    "credit", "loyalty_liability", "Returned to loyalty points", for_each="tenders", where={"kind": "loyalty"}
)
TENDER_LINES: dict[str, dict[str, Any]] = {
    # rule code: the line that follows its tender lines
    "order-tender-accepted": _TAKEN,
    "order-tender-returned": _GIVEN,
    "pos-session-close": _TAKEN,
}

_accounts = sa.table(
    "accounts",
    sa.column("company_id", sa.Uuid()),
    *(sa.column(name) for name in ("code", "name", "type", "role")),
    *(sa.column(name) for name in ("reconcilable", "currency", "active", "version")),
    sa.column("id", sa.Uuid()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
)
_rules = sa.table(
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


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(kind) for kind in kinds)})"


def _with_line(lines: list[dict[str, Any]], line: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's lines with ``line`` after its last tender line (one walking ``tenders`` by kind)."""
    at = len(lines)
    for position, existing in enumerate(lines):
        if existing.get("for_each") == "tenders" and "kind" in (existing.get("where") or {}):
            at = position + 1
    return [*lines[:at], line, *lines[at:]]


def _tender_lines_of_existing_rules(add: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_rules.c.id, _rules.c.code, _rules.c.company_id, _rules.c.lines, _rules.c.valid_from)
        .add_columns(_rules.c.active)
        .where(_rules.c.code.in_(list(TENDER_LINES)))
    ).all()
    versions: dict[tuple[Any, str], int] = {}
    for row in rows:
        versions[(row.company_id, row.code)] = versions.get((row.company_id, row.code), 0) + 1
    for row in rows:
        untouched = (
            versions[(row.company_id, row.code)] == 1 and row.valid_from == dt.date(1900, 1, 1) and row.active
        )
        if not untouched:
            continue
        line = TENDER_LINES[row.code]
        lines = list(row.lines or [])
        if add and line not in lines:
            lines = _with_line(lines, line)
        elif not add and line in lines:
            lines = [existing for existing in lines if existing != line]
        else:
            continue
        bind.execute(_rules.update().where(_rules.c.id == row.id).values(lines=lines))


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for raw in [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]:
        company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        taken = {
            (row.code, row.role)
            for row in bind.execute(
                sa.select(_accounts.c.code, _accounts.c.role).where(_accounts.c.company_id == company_id)
            )
        }
        for code, name, type_, role in NEW_ACCOUNTS:
            if role in {r for _, r in taken} or code in {c for c, _ in taken}:
                continue
            bind.execute(
                _accounts.insert().values(
                    id=uuid.uuid4(), company_id=company_id, code=code, name=name, type=type_, role=role,
                    reconcilable=False, currency=None, active=True, version=1, created_at=now, updated_at=now,
                )
            )  # fmt: skip
        have = set(bind.execute(sa.select(_rules.c.code).where(_rules.c.company_id == company_id)).scalars())
        for rule in NEW_RULES:
            if rule["code"] in have:
                continue
            bind.execute(
                _rules.insert().values(
                    id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                    active=True, version=1, created_at=now, updated_at=now, **rule,
                )
            )  # fmt: skip
    _tender_lines_of_existing_rules(add=True)


def upgrade() -> None:
    op.create_table(
        "loyalty_programmes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("points_per_unit", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("point_value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "points_per_unit >= 0", name=op.f("ck_loyalty_programmes_points_per_unit_not_negative")
        ),
        sa.CheckConstraint("point_value > 0", name=op.f("ck_loyalty_programmes_point_value_positive")),
        sa.CheckConstraint(
            "rounding IN ('down', 'half_up', 'up')", name=op.f("ck_loyalty_programmes_rounding")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_loyalty_programmes_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_loyalty_programmes")),
    )
    op.create_table(
        "loyalty_accounts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loyalty_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_loyalty_accounts_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_loyalty_accounts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint(
            "company_id", "customer_id", name=op.f("uq_loyalty_accounts_company_id_customer_id")
        ),
    )
    op.create_table(
        "loyalty_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("value", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("once_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_loyalty_movements_balance_after_not_negative")
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'burn', 'return', 'reverse')", name=op.f("ck_loyalty_movements_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_movements_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_loyalty_movements_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_movements")),
        sa.UniqueConstraint("company_id", "once_key", name=op.f("uq_loyalty_movements_company_id_once_key")),
    )
    with op.batch_alter_table("loyalty_movements", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_movements_account", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_loyalty_movements_order", ["order_id"], unique=False)

    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_methods_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(METHOD_KINDS))
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_payments_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(PAYMENT_KINDS))
    _existing_companies()


def downgrade() -> None:
    """Refused by the database while a loyalty payment method or order payment exists (the narrower
    checks would not hold). The accounts and rules added to existing companies stay (harmless, and maybe
    posted to); the tender lines come out of the rules that were untouched."""
    _tender_lines_of_existing_rules(add=False)
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_order_payments_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(PAYMENT_KINDS_BEFORE))
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_methods_kind"), type_="check")
        batch_op.create_check_constraint("kind", _kinds(METHOD_KINDS_BEFORE))
    with op.batch_alter_table("loyalty_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_movements_order")
        batch_op.drop_index("ix_loyalty_movements_account")
    op.drop_table("loyalty_movements")
    op.drop_table("loyalty_accounts")
    op.drop_table("loyalty_programmes")
