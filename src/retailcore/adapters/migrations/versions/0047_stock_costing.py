"""stock costing: the average-cost precision, a product's own accounts, returns to vendor, two rules

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07 11:00:00

Numbered 0047 on the stock branch: it is re-chained onto the last revision at merge (only
``down_revision`` changes). Decision 0061.

* ``costing_settings`` (one row per company that changed it: ``average_cost_precision`` ``unrounded``
  or ``currency``), ``product_accounts`` (a product's own income and expense accounts),
  ``vendor_return_lines`` (goods of a receipt line sent back to the supplier).
* Companies set up before: the rule ``standard-cost-changed`` (a frozen copy) where the company has no
  rule of that code, and their ``supplier-return`` rule, when finance never changed it (one version, in
  force since the ledger was set up), debits goods received not invoiced with the purchase value and
  posts the difference to ``price_variance``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _line(side: str, role: str, amount: str, label: str, **extra: Any) -> dict[str, Any]:
    return {
        "side": side,
        "account_role": role,
        "amount": amount,
        "label": label,
        "for_each": "items",
        **extra,
    }


STANDARD_COST_RULE: dict[str, Any] = {
    "code": "standard-cost-changed",
    "name": "Stock on hand revalued at a product's new standard cost (difference to price variance)",
    "event_type": "StandardCostChanged",
    "journal_code": "STOCK",
    "priority": 100,
    "conditions": {},
    "lines": [
        _line("debit", "$stock_role", "amount", "Standard cost {sku}"),
        _line("credit", "price_variance", "amount", "Standard cost {sku}"),
    ],
}
SUPPLIER_RETURN_BEFORE = [
    _line("debit", "goods_received_not_invoiced", "cost", "Return to supplier {reference}"),
    _line("credit", "$stock_role", "cost", "Return to supplier {reference}"),
]
SUPPLIER_RETURN_AFTER = [
    _line("debit", "goods_received_not_invoiced", "purchase_value", "Return to supplier {reference}"),
    _line("credit", "$stock_role", "cost", "Return to supplier {reference}"),
    {
        **_line("credit", "price_variance", "variance", "Return to supplier {reference} {sku}"),
        "optional": True,
    },
]

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


def _supplier_return_rules(lines_from: list[Any], lines_to: list[Any]) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _rules.c.id, _rules.c.company_id, _rules.c.lines, _rules.c.valid_from, _rules.c.active
        ).where(_rules.c.code == "supplier-return")
    ).all()
    versions: dict[Any, int] = {}
    for row in rows:
        versions[row.company_id] = versions.get(row.company_id, 0) + 1
    for row in rows:
        untouched = versions[row.company_id] == 1 and row.valid_from == dt.date(1900, 1, 1) and row.active
        if untouched and list(row.lines or []) == lines_from:
            bind.execute(_rules.update().where(_rules.c.id == row.id).values(lines=lines_to))


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for raw in [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]:
        company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        have = set(bind.execute(sa.select(_rules.c.code).where(_rules.c.company_id == company_id)).scalars())
        if STANDARD_COST_RULE["code"] in have:
            continue
        bind.execute(
            _rules.insert().values(
                id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                active=True, version=1, created_at=now, updated_at=now, **STANDARD_COST_RULE,
            )
        )  # fmt: skip
    _supplier_return_rules(SUPPLIER_RETURN_BEFORE, SUPPLIER_RETURN_AFTER)


def upgrade() -> None:
    op.create_table(
        "costing_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("average_cost_precision", sa.String(length=16), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "average_cost_precision IN ('unrounded', 'currency')",
            name=op.f("ck_costing_settings_average_cost_precision"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_costing_settings_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_costing_settings")),
    )
    op.create_table(
        "product_accounts",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("income_account_id", sa.Uuid(), nullable=True),
        sa.Column("expense_account_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_product_accounts_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["expense_account_id"],
            ["accounts.id"],
            name=op.f("fk_product_accounts_expense_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["income_account_id"],
            ["accounts.id"],
            name=op.f("fk_product_accounts_income_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_accounts_product_id_products")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_accounts")),
    )
    op.create_index(op.f("ix_product_accounts_company_id"), "product_accounts", ["company_id"])
    op.create_table(
        "vendor_return_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("operation_id", sa.Uuid(), nullable=False),
        sa.Column("receipt_id", sa.Uuid(), nullable=False),
        sa.Column("receipt_line_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", orm.Quantity(), nullable=False),
        sa.Column("unit_price", orm.UnitCost(), nullable=False),
        sa.Column("value", orm.Amount(), nullable=False),
        sa.Column("purchase_value", orm.Amount(), nullable=False),
        sa.Column("move_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_vendor_return_lines_positive")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_vendor_return_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_vendor_return_lines_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["move_id"], ["stock_moves.id"], name=op.f("fk_vendor_return_lines_move_id_stock_moves")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_vendor_return_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_vendor_return_lines_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_line_id"],
            ["receipt_lines.id"],
            name=op.f("fk_vendor_return_lines_receipt_line_id_receipt_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_return_lines")),
    )
    for column in ("company_id", "operation_id", "receipt_id", "receipt_line_id"):
        op.create_index(op.f(f"ix_vendor_return_lines_{column}"), "vendor_return_lines", [column])
    _existing_companies()


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(_rules.delete().where(_rules.c.code == STANDARD_COST_RULE["code"]))
    _supplier_return_rules(SUPPLIER_RETURN_AFTER, SUPPLIER_RETURN_BEFORE)
    for column in ("company_id", "operation_id", "receipt_id", "receipt_line_id"):
        op.drop_index(op.f(f"ix_vendor_return_lines_{column}"), table_name="vendor_return_lines")
    op.drop_table("vendor_return_lines")
    op.drop_index(op.f("ix_product_accounts_company_id"), table_name="product_accounts")
    op.drop_table("product_accounts")
    op.drop_table("costing_settings")
