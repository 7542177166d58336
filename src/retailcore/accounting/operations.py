"""What finance and integrations ask of the ledger through the API and CLI.

Each operation records its own event (the audit trail) and goes through ``services.post_entry`` for
every entry it writes, so manual entries obey exactly the same invariants as automatic ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.accounting import commands as cmd
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.accounting.views import PostingRuleView
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.chart import STOCK_VALUED_ROLES
from retailcore.masterdata.tables import Account, Company

# -- manual entries --------------------------------------------------------------------------------


def _accounts_of(session: Session, company: Company, lines: list[cmd.ManualLine]) -> list[Account]:
    ids = {line.account_id for line in lines if line.account_id}
    codes = {line.account_code for line in lines if line.account_code}
    found = list(
        session.scalars(
            select(Account).where(
                Account.company_id == company.id, Account.id.in_(ids) | Account.code.in_(codes)
            )
        )
    )
    by_id = {acc.id: acc for acc in found}
    by_code = {acc.code: acc for acc in found}
    accounts = []
    for index, line in enumerate(lines):
        account = by_id.get(line.account_id) if line.account_id else by_code.get(line.account_code or "")
        if account is None:
            field = "account_id" if line.account_id else "account_code"
            raise InvalidReference(
                f"line {index}: no account {line.account_id or line.account_code}",
                problems=[FieldProblem(f"lines.{index}.{field}", "no such account")],
            )
        accounts.append(account)
    return accounts


def record_manual_entry(
    session: Session, ctx: CommandContext, company: Company, request: cmd.CreateJournalEntry
) -> a.JournalEntry:
    accounts = _accounts_of(session, company, request.lines)
    lines = [
        svc.LineInput(
            account_id=account.id,
            side="debit" if line.debit > 0 else "credit",
            amount=line.debit or line.credit,
            currency=line.currency or company.currency,
            rate=line.rate,
            label=line.label or request.reference,
            store_id=line.store_id,
            channel=line.channel,
            product_category=line.product_category,
            location_id=line.location_id,
            tax_code=line.tax_code,
            tax_base=line.tax_base,
        )
        for line, account in zip(request.lines, accounts, strict=True)
    ]
    entry = svc.post_entry(
        session,
        ctx,
        company=company,
        journal_code=request.journal_code,
        date=request.date,
        reference=request.reference,
        lines=lines,
        post=False,
    )
    event = record(
        session,
        ctx,
        type="JournalEntryRecorded",
        company_id=company.id,
        aggregate_type="JournalEntry",
        aggregate_id=entry.id,
        payload={"request": request.model_dump(mode="json", exclude={"company_id"})},
    )
    entry.event_id = event.id
    for line in entry.lines:
        line.event_id = event.id
    session.flush()
    if request.post:
        svc.post_draft(session, ctx, entry)
    return entry


def post_draft(session: Session, ctx: CommandContext, entry: a.JournalEntry) -> a.JournalEntry:
    svc.post_draft(session, ctx, entry)
    record(
        session,
        ctx,
        type="JournalEntryPosted",
        company_id=entry.company_id,
        aggregate_type="JournalEntry",
        aggregate_id=entry.id,
        payload={"number": entry.number},
    )
    return entry


def delete_draft(session: Session, ctx: CommandContext, entry: a.JournalEntry) -> None:
    if entry.state != "draft":
        raise Conflict("posted entries are never deleted: reverse them", code="entry-posted")
    record(
        session,
        ctx,
        type="JournalEntryDraftDeleted",
        company_id=entry.company_id,
        aggregate_type="JournalEntry",
        aggregate_id=entry.id,
        payload={"reference": entry.reference, "date": entry.date},
    )
    session.delete(entry)
    session.flush()


def reverse(
    session: Session, ctx: CommandContext, entry: a.JournalEntry, request: cmd.ReverseJournalEntry
) -> a.JournalEntry:
    event = record(
        session,
        ctx,
        type="JournalEntryReversed",
        company_id=entry.company_id,
        aggregate_type="JournalEntry",
        aggregate_id=entry.id,
        payload={"number": entry.number, "date": request.date or entry.date},
    )
    return svc.reverse_entry(
        session, ctx, entry, date=request.date, reference=request.reference, event_id=event.id
    )


# -- posting rules ---------------------------------------------------------------------------------


def _check_rule_date(session: Session, company_id: uuid.UUID, valid_from: dt.date) -> None:
    lock_date = svc.settings_for(session, company_id).lock_date
    if lock_date is not None and valid_from <= lock_date:
        raise Conflict(
            f"a rule cannot take effect on or before the lock date {lock_date.isoformat()}",
            code="period-locked",
            problems=[FieldProblem("valid_from", "in a locked period")],
        )


def create_rule(
    session: Session, ctx: CommandContext, company: Company, request: cmd.CreatePostingRule
) -> a.PostingRule:
    svc.journal(session, company.id, request.journal_code)
    if session.scalar(
        select(a.PostingRule.id).where(
            a.PostingRule.company_id == company.id, a.PostingRule.code == request.code
        )
    ):
        raise Conflict(
            f"a posting rule '{request.code}' exists: add a version to change it",
            code="duplicate-code",
            problems=[FieldProblem("code", "already exists")],
        )
    _check_rule_date(session, company.id, request.valid_from)
    rule = a.PostingRule(company_id=company.id, **request.model_dump(exclude={"company_id"}))
    session.add(rule)
    session.flush()
    record(
        session,
        ctx,
        type="PostingRuleCreated",
        company_id=company.id,
        aggregate_type="PostingRule",
        aggregate_id=rule.id,
        payload={"after": PostingRuleView.model_validate(rule)},
    )
    return rule


def change_rule(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, code: str, request: cmd.ChangePostingRule
) -> a.PostingRule:
    """End the version in force on ``valid_from`` the day before, and start a new one."""
    versions = list(
        session.scalars(
            select(a.PostingRule)
            .where(a.PostingRule.company_id == company_id, a.PostingRule.code == code)
            .order_by(a.PostingRule.valid_from)
        )
    )
    if not versions:
        raise NotFound(f"no posting rule '{code}'")
    current = versions[-1]
    if request.valid_from <= current.valid_from:
        raise ValidationFailed(
            f"the latest version of '{code}' starts {current.valid_from.isoformat()}; a new one starts later",
            problems=[FieldProblem("valid_from", "not after the latest version")],
        )
    _check_rule_date(session, company_id, request.valid_from)
    changes: dict[str, Any] = request.model_dump(exclude_unset=True, exclude={"valid_from"})
    if "journal_code" in changes:
        svc.journal(session, company_id, changes["journal_code"])
    before = PostingRuleView.model_validate(current)
    new = a.PostingRule(
        company_id=company_id,
        code=code,
        name=changes.get("name", current.name),
        event_type=current.event_type,
        journal_code=changes.get("journal_code", current.journal_code),
        priority=changes.get("priority", current.priority),
        conditions=changes.get("conditions", current.conditions),
        lines=changes.get("lines", current.lines),
        active=changes.get("active", current.active),
        valid_from=request.valid_from,
    )
    current.valid_to = request.valid_from - dt.timedelta(days=1)
    session.add(new)
    session.flush()
    record(
        session,
        ctx,
        type="PostingRuleChanged",
        company_id=company_id,
        aggregate_type="PostingRule",
        aggregate_id=new.id,
        payload={
            "code": code,
            "valid_from": request.valid_from,
            "before": before,
            "after": PostingRuleView.model_validate(new),
        },
    )
    return new


# -- lock date and fiscal years ----------------------------------------------------------------------


def create_fiscal_year(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, start: dt.date
) -> a.FiscalYear:
    fiscal_year = svc.create_fiscal_year(session, company_id, start)
    record(
        session,
        ctx,
        type="FiscalYearCreated",
        company_id=company_id,
        aggregate_type="FiscalYear",
        aggregate_id=fiscal_year.id,
        payload={
            "code": fiscal_year.code,
            "start_date": fiscal_year.start_date,
            "end_date": fiscal_year.end_date,
        },
    )
    return fiscal_year


# -- postable events from outside ------------------------------------------------------------------


STOCK_FLOWS = {
    "GoodsReceived": "receive goods with POST /receipts (purchasing)",
    "GoodsIssued": "deliver an order with POST /orders/{id}/fulfillments, or a reservation with"
    " POST /reservations/{id}/consume",
    "PosGoodsIssued": "send the sales to POST /pos/sessions/{id}/sales:batch",
    "ReturnReceived": "receive a customer return with POST /returns/{id}/receive",
    "StockMoved": "move goods by hand with POST /stock/moves",
    "StockMovedInternally": "move goods by hand with POST /stock/moves",
    "StockScrapped": "scrap goods with POST /stock/moves (kind scrap)",
    "TransferShipped": "ship a transfer with POST /transfers/{id}/ship",
    "TransferReceived": "receive a transfer with POST /transfers/{id}/receive",
    "StockCounted": "count stock with POST /counts and approve the count",
    "SupplierReturned": "return goods of a receipt with POST /stock/vendor-returns",
    "StandardCostChanged": "change a product's standard cost with POST /products/{id}/standard-cost",
    "StockCostCorrected": "stock cost corrections are made by the stock moves that re-cost negative stock",
    "IntercompanyGoodsShipped": "record the flow with POST /intercompany/sales or /intercompany/transfers",
    "IntercompanyGoodsReceived": "record the transfer with POST /intercompany/transfers",
}
"""Events whose consequences are stock moves, by the flow that makes them: the ledger alone would post
their value without moving the goods, and the stock check would then disagree."""


BALANCE_FLOWS = {
    "GiftCardGiven": "give a gift card with POST /gift-cards (origin given)",
    "GiftCardReloaded": "reload a gift card with POST /gift-cards/{code}/reload",
    "GiftCardExpired": "gift cards expire with POST /gift-cards/expire (or the sweep)",
    "StoreCreditIssued": "give store credit with POST /store-credits",
    "GatewaySettlementPosted": "import the gateway's settlement file with POST /settlements",
    "SettlementMismatchAdjusted": "resolve the mismatch with POST /mismatches/{id}/resolve",
    "BankEntryMatched": "import the bank statement with POST /bank-statements, or match its entry",
    "ForeignMoneySettled": "import the settlement file (POST /settlements) or bank foreign cash deposits",
    "ForeignMoneyReceived": "import the settlement file (POST /settlements) or bank foreign cash deposits",
    "IntercompanyResaleRecorded": "record the sale with POST /intercompany/sales (both companies' sides)",
    "IntercompanyPurchaseRecorded": "record the sale with POST /intercompany/sales (both companies' sides)",
    "ShippedNotInvoicedAccrued": "run the period's accruals with POST /periods/{period}/accruals",
    "LoyaltyPointsEarned": "earn an order's points with POST /loyalty/earnings",
    "LoyaltyPointsReversed": "take an order's points back with POST /loyalty/reversals",
    "LoyaltyLiabilityRevalued": "change the point value with PUT /loyalty/programme",
}
"""Events of the payments context that move a gift card's or a customer's balance with their entry:
the ledger alone would post the liability with no balance behind it. (``GiftCardSold`` stays open to
systems that sell cards they keep the balances of.) Settlement postings likewise belong to their
settlement lines and mismatches (decision 0035); ``SettlementImported`` stays open to outside systems.
An intercompany sale's sides belong to its document, posted on both companies' books together
(decision 0040). Loyalty entries belong to the points behind them (decision 0049).
An accrual belongs to the close's accrual run, which reverses it and measures it (decision 0041)."""


