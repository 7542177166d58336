"""gift cards and store credit: balances, their append-only movements, the company's gift card policy

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:00:00

* ``gift_cards``: one row per card, found by the SHA-256 of its code (the code itself is never stored;
  decision 0023), with its balance (never negative), state, origin and expiry.
* ``gift_card_movements``: issue, redeem, reload, refund, expire; the balance is their sum.
* ``store_credit_accounts`` / ``store_credit_movements``: a customer's store credit and its movements.
* ``gift_card_policies``: months to expiry and when breakage is recognised, per company.
* Companies set up before: the four new default posting rules (a frozen copy: ``gift-card-given``,
  ``gift-card-reloaded``, ``gift-card-breakage``, ``store-credit-goodwill``) where they have none of that
  code, and, on the generic chart (an account ``2200`` for gift_card_liability), account ``4400 Gift card
  breakage`` and the role ``customer_goodwill`` on ``6040`` when no account carries those roles yet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from retailcore.adapters import orm

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _amount() -> orm.ExactDecimal:
    return orm.ExactDecimal(precision=19, scale=4)


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        "gift_cards",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", _amount(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_gift_cards_balance_not_negative")),
        sa.CheckConstraint("state IN ('active', 'expired')", name=op.f("ck_gift_cards_state")),
        sa.CheckConstraint("origin IN ('sold', 'given')", name=op.f("ck_gift_cards_origin")),
        _fk("gift_cards", "company_id", "companies"),
        _fk("gift_cards", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_cards")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_cards_code_hash")),
    )
    with op.batch_alter_table("gift_cards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_gift_cards_company_state_expires", ["company_id", "state", "expires_on"], unique=False
        )

    op.create_table(
        "gift_card_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("balance_after", _amount(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'redeem', 'reload', 'refund', 'expire')",
            name=op.f("ck_gift_card_movements_kind"),
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_gift_card_movements_balance_after_not_negative")
        ),
        _fk("gift_card_movements", "company_id", "companies"),
        _fk("gift_card_movements", "card_id", "gift_cards"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_movements")),
    )
    with op.batch_alter_table("gift_card_movements", schema=None) as batch_op:
        batch_op.create_index("ix_gift_card_movements_card", ["card_id", "id"], unique=False)

    op.create_table(
        "store_credit_accounts",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", _amount(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_store_credit_accounts_balance_not_negative")),
        _fk("store_credit_accounts", "company_id", "companies"),
        _fk("store_credit_accounts", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_accounts")),
        sa.UniqueConstraint(
            "company_id", "customer_id", name=op.f("uq_store_credit_accounts_company_id_customer_id")
        ),
    )

    op.create_table(
        "store_credit_movements",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("amount", _amount(), nullable=False),
        sa.Column("balance_after", _amount(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('issue', 'spend', 'refund')", name=op.f("ck_store_credit_movements_kind")
        ),
        sa.CheckConstraint(
            "balance_after >= 0", name=op.f("ck_store_credit_movements_balance_after_not_negative")
        ),
        _fk("store_credit_movements", "company_id", "companies"),
        _fk("store_credit_movements", "account_id", "store_credit_accounts"),
        _fk("store_credit_movements", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_credit_movements")),
    )
    with op.batch_alter_table("store_credit_movements", schema=None) as batch_op:
        batch_op.create_index("ix_store_credit_movements_account", ["account_id", "id"], unique=False)

    op.create_table(
        "gift_card_policies",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("months_to_expiry", sa.Integer(), nullable=True),
        sa.Column("breakage", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "months_to_expiry IS NULL OR months_to_expiry > 0",
            name=op.f("ck_gift_card_policies_months_positive"),
        ),
        sa.CheckConstraint("breakage IN ('at_expiry', 'never')", name=op.f("ck_gift_card_policies_breakage")),
        _fk("gift_card_policies", "company_id", "companies"),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_gift_card_policies")),
    )
    _existing_companies()


def _line(side: str, role: str, label: str, for_each: str | None = None, **where: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"side": side, "account_role": role, "amount": "amount", "label": label}
    if for_each:
        line["for_each"] = for_each
    if where:
        line["where"] = where
    return line


_TENDER_ROLES = {
    "cash": "cash_drawer",
    "card": "card_clearing",
    "gift_card": "gift_card_liability",
    "store_credit": "store_credit_liability",
    "on_account": "receivable",
}
RULES: list[dict[str, Any]] = [  # as the rulebook of this release wrote them
    {
        "code": "gift-card-given",
        "name": "Gift card given away (promotion, goodwill): a marketing cost and a liability",
        "event_type": "GiftCardGiven",
        "journal_code": "MISC",
        "conditions": {},
        "lines": [
            _line("debit", "customer_goodwill", "Gift card given {card_ref}"),
            _line("credit", "gift_card_liability", "Gift card {card_ref}"),
        ],
    },
    {
        "code": "gift-card-reloaded",
        "name": "Gift card reloaded: a liability, no revenue",
        "event_type": "GiftCardReloaded",
        "journal_code": "SALES",
        "conditions": {},
        "lines": [
            *(
                _line("debit", role, f"Gift card reload paid by {kind}", "tenders", kind=kind)
                for kind, role in _TENDER_ROLES.items()
            ),
            _line("credit", "gift_card_liability", "Gift card reloaded {card_ref}"),
        ],
    },
    {
        "code": "gift-card-breakage",
        "name": "Gift card expired: its unredeemed balance recognised as breakage income",
        "event_type": "GiftCardExpired",
        "journal_code": "MISC",
        "conditions": {},
        "lines": [
            _line("debit", "gift_card_liability", "Gift card expired {card_ref}"),
            _line("credit", "gift_card_breakage", "Breakage {card_ref}"),
        ],
    },
    {
        "code": "store-credit-goodwill",
        "name": "Store credit given as a goodwill gesture: a cost and a liability to the customer",
        "event_type": "StoreCreditIssued",
        "journal_code": "MISC",
        "conditions": {"source": "goodwill", "post": True},
        "lines": [
            _line("debit", "customer_goodwill", "Goodwill {reference}"),
            _line("credit", "store_credit_liability", "Store credit {reference}"),
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


def _existing_companies() -> None:
    """Bring companies set up before this revision to its rules and, on the generic chart, accounts."""
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
        accounts = {
            code: role
            for code, role in bind.execute(
                sa.select(_accounts.c.code, _accounts.c.role).where(_accounts.c.company_id == company)
            ).all()
        }
        roles = set(accounts.values())
        if accounts.get("2200") != "gift_card_liability":
            continue  # not the generic chart: its accountant adds the accounts
        if "gift_card_breakage" not in roles and "4400" not in accounts:
            bind.execute(
                _accounts.insert().values(
                    id=uuid.uuid4(), company_id=company, code="4400", name="Gift card breakage", type="income",
                    role="gift_card_breakage", reconcilable=False, active=True, created_at=now, updated_at=now,
                    version=1,
                )
            )  # fmt: skip
        if "customer_goodwill" not in roles and "6040" in accounts and accounts["6040"] is None:
            bind.execute(
                _accounts.update()
                .where(_accounts.c.company_id == company, _accounts.c.code == "6040")
                .values(role="customer_goodwill", updated_at=now)
            )


def downgrade() -> None:
    op.drop_table("gift_card_policies")
    op.drop_table("store_credit_movements")
    op.drop_table("store_credit_accounts")
    op.drop_table("gift_card_movements")
    op.drop_table("gift_cards")
