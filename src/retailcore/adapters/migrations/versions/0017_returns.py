"""returns: returns and their lines, returned quantities per order line, policy, dispositions, credit notes

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06 19:41:03

Numbered 0017 on the returns branch, after 0015: another branch adds 0016, and this revision is
re-chained onto it at merge (``down_revision = "0016"``). Tables written with ``op.create_table``.

Companies that exist already get what a new company gets from this release, written here as data (no
live service code): the accounts of the two new roles (``2230`` refunds payable, ``4110`` restocking
fees) where the company has no account of that role and the code is free, and the three new posting
rules (``return-refund-approved``, ``return-refund-paid``, ``return-payment-refunded``) where the
company has no rule of that code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

NEW_ACCOUNTS = (
    ("2230", "Refunds payable to customers", "liability", "refunds_payable", True),
    ("4110", "Restocking fees on returns", "income", "restocking_fees", False),
)
TENDER_ROLES = {
    "cash": "cash_drawer",
    "card": "card_clearing",
    "gift_card": "gift_card_liability",
    "store_credit": "store_credit_liability",
    "on_account": "receivable",
}


def _line(side: str, role: str, amount: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"side": side, "account_role": role, "amount": amount, "label": label, **extra}


NEW_RULES: tuple[dict[str, Any], ...] = (
    {
        "code": "return-refund-approved",
        "name": "Return refund approved: contra revenue and tax back at the sale's prices, refund payable",
        "event_type": "ReturnRefundApproved",
        "journal_code": "SALES",
        "priority": 100,
        "conditions": {},
        "lines": [
            _line(
                "debit", "sales_returns", "net", "Return {return_ref} {product_category}", for_each="lines"
            ),
            _line("debit", "output_tax", "tax", "Return {return_ref} tax {tax_code}", for_each="lines"),
            _line("credit", "refunds_payable", "amount", "Refund due {return_ref}"),
            _line(
                "credit", "restocking_fees", "restocking_fee", "Restocking fee {return_ref}", optional=True
            ),
        ],
    },
    {
        "code": "return-refund-paid",
        "name": "Return refund paid out in cash, to store credit or to a card reference",
        "event_type": "ReturnRefundPaid",
        "journal_code": "BANK",
        "priority": 100,
        "conditions": {},
        "lines": [
            _line(
                "debit", "refunds_payable", "amount", "Refund paid {return_ref} {kind}", for_each="tenders"
            ),
            *(
                _line(
                    "credit", role, "amount", f"Refund paid {kind}", for_each="tenders", where={"kind": kind}
                )
                for kind, role in TENDER_ROLES.items()
            ),
        ],
    },
    {
        "code": "return-payment-refunded",
        "name": "Return refunded to the original card: the gateway pays the refund payable",
        "event_type": "PaymentRefunded",
        "journal_code": "BANK",
        "priority": 50,
        "conditions": {"for_return": True},
        "lines": [
            _line("debit", "refunds_payable", "amount", "Refund paid {return_ref} {gateway}"),
            _line("credit", "card_clearing", "amount", "Refund {gateway} {order_ref}"),
        ],
    },
)


def _existing_companies() -> None:
    """The new accounts and rules for companies set up before this release."""
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
    companies = [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]
    for raw in companies:
        company_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        taken = {
            (row.code, row.role)
            for row in bind.execute(
                sa.select(accounts.c.code, accounts.c.role).where(accounts.c.company_id == company_id)
            )
        }
        codes, roles = {code for code, _ in taken}, {role for _, role in taken}
        for code, name, type_, role, reconcilable in NEW_ACCOUNTS:
            if role in roles or code in codes:
                continue
            bind.execute(
                accounts.insert().values(
                    id=uuid.uuid4(), company_id=company_id, code=code, name=name, type=type_, role=role,
                    reconcilable=reconcilable, currency=None, active=True, version=1,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        have = set(bind.execute(sa.select(rules.c.code).where(rules.c.company_id == company_id)).scalars())
        for rule in NEW_RULES:
            if rule["code"] in have:
                continue
            bind.execute(
                rules.insert().values(
                    id=uuid.uuid4(), company_id=company_id, valid_from=dt.date(1900, 1, 1), valid_to=None,
                    active=True, version=1, created_at=now, updated_at=now, **rule,
                )
            )  # fmt: skip


revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "return_dispositions",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("location_kind", sa.String(length=16), nullable=False),
        sa.Column("location_code", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "condition IN ('resaleable', 'damaged', 'defective')",
            name=op.f("ck_return_dispositions_condition"),
        ),
        sa.CheckConstraint(
            "location_kind IN ('stock', 'backroom', 'damaged')",
            name=op.f("ck_return_dispositions_location_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_return_dispositions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", "condition", name=op.f("pk_return_dispositions")),
    )
    op.create_table(
        "return_policies",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("no_receipt_allowed", sa.Boolean(), nullable=False),
        sa.Column("no_receipt_roles", sa.JSON(), nullable=False),
        sa.Column("cash_refunds_allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_return_policies_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_return_policies")),
    )
    op.create_table(
        "returns",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("order_number", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("no_receipt", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refunded_total", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("restocking_fee", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'received', 'inspected', 'refunded', 'cancelled')",
            name=op.f("ck_returns_status"),
        ),
        sa.CheckConstraint("refunded_total >= 0 AND restocking_fee >= 0", name=op.f("ck_returns_amounts")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_returns_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_returns_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_returns_order_id_orders")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_returns_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_returns_company_id_number")),
    )
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.create_index("ix_returns_company_status", ["company_id", "status"], unique=False)
        batch_op.create_index("ix_returns_order", ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_returns_store_id"), ["store_id"], unique=False)

    op.create_table(
        "credit_notes",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_number", sa.String(length=32), nullable=False),
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net_total", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("tax_total", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("gross_total", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_credit_notes_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_credit_notes_order_id_orders")),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_credit_notes_return_id_returns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_credit_notes_company_id_number")),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index("ix_credit_notes_company_date", ["company_id", "date"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_notes_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_notes_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_notes_return_id"), ["return_id"], unique=False)

    op.create_table(
        "order_line_returns",
        sa.Column("order_line_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("returned_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("refunded_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.CheckConstraint(
            "returned_quantity >= 0 AND refunded_quantity >= 0 AND refunded_quantity <= returned_quantity",
            name=op.f("ck_order_line_returns_quantities"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_order_line_returns_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_line_returns_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_order_line_returns_order_line_id_order_lines"),
        ),
        sa.PrimaryKeyConstraint("order_line_id", name=op.f("pk_order_line_returns")),
    )
    with op.batch_alter_table("order_line_returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_line_returns_order_id"), ["order_id"], unique=False)

    op.create_table(
        "return_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("return_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_category", sa.String(length=200), nullable=False),
        sa.Column("quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("received_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("refunded_quantity", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("unit_price", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("tax_category", sa.String(length=32), nullable=False),
        sa.Column("cost", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("refunded_net", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("refunded_tax", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("no_receipt", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "condition IN ('resaleable', 'damaged', 'defective')", name=op.f("ck_return_lines_condition")
        ),
        sa.CheckConstraint(
            "quantity > 0 AND received_quantity >= 0 AND received_quantity <= quantity AND refunded_quantity >= 0 AND refunded_quantity <= received_quantity",
            name=op.f("ck_return_lines_quantities"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_return_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_return_lines_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"], name=op.f("fk_return_lines_order_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_return_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name=op.f("fk_return_lines_return_id_returns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_lines")),
        sa.UniqueConstraint("return_id", "position", name=op.f("uq_return_lines_return_id_position")),
    )
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_return_lines_cashier", ["company_id", "created_by", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_return_lines_category", ["company_id", "product_category", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_return_lines_channel", ["company_id", "channel", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_return_lines_no_receipt", ["company_id", "no_receipt", "customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_return_lines_order_line_id"), ["order_line_id"], unique=False)
        batch_op.create_index("ix_return_lines_reason", ["company_id", "reason", "created_at"], unique=False)
        batch_op.create_index("ix_return_lines_store", ["company_id", "store_id", "created_at"], unique=False)

    _existing_companies()


def downgrade() -> None:
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_return_lines_store")
        batch_op.drop_index("ix_return_lines_reason")
        batch_op.drop_index(batch_op.f("ix_return_lines_order_line_id"))
        batch_op.drop_index("ix_return_lines_no_receipt")
        batch_op.drop_index("ix_return_lines_channel")
        batch_op.drop_index("ix_return_lines_category")
        batch_op.drop_index("ix_return_lines_cashier")

    op.drop_table("return_lines")
    with op.batch_alter_table("order_line_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_returns_order_id"))

    op.drop_table("order_line_returns")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_notes_return_id"))
        batch_op.drop_index(batch_op.f("ix_credit_notes_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_credit_notes_customer_id"))
        batch_op.drop_index("ix_credit_notes_company_date")

    op.drop_table("credit_notes")
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_returns_store_id"))
        batch_op.drop_index("ix_returns_order")
        batch_op.drop_index("ix_returns_company_status")

    op.drop_table("returns")
    op.drop_table("return_policies")
    op.drop_table("return_dispositions")