def _refuse_stock_event(event_type: str, why: str, field: str = "type") -> ValidationFailed:
    return ValidationFailed(
        f"a {event_type} event moves stock, which the ledger alone cannot do: {why}",
        code="stock-event-needs-its-flow",
        problems=[FieldProblem(field, why)],
    )


def record_ledger_event(
    session: Session, ctx: CommandContext, company: Company, request: cmd.RecordLedgerEvent
) -> tuple[Any, a.JournalEntry]:
    """Record a commercial event and post it; refused (and nothing written) if no rule posts it, or if
    its entry would touch an account the stock valuation must agree with (stock moves post those)."""
    if request.type in STOCK_FLOWS:
        raise _refuse_stock_event(request.type, STOCK_FLOWS[request.type])
    if request.type in BALANCE_FLOWS:
        why = BALANCE_FLOWS[request.type]
        raise ValidationFailed(
            f"a {request.type} event moves a balance the payments context keeps: {why}",
            code="balance-event-needs-its-flow",
            problems=[FieldProblem("type", why)],
        )
    if request.occurred_at is not None:
        ctx.occurred_at = request.occurred_at
    event = record(
        session,
        ctx,
        type=request.type,
        company_id=company.id,
        aggregate_type=request.type,
        aggregate_id=request.aggregate_id or uuid.uuid4(),
        payload=request.payload,
        store_id=request.store_id,
    )
    session.flush()
    entry = svc.post_event(session, ctx, event)
    if entry is None:
        raise ValidationFailed(
            f"no posting rule in force posts a {request.type} event with this payload",
            code="no-posting-rule",
            problems=[FieldProblem("type", "no rule matches")],
        )
    stock_accounts = session.scalars(
        select(Account.code).where(
            Account.id.in_({line.account_id for line in entry.lines}), Account.role.in_(STOCK_VALUED_ROLES)
        )
    ).all()
    if stock_accounts:
        # Raised inside the unit of work: the event and its entry are rolled back with it.
        raise _refuse_stock_event(
            request.type,
            f"its entry would post to the stock account(s) {', '.join(sorted(stock_accounts))}, which only"
            " stock moves may change; send it without its stock part (for a Z-report: without `cogs`;"
            " the POS sales batches move the goods)",
            field="payload",
        )
    return event, entry
