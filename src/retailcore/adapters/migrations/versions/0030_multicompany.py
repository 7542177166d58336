"""multi-company: company groups, intercompany accounts and documents, the intercompany rules

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 04:00:00

* ``company_groups`` (code, name, group currency, parent company) and ``company_group_members`` (a
  company in one group at most).
* ``intercompany_accounts``: per company, counterparty and role, the account flows post to.
* ``intercompany_documents``: one row per intercompany sale or transfer, unique per seller and reference.
* Companies set up before: the default rules ``intercompany-goods-shipped``,
  ``intercompany-goods-received``, ``intercompany-resale`` and ``intercompany-purchase`` (frozen copies) where they have none of
  that code; on the generic chart, the accounts 4500 (intercompany sales) and 5040 (cost of goods
  bought from group companies) where the code and the role are free. Decision 0040.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _line(side: str, role: str, amount: str, label: str, for_each: str | None = None, **extra: Any) -> dict:
    line: dict[str, Any] = {"side": side, "account_role": role, "amount": amount, "label": label}
    line.update(extra)
    if for_each:
        line["for_each"] = for_each
    return line


def _to_code(side: str, field: str, amount: str, label: str) -> dict[str, Any]:
    return {"side": side, "account_code": f"${field}", "amount": amount, "label": label}


RULES: list[dict[str, Any]] = [
    {
        "code": "intercompany-goods-shipped",
        "name": "Goods of this company sold or moved to a group company: stock out at cost, due from it",
        "event_type": "IntercompanyGoodsShipped",
        "journal_code": "SALES",
        "conditions": {},
        "lines": [
            _line("debit", "cogs", "cost", "IC COGS {reference} {product_category}", "items"),
            _line("credit", "$stock_role", "cost", "IC stock out {reference} {product_category}", "items"),
            _to_code("debit", "receivable_account", "amount", "Due from {counterparty} {reference}"),
            _to_code("credit", "revenue_account", "amount", "IC sale to {counterparty} {reference}"),
        ],
    },
    {
        "code": "intercompany-goods-received",
        "name": "Goods bought from a group company into stock at the transfer price, due to it",
        "event_type": "IntercompanyGoodsReceived",
        "journal_code": "STOCK",
        "conditions": {},
        "lines": [
            _line("debit", "$stock_role", "cost", "IC stock in {reference} {product_category}", "items"),
            _to_code("credit", "payable_account", "amount", "Due to {counterparty} {reference}"),
        ],
    },
    {
        "code": "intercompany-resale",
        "name": "A group company's goods sold here to a customer: the customer's sale",
        "event_type": "IntercompanyResaleRecorded",
        "journal_code": "SALES",
        "conditions": {},
        "lines": [
            _line("debit", "receivable", "gross", "Customer {reference}"),
            _line("credit", "sales_revenue", "net", "Sale {reference}"),
            _line("credit", "output_tax", "tax", "Sale tax {reference}", optional=True),
        ],
    },
    {
        "code": "intercompany-purchase",
        "name": "A group company's goods sold on here: their transfer price due to it",
        "event_type": "IntercompanyPurchaseRecorded",
        "journal_code": "PURCH",
        "conditions": {},
        "lines": [
            _to_code("debit", "cost_account", "amount", "IC cost {counterparty} {reference}"),
            _to_code("credit", "payable_account", "amount", "Due to {counterparty} {reference}"),
        ],
    },
]
ACCOUNTS = [
    ("4500", "Intercompany sales", "income", "intercompany_revenue"),
    ("5040", "Cost of goods bought from group companies", "expense", "intercompany_cost"),
]

_rules = sa.table(
    "posting_rules",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("name", sa.String()),
    sa.column("event_type", sa.String()),
    sa.column("journal_code", sa.String()),
    sa.column("priority", sa.Integer()),
    sa.column("conditions", sa.JSON()),
    sa.column("lines", sa.JSON()),
    sa.column("valid_from", sa.Date()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
    sa.column("version", sa.Integer()),
)
_accounts = sa.table(
    "accounts",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("code", sa.String()),
    sa.column("name", sa.String()),
    sa.column("type", sa.String()),
    sa.column("role", sa.String()),
    sa.column("reconcilable", sa.Boolean()),
    sa.column("active", sa.Boolean()),
    sa.column("created_at", orm.UTCDateTime()),
    sa.column("updated_at", orm.UTCDateTime()),
    sa.column("version", sa.Integer()),
)


def upgrade() -> None:
    op.create_table(
        "company_groups",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("parent_company_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_company_id"],
            ["companies.id"],
            name=op.f("fk_company_groups_parent_company_id_companies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_groups")),
        sa.UniqueConstraint("code", name=op.f("uq_company_groups_code")),
    )
    op.create_table(
        "company_group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_company_group_members_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["company_groups.id"], name=op.f("fk_company_group_members_group_id_company_groups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_group_members")),
        sa.UniqueConstraint("company_id", name=op.f("uq_company_group_members_company_id")),
    )
    with op.batch_alter_table("company_group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_company_group_members_group_id"), ["group_id"], unique=False)
    op.create_table(
        "intercompany_accounts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("counterparty_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=48), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_intercompany_accounts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_intercompany_accounts_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_id"],
            ["companies.id"],
            name=op.f("fk_intercompany_accounts_counterparty_id_companies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intercompany_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_intercompany_accounts_account_id")),
        sa.UniqueConstraint(
            "company_id",
            "counterparty_id",
            "role",
            name=op.f("uq_intercompany_accounts_company_id_counterparty_id_role"),
        ),
    )
    op.create_table(
        "intercompany_documents",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("seller_company_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_company_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("cost", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("buyer_currency", sa.String(length=3), nullable=False),
        sa.Column("buyer_amount", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("rate", orm.ExactDecimal(precision=19, scale=8), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("seller_event_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_event_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('sale', 'transfer')", name=op.f("ck_intercompany_documents_kind")),
        sa.ForeignKeyConstraint(
            ["buyer_company_id"],
            ["companies.id"],
            name=op.f("fk_intercompany_documents_buyer_company_id_companies"),
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["company_groups.id"],
            name=op.f("fk_intercompany_documents_group_id_company_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["seller_company_id"],
            ["companies.id"],
            name=op.f("fk_intercompany_documents_seller_company_id_companies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intercompany_documents")),
        sa.UniqueConstraint(
            "seller_company_id",
            "reference",
            name=op.f("uq_intercompany_documents_seller_company_id_reference"),
        ),
    )
    with op.batch_alter_table("intercompany_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_intercompany_documents_buyer_company_id"), ["buyer_company_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_intercompany_documents_group_id"), ["group_id"], unique=False)
    _existing_companies()


def _existing_companies() -> None:
    """Bring companies set up before this revision to its rules and, on the generic chart, accounts."""
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for (company_id,) in bind.execute(sa.text("SELECT id FROM companies")).all():
        company = uuid.UUID(str(company_id))
        have = set(bind.execute(sa.select(_rules.c.code).where(_rules.c.company_id == company)).scalars())
        if have:  # a company whose ledger is not set up gets every rule when it is
            for rule in RULES:
                if rule["code"] not in have:
                    bind.execute(
                        _rules.insert().values(
                            id=uuid.uuid4(), company_id=company, priority=100, valid_from=dt.date(1900, 1, 1),
                            active=True, created_at=now, updated_at=now, version=1, **rule,
                        )
                    )  # fmt: skip
        accounts = {
            code: role
            for code, role in bind.execute(
                sa.select(_accounts.c.code, _accounts.c.role).where(_accounts.c.company_id == company)
            ).all()
        }
        if accounts.get("1230") != "intercompany_receivable":
            continue  # not the generic chart: its accountant adds the accounts
        roles = set(accounts.values())
        for code, name, type_, role in ACCOUNTS:
            if role not in roles and code not in accounts:
                bind.execute(
                    _accounts.insert().values(
                        id=uuid.uuid4(), company_id=company, code=code, name=name, type=type_, role=role,
                        reconcilable=False, active=True, created_at=now, updated_at=now, version=1,
                    )
                )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("intercompany_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intercompany_documents_group_id"))
        batch_op.drop_index(batch_op.f("ix_intercompany_documents_buyer_company_id"))
    op.drop_table("intercompany_documents")
    op.drop_table("intercompany_accounts")
    with op.batch_alter_table("company_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_company_group_members_group_id"))
    op.drop_table("company_group_members")
    op.drop_table("company_groups")
    bind = op.get_bind()
    bind.execute(_rules.delete().where(_rules.c.code.in_([rule["code"] for rule in RULES])))
