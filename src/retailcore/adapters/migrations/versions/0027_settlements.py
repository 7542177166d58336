"""settlements: gateways as master data, settlement files, batches, lines and mismatches

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-07 01:30:00

Follows 0025 (the Odoo connector).

* ``gateways``: per company and gateway code, the settlement format, currency, the five accounts
  (clearing, fee, chargeback, transit, bank) and the contract's fee (decision 0035).
* ``settlement_files`` (once per content hash), ``settlement_batches`` (payout batches),
  ``settlement_lines`` (once per gateway and line key) and ``settlement_mismatches``.
* ``order_payments``: an index on ``(company_id, gateway, reference)``, how settlement lines find
  their card payment.
* Companies set up before: the default rules ``gateway-settlement`` and ``settlement-adjustment`` (a
  frozen copy) where they have none of that code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0027"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _pinned(side: str, field: str, amount: str, label: str) -> dict[str, Any]:
    return {"side": side, "account_code": f"${field}", "amount": amount, "label": label, "optional": True}


RULES: list[dict[str, Any]] = [
    {
        "code": "gateway-settlement",
        "name": "Gateway settlement lines of a payout batch: clearing, fees, chargebacks, transit, bank",
        "event_type": "GatewaySettlementPosted",
        "journal_code": "BANK",
        "conditions": {},
        "lines": [
            _pinned("credit", "clearing_account", "captures_gross", "Settled {gateway} {batch}"),
            _pinned("debit", "fee_account", "captures_fee", "Fees {gateway} {batch}"),
            _pinned("debit", "transit_account", "captures_net", "Net {gateway} {batch}"),
            _pinned("debit", "chargeback_account", "disputes_amount", "Disputed {gateway} {batch}"),
            _pinned("debit", "fee_account", "disputes_fee", "Dispute fees {gateway} {batch}"),
            _pinned("credit", "transit_account", "disputes_net", "Disputes {gateway} {batch}"),
            _pinned("debit", "transit_account", "won_net", "Disputes won {gateway} {batch}"),
            _pinned("credit", "chargeback_account", "won_amount", "Disputes won {gateway} {batch}"),
            _pinned("debit", "fee_account", "won_fee", "Dispute fees {gateway} {batch}"),
            _pinned("debit", "fee_account", "costs", "Costs {gateway} {batch}"),
            _pinned("credit", "transit_account", "costs", "Costs {gateway} {batch}"),
            _pinned("debit", "bank_account", "payout", "Payout {gateway} {batch}"),
            _pinned("credit", "transit_account", "payout", "Payout {gateway} {batch}"),
        ],
    },
    {
        "code": "settlement-adjustment",
        "name": "Adjustment posted when a settlement mismatch is resolved",
        "event_type": "SettlementMismatchAdjusted",
        "journal_code": "BANK",
        "conditions": {},
        "lines": [
            _pinned("debit", "debit_account", "amount", "{kind} {reference}"),
            _pinned("credit", "credit_account", "amount", "{kind} {reference}"),
        ],
    },
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


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("clearing_account_id", sa.Uuid(), nullable=False),
        sa.Column("fee_account_id", sa.Uuid(), nullable=False),
        sa.Column("chargeback_account_id", sa.Uuid(), nullable=False),
        sa.Column("transit_account_id", sa.Uuid(), nullable=False),
        sa.Column("bank_account_id", sa.Uuid(), nullable=False),
        sa.Column("fee_rate", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("fee_fixed", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("updated_at", orm.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("format IN ('stripe', 'adyen', 'csv')", name=op.f("ck_gateways_format")),
        sa.ForeignKeyConstraint(
            ["bank_account_id"], ["accounts.id"], name=op.f("fk_gateways_bank_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["chargeback_account_id"],
            ["accounts.id"],
            name=op.f("fk_gateways_chargeback_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["clearing_account_id"], ["accounts.id"], name=op.f("fk_gateways_clearing_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_gateways_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["fee_account_id"], ["accounts.id"], name=op.f("fk_gateways_fee_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transit_account_id"], ["accounts.id"], name=op.f("fk_gateways_transit_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateways")),
        sa.UniqueConstraint("company_id", "code", name=op.f("uq_gateways_company_id_code")),
    )
    op.create_table(
        "settlement_batches",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payout", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_settlement_batches_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_settlement_batches_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_batches")),
        sa.UniqueConstraint(
            "company_id",
            "gateway_id",
            "reference",
            name=op.f("uq_settlement_batches_company_id_gateway_id_reference"),
        ),
    )
    op.create_table(
        "settlement_files",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("lines_new", sa.Integer(), nullable=False),
        sa.Column("imported_at", orm.UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_settlement_files_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_settlement_files_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_files")),
        sa.UniqueConstraint(
            "company_id",
            "gateway_id",
            "content_sha256",
            name=op.f("uq_settlement_files_company_id_gateway_id_content_sha256"),
        ),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("line_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("gateway_type", sa.String(length=64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("fee", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("net", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("reference2", sa.String(length=200), nullable=True),
        sa.Column("order_ref", sa.String(length=200), nullable=True),
        sa.Column("original_currency", sa.String(length=3), nullable=True),
        sa.Column("original_gross", orm.ExactDecimal(precision=19, scale=4), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=False),
        sa.Column("window_to", sa.Date(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("match", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('charge', 'refund', 'refund_failure', 'partial_capture_reversal', 'dispute', 'dispute_reversal', 'fee', 'payout', 'adjustment')",
            name=op.f("ck_settlement_lines_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["settlement_batches.id"],
            name=op.f("fk_settlement_lines_batch_id_settlement_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_settlement_lines_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["settlement_files.id"], name=op.f("fk_settlement_lines_file_id_settlement_files")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_settlement_lines_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
        sa.UniqueConstraint(
            "company_id",
            "gateway_id",
            "line_key",
            name=op.f("uq_settlement_lines_company_id_gateway_id_line_key"),
        ),
    )
    op.create_index("ix_settlement_lines_batch", "settlement_lines", ["batch_id"], unique=False)
    op.create_index("ix_settlement_lines_file", "settlement_lines", ["file_id"], unique=False)
    op.create_index(
        "ix_settlement_lines_reference",
        "settlement_lines",
        ["company_id", "gateway_id", "reference"],
        unique=False,
    )
    op.create_table(
        "settlement_mismatches",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount_at_risk", orm.ExactDecimal(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("suggestion", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("resolved_at", orm.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('fee_difference', 'partial_capture', 'refund_unknown', 'chargeback', 'timing', 'currency_conversion', 'missing_capture', 'duplicate', 'unmatched')",
            name=op.f("ck_settlement_mismatches_kind"),
        ),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_settlement_mismatches_state")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_settlement_mismatches_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_settlement_mismatches_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_settlement_mismatches_gateway_id_gateways")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["settlement_lines.id"],
            name=op.f("fk_settlement_mismatches_line_id_settlement_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_mismatches")),
        sa.UniqueConstraint("line_id", "kind", name=op.f("uq_settlement_mismatches_line_id_kind")),
    )
    op.create_index(
        "ix_settlement_mismatches_company_state",
        "settlement_mismatches",
        ["company_id", "state"],
        unique=False,
    )
    op.create_index(
        "ix_order_payments_gateway_reference",
        "order_payments",
        ["company_id", "gateway", "reference"],
        unique=False,
    )
    _existing_companies()


def _existing_companies() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    for (company_id,) in bind.execute(sa.text("SELECT id FROM companies")).all():
        company = uuid.UUID(str(company_id))
        have = set(bind.execute(sa.select(_rules.c.code).where(_rules.c.company_id == company)).scalars())
        for rule in RULES:
            if rule["code"] not in have:
                bind.execute(
                    _rules.insert().values(
                        id=uuid.uuid4(), company_id=company, priority=100, valid_from=dt.date(1900, 1, 1),
                        active=True, created_at=now, updated_at=now, version=1, **rule,
                    )
                )  # fmt: skip


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(_rules.delete().where(_rules.c.code.in_([rule["code"] for rule in RULES])))
    op.drop_index("ix_order_payments_gateway_reference", table_name="order_payments")
    op.drop_table("settlement_mismatches")
    op.drop_table("settlement_lines")
    op.drop_table("settlement_files")
    op.drop_table("settlement_batches")
    op.drop_table("gateways")
