"""Payment gateways as master data, the settlement files they send, the lines of those files, and the
mismatches found when the lines are matched to our own captures and refunds.

A line is stored once per gateway (``line_key``: Stripe's balance transaction id; Adyen's psp reference,
journal type and batch; the generic CSV's mapped id), a file once per content hash: importing a file or
a line again writes nothing. Lines are never updated but for what matching and the payout learn about
them (``payment_id``, ``match``, ``batch_id`` of a line first seen without its payout).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, TimestampsMixin, UTCDateTime, utcnow

FORMATS = ("stripe", "adyen", "csv")
LINE_KINDS = (
    "charge",
    "refund",
    "refund_failure",
    "partial_capture_reversal",
    "dispute",
    "dispute_reversal",
    "fee",
    "payout",
    "adjustment",
)
MATCHES = ("gateway_reference", "order_reference")
MISMATCH_KINDS = (
    "fee_difference",
    "partial_capture",
    "refund_unknown",
    "chargeback",
    "timing",
    "currency_conversion",
    "missing_capture",
    "duplicate",
    "unmatched",
)
MISMATCH_STATES = ("open", "resolved")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Gateway(IdMixin, TimestampsMixin, Base):
    """A payment gateway (Stripe, Adyen, a store acquirer, PayPal, a marketplace paying out).

    code
        What card payments name as their ``gateway`` (``order_payments.gateway``, payment methods).
    format
        How its settlement files are read: ``stripe`` (balance transactions / payout reconciliation
        CSV), ``adyen`` (settlement details report), ``csv`` (a column mapping).
    currency
        The settlement (payout) currency.
    *_account_id
        Where its money goes: ``clearing`` (captures wait there), ``fee`` (its fees), ``chargeback``
        (disputed amounts until won or lost), ``transit`` (settled, on its way to the bank), ``bank``.
    fee_rate, fee_fixed
        The contract's fee per charge (``gross * fee_rate + fee_fixed``); null: fees are not checked.
    """

    __tablename__ = "gateways"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        CheckConstraint(_one_of("format", FORMATS), name="format"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    clearing_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    fee_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    chargeback_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    transit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    bank_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    fee_rate: Mapped[Decimal | None] = mapped_column(Amount())
    fee_fixed: Mapped[Decimal | None] = mapped_column(Amount())
    active: Mapped[bool] = mapped_column(default=True)


class SettlementFile(IdMixin, Base):
    """One imported file, once per content hash and gateway."""

    __tablename__ = "settlement_files"
    __table_args__ = (UniqueConstraint("company_id", "gateway_id", "content_sha256"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateways.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    lines_read: Mapped[int]
    lines_new: Mapped[int]
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(128))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the import did (matched, mismatches, batches, entries): a replay answers it again."""


class SettlementBatch(IdMixin, Base):
    """A payout batch of a gateway (Stripe ``automatic_payout_id``, Adyen batch number).

    payout
        What the gateway says it paid to the bank (its payout line), once that line has come.
    banked_by
        The bank statement entry that showed the payout arrive (set by the banking context when it
        matches one). Its credit moved the batch from transit to the bank: a payout line that comes
        later is recorded, not posted again.
    """

    __tablename__ = "settlement_batches"
    __table_args__ = (UniqueConstraint("company_id", "gateway_id", "reference"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateways.id"))
    reference: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    payout: Mapped[Decimal | None] = mapped_column(Amount())
    banked_by: Mapped[uuid.UUID | None]
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettlementLine(IdMixin, Base):
    """One line of a settlement file, in the settlement currency; ``net = gross - fee``.

    kind
        ``charge``, ``refund``, ``refund_failure``, ``partial_capture_reversal``, ``dispute``,
        ``dispute_reversal`` (won), ``fee`` (billed apart), ``payout``, ``adjustment`` (to review).
    reference, reference2
        The gateway's payment references (Stripe charge and payment intent; Adyen psp reference):
        what our card payments carry as ``reference``.
    order_ref
        Our order number as the gateway knows it (merchant reference, metadata).
    original_currency, original_gross
        The shopper's currency and amount when the gateway converted it.
    payment_id, match
        The card payment (``order_payments.id``) the line was matched to, and how.
    """

    __tablename__ = "settlement_lines"
    __table_args__ = (
        UniqueConstraint("company_id", "gateway_id", "line_key"),
        CheckConstraint(_one_of("kind", LINE_KINDS), name="kind"),
        Index("ix_settlement_lines_file", "file_id"),
        Index("ix_settlement_lines_batch", "batch_id"),
        Index("ix_settlement_lines_reference", "company_id", "gateway_id", "reference"),
        Index("ix_settlement_lines_payment", "payment_id"),  # the settlement lag's "settled yet?"
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateways.id"))
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_files.id"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("settlement_batches.id"))
    line_number: Mapped[int]
    line_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    gateway_type: Mapped[str] = mapped_column(String(64))
    """The type as the file wrote it (``charge``, ``Settled``...)."""
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[Decimal] = mapped_column(Amount())
    fee: Mapped[Decimal] = mapped_column(Amount())
    net: Mapped[Decimal] = mapped_column(Amount())
    reference: Mapped[str | None] = mapped_column(String(200))
    reference2: Mapped[str | None] = mapped_column(String(200))
    order_ref: Mapped[str | None] = mapped_column(String(200))
    original_currency: Mapped[str | None] = mapped_column(String(3))
    original_gross: Mapped[Decimal | None] = mapped_column(Amount())
    description: Mapped[str] = mapped_column(String(500), default="")
    window_from: Mapped[dt.date] = mapped_column(Date)
    window_to: Mapped[dt.date] = mapped_column(Date)
    """The dates an order matched by order reference may have been created between (``matching``)."""
    payment_id: Mapped[uuid.UUID | None]
    match: Mapped[str | None] = mapped_column(String(32))


class Mismatch(IdMixin, Base):
    """A settlement line that does not agree with our books, classified (``kind``), with the amount at
    risk (settlement currency), a suggested resolution, and how it was resolved."""

    __tablename__ = "settlement_mismatches"
    __table_args__ = (
        UniqueConstraint("line_id", "kind"),
        CheckConstraint(_one_of("kind", MISMATCH_KINDS), name="kind"),
        CheckConstraint(_one_of("state", MISMATCH_STATES), name="state"),
        Index("ix_settlement_mismatches_company_state", "company_id", "state"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    gateway_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateways.id"))
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_lines.id"))
    kind: Mapped[str] = mapped_column(String(32))
    amount_at_risk: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    since: Mapped[dt.date] = mapped_column(Date)
    """The line's date: the mismatch's age counts from it."""
    suggestion: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str] = mapped_column(String(1000), default="")
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
