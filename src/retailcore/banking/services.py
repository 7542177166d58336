"""Bank accounts, statement imports, matching, exceptions and reconciliation: the rules of the flow
(issue 17, decision 0037).

- **A bank account is master data**: its IBAN (how statements name it), currency, the ledger account
  its balance lives in, and the matching tolerance (amount, date window). A gateway whose
  ``bank_account`` is that ledger account pays out into it.
- **Import is idempotent per file and per entry**: a file whose SHA-256 the company imported answers
  the first import's result and writes nothing; an entry whose key the bank account already has
  (``AcctSvcrRef``, else date|amount|references|rank) is skipped.
- **A bad file writes nothing**: the parser reads it whole first and refuses it naming the entry and
  its line; so is a statement of an unknown account (IBAN), of another currency than its account, or
  whose opening balance plus entries is not its closing balance.
- **Matching** (``matching``): credits to gateway payouts and store cash deposits, debits to vendor
  bills, by reference then by amount within the tolerance and date within the window. What is
  expected is loaded once per import, one query per kind.
- **Posting through the ledger's rules** (``bank-statement-match``, event ``BankEntryMatched``): bank
  against what the item cleared (the gateway's transit account for a payout whose settlement did not
  post it yet; the safe, ``cash_in_transit``, for a deposit; ``payables`` for a bill), any difference
  within the tolerance to the gateway's fee account (payouts) or the cash difference accounts
  (deposits). A payout the settlement already posted (its payout line) is only confirmed.
- **What stays unmatched is an exception**: one ``bank_unmatched`` per statement entry in the console
  (key ``bank:<entry id>``), resolved when the entry is matched or resolved by hand
  (``BankEntryMatched`` / ``BankEntryResolved`` events: the audit trail).
- **Reconciliation** (:func:`reconciliation`): the statement's closing balance against the ledger
  balance of the bank account at that date, the difference explained by the open items.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from retailcore.accounting import fx
from retailcore.accounting.services import account_for_role
from retailcore.accounting.tables import JournalEntry, JournalLine
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.banking import bank_csv, camt053, matching
from retailcore.banking import commands as c
from retailcore.banking.camt053 import ParsedEntry, ParsedStatement, StatementRefused
from retailcore.banking.tables import BankAccount, BankEntry, BankStatement, BankStatementFile, CashDeposit
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory.purchasing_tables import VendorBill
from retailcore.masterdata.tables import Account, Company, Store
from retailcore.monitoring import services as monitoring
from retailcore.pos.tables import PosSession
from retailcore.settlements.tables import Gateway, SettlementBatch, SettlementLine

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: the CLI's progress bar."""

POSTED_BILLS = ("matched", "posted")
"""Vendor bill states whose total is on payables (the others posted nothing)."""


# -- bank accounts --------------------------------------------------------------------------------------


def _ledger_account(session: Session, company: Company, ref: str | None, field: str) -> Account:
    if ref is None:
        return account_for_role(session, company.id, "bank")
    query = select(Account).where(Account.company_id == company.id)
    try:
        query = query.where(Account.id == uuid.UUID(ref))
    except ValueError:
        query = query.where(Account.code == ref)
    found = session.scalar(query)
    if found is None:
        raise InvalidReference(f"no account {ref}", problems=[FieldProblem(field, f"no account {ref}")])
    return found


def _code(session: Session, account_id: uuid.UUID) -> str:
    return session.scalar(select(Account.code).where(Account.id == account_id)) or ""


def account_view(session: Session, row: BankAccount) -> c.BankAccountView:
    return c.BankAccountView(
        id=row.id,
        company_id=row.company_id,
        code=row.code,
        name=row.name,
        iban=row.iban,
        currency=row.currency,
        account=_code(session, row.account_id),
        amount_tolerance=row.amount_tolerance,
        date_window_days=row.date_window_days,
        active=row.active,
    )


def normal_iban(value: str) -> str:
    return value.replace(" ", "").upper()


def find_account(session: Session, company: Company, ref: str) -> BankAccount | None:
    """The company's bank account of this IBAN or code."""
    return session.scalar(
        select(BankAccount).where(
            BankAccount.company_id == company.id,
            or_(BankAccount.iban == normal_iban(ref), BankAccount.code == ref.strip()),
        )
    )


def create_account(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateBankAccount
) -> c.BankAccountView:
    iban = normal_iban(body.iban)
    if find_account(session, company, iban) is not None or find_account(session, company, body.code):
        raise Conflict(f"bank account {body.code} exists", problems=[FieldProblem("iban", "already exists")])
    row = BankAccount(
        id=new_id(),
        company_id=company.id,
        code=body.code,
        name=body.name or body.code,
        iban=iban,
        currency=body.currency or company.currency,
        account_id=_ledger_account(session, company, body.account, "account").id,
        amount_tolerance=body.amount_tolerance,
        date_window_days=body.date_window_days,
    )
    session.add(row)
    session.flush()
    view = account_view(session, row)
    _record(session, ctx, company, "BankAccountCreated", row.id, bank_account=view.model_dump(mode="json"))
    return view


def update_account(
    session: Session, ctx: CommandContext, company: Company, ref: str, body: c.UpdateBankAccount
) -> c.BankAccountView:
    row = account_by_ref(session, company, ref)
    before = account_view(session, row).model_dump(mode="json")
    for name in ("name", "amount_tolerance", "date_window_days", "active"):
        value = getattr(body, name)
        if value is not None:
            setattr(row, name, value)
    if body.account is not None:
        row.account_id = _ledger_account(session, company, body.account, "account").id
    session.flush()
    view = account_view(session, row)
    after = view.model_dump(mode="json")
    if after != before:
        _record(session, ctx, company, "BankAccountChanged", row.id, before=before, after=after)
    return view


def account_by_ref(session: Session, company: Company, ref: str, field: str | None = None) -> BankAccount:
    found = find_account(session, company, ref)
    if found is None:
        if field:
            raise InvalidReference(
                f"no bank account {ref}", problems=[FieldProblem(field, "no such account")]
            )
        raise NotFound(f"no bank account {ref}")
    return found


def list_accounts(
    session: Session, company: Company, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.BankAccountView], uuid.UUID | None]:
    query = select(BankAccount).where(BankAccount.company_id == company.id)
    rows, next_cursor = keyset_page(session, query, BankAccount.id, limit, cursor)
    return [account_view(session, row) for row in rows], next_cursor


def _record(
    session: Session,
    ctx: CommandContext,
    company: Company,
    type_: str,
    aggregate_id: uuid.UUID,
    store: uuid.UUID | None = None,
    **payload: Any,
) -> Any:
    return record(
        session,
        ctx,
        type=type_,
        company_id=company.id,
        aggregate_type="bank",
        aggregate_id=aggregate_id,
        payload=payload,
        store_id=store,
    )


# -- cash deposits --------------------------------------------------------------------------------------


def deposit_view(session: Session, row: CashDeposit) -> c.CashDepositView:
    account = session.get(BankAccount, row.bank_account_id)
    return c.CashDepositView(
        id=row.id,
        store_id=row.store_id,
        bank_account=account.code if account else "",
        reference=row.reference,
        amount=row.amount,
        currency=row.currency,
        rate=row.rate,
        deposited_on=row.deposited_on,
        state=row.state,
        bank_entry_id=row.bank_entry_id,
    )


def record_cash_deposit(
    session: Session, ctx: CommandContext, company: Company, store: Store, body: c.RecordCashDeposit
) -> c.CashDepositView:
    """A store took cash from its safe to the bank: recorded (``CashDepositRecorded``), not posted; the
    bank statement's credit posts it (safe to bank). The same slip again is refused."""
    if body.bank_account:
        account = account_by_ref(session, company, body.bank_account, "bank_account")
    else:
        accounts = session.scalars(
            select(BankAccount).where(BankAccount.company_id == company.id, BankAccount.active.is_(True))
        ).all()
        if len(accounts) != 1:
            raise ValidationFailed(
                "name the bank account", problems=[FieldProblem("bank_account", f"{len(accounts)} accounts")]
            )
        account = accounts[0]
    exists = session.scalar(
        select(CashDeposit.id).where(
            CashDeposit.company_id == company.id,
            CashDeposit.store_id == store.id,
            CashDeposit.reference == body.reference,
        )
    )
    if exists is not None:
        raise Conflict(f"deposit {body.reference} exists", problems=[FieldProblem("reference", "exists")])
    currency, rate = account.currency, None
    if body.currency is not None and body.currency != account.currency:
        currency, rate = body.currency, _booked_rate(session, company, store, body.currency, body.rate)
    row = CashDeposit(
        id=new_id(),
        company_id=company.id,
        store_id=store.id,
        bank_account_id=account.id,
        reference=body.reference,
        amount=body.amount,
        currency=currency,
        rate=rate,
        deposited_on=body.deposited_on,
        state="pending",
        created_by=ctx.actor,
    )
    session.add(row)
    session.flush()
    view = deposit_view(session, row)
    _record(session, ctx, company, "CashDepositRecorded", row.id, store.id, **view.model_dump(mode="json"))
    return view


FOREIGN_WINDOW = Decimal("0.10")
"""Foreign cash is matched by its slip's reference only, and the bank's credit may differ from its
booked value by this share of it (the bank's rate against the till's)."""


def _booked_rate(
    session: Session, company: Company, store: Store, currency: str, rate: Decimal | None
) -> Decimal:
    """The rate foreign cash was booked at: the one given, else the store's last closed POS session's in
    ``currency`` (the session that handed the cash to the safe, decision 0062)."""
    if currency == company.currency:
        raise ValidationFailed(
            f"the bank account is not in {currency}: deposit the company's currency without a currency",
            problems=[FieldProblem("currency", f"{currency} is the company's currency")],
        )
    if rate is not None:
        return rate
    found = session.scalar(
        select(PosSession.rate)
        .where(
            PosSession.company_id == company.id,
            PosSession.store_id == store.id,
            PosSession.currency == currency,
            PosSession.rate.is_not(None),
            PosSession.state == "closed",
        )
        .order_by(PosSession.id.desc())
        .limit(1)
    )
    if found is None:
        raise ValidationFailed(
            f"no closed {currency} POS session at store {store.code}: give the rate the cash was booked at",
            problems=[FieldProblem("rate", f"no {currency} session to take it from")],
        )
    return found


def list_cash_deposits(
    session: Session, company: Company, state: str | None, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.CashDepositView], uuid.UUID | None]:
    query = select(CashDeposit).where(CashDeposit.company_id == company.id)
    if state:
        query = query.where(CashDeposit.state == state)
    rows, next_cursor = keyset_page(session, query, CashDeposit.id, limit, cursor)
    return [deposit_view(session, row) for row in rows], next_cursor


# -- import ---------------------------------------------------------------------------------------------


def _decoded(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise StatementRefused(f"line {line}", "not UTF-8 text", line) from None


def _keys(statement: ParsedStatement) -> list[str]:
    """Each entry's key: ``AcctSvcrRef``, else a composite with its rank among identical ones."""
    seen: dict[str, int] = {}
    keys = []
    for entry in statement.entries:
        if entry.reference:
            keys.append(f"ref:{entry.reference}"[:200])
            continue
        base = "|".join(
            [
                entry.booked_on.isoformat(),
                str(entry.amount),
                entry.end_to_end_id or "",
                hashlib.sha256(entry.remittance.encode()).hexdigest()[:16],
            ]
        )
        seen[base] = seen.get(base, 0) + 1
        keys.append(f"{base}|{seen[base]}")
    return keys


def import_statement(
    session: Session,
    ctx: CommandContext,
    company: Company,
    filename: str,
    content: bytes | str,
    fmt: str = "camt053",
    account: str | None = None,
    mapping: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> c.StatementResult:
    """Import one bank statement file (see the module's rules). Raises before any write on a bad file."""
    raw = content.encode() if isinstance(content, str) else content
    digest = hashlib.sha256(raw).hexdigest()
    done = session.scalar(
        select(BankStatementFile).where(
            BankStatementFile.company_id == company.id, BankStatementFile.content_sha256 == digest
        )
    )
    if done is not None:
        return c.StatementResult.model_validate({**done.result, "replayed": True})
    named = account_by_ref(session, company, account, "account") if account else None
    if fmt == "csv":
        if named is None:
            raise ValidationFailed(
                "a CSV statement names its bank account", problems=[FieldProblem("account", "required")]
            )
        statements = [bank_csv.parse(_decoded(raw), mapping, named.iban, named.currency)]
    else:
        statements = camt053.parse(raw)
    accounts: list[BankAccount] = []
    for index, statement in enumerate(statements, start=1):
        found = find_account(session, company, statement.account)
        if found is None:
            raise StatementRefused(f"statement {index}", f"unknown bank account {statement.account}")
        if named is not None and found.id != named.id:
            raise StatementRefused(
                f"statement {index}", f"the statement is of {statement.account}, not of {named.iban}"
            )
        if statement.currency and statement.currency != found.currency:
            raise StatementRefused(
                f"statement {index}", f"currency {statement.currency}, the account's is {found.currency}"
            )
        accounts.append(found)
    total = sum(len(s.entries) for s in statements)
    if progress:
        progress("parsed", total, total)
    file = BankStatementFile(
        id=new_id(),
        company_id=company.id,
        filename=filename[:255],
        format=fmt,
        content_sha256=digest,
        imported_by=ctx.actor,
    )
    session.add(file)
    session.flush()
    new_count, matched, unmatched, posted = 0, 0, 0, []
    for statement, bank in zip(statements, accounts, strict=True):
        new = _store(session, company, file, bank, statement)
        new_count += len(new)
        if progress:
            progress("stored", new_count, total)
        found = matching.match(
            [(row.id, entry) for row, entry in new],
            expected_items(session, company, bank),
            bank.amount_tolerance,
            bank.date_window_days,
        )
        for row, _ in new:
            item = found.get(row.id)
            if item is None:
                continue
            entry_id = _apply(session, ctx, company, bank, row, item, note="matched on import")
            matched += 1
            if entry_id is not None:
                posted.append(entry_id)
        open_rows = [row for row, _ in new if row.id not in found]
        unmatched += len(open_rows)
        _raise(session, ctx, company, bank, open_rows)
        if progress:
            progress("matched", new_count, total)
    result = c.StatementResult(
        file_id=file.id,
        filename=file.filename,
        replayed=False,
        statements=len(statements),
        entries_read=total,
        entries_new=new_count,
        matched=matched,
        unmatched=unmatched,
        entries=posted,
    )
    file.result = result.model_dump(mode="json")
    _record(session, ctx, company, "BankStatementImported", file.id, **file.result, sha256=digest)
    return result


def _store(
    session: Session, company: Company, file: BankStatementFile, bank: BankAccount, statement: ParsedStatement
) -> list[tuple[BankEntry, ParsedEntry]]:
    keys = _keys(statement)
    known: set[str] = set()
    for start in range(0, len(keys), 1000):
        known.update(
            session.scalars(
                select(BankEntry.entry_key).where(
                    BankEntry.company_id == company.id,
                    BankEntry.bank_account_id == bank.id,
                    BankEntry.entry_key.in_(keys[start : start + 1000]),
                )
            )
        )
    row = BankStatement(
        id=new_id(),
        company_id=company.id,
        file_id=file.id,
        bank_account_id=bank.id,
        reference=statement.reference[:200],
        currency=statement.currency or bank.currency,
        opening=statement.opening,
        closing=statement.closing,
        opening_on=statement.opening_on,
        closing_on=statement.closing_on,
        entries=len(statement.entries),
    )
    session.add(row)
    session.flush()
    new = []
    for key, entry in zip(keys, statement.entries, strict=True):
        if key in known:
            continue
        known.add(key)
        new.append(
            (
                BankEntry(
                    id=new_id(),
                    company_id=company.id,
                    bank_account_id=bank.id,
                    statement_id=row.id,
                    line=entry.line,
                    entry_key=key,
                    amount=entry.amount,
                    currency=entry.currency,
                    booked_on=entry.booked_on,
                    value_on=entry.value_on,
                    reference=entry.reference,
                    end_to_end_id=entry.end_to_end_id,
                    remittance=entry.remittance,
                    counterparty=entry.counterparty,
                    counterparty_iban=entry.counterparty_iban,
                    state="unmatched",
                    note="",
                ),
                entry,
            )
        )
    session.add_all([r for r, _ in new])
    session.flush()
    return new


# -- what the books expect on the bank ------------------------------------------------------------------


def _taken(kind: str) -> Any:
    return select(BankEntry.matched_id).where(BankEntry.match_kind == kind, BankEntry.matched_id.is_not(None))


def expected_items(session: Session, company: Company, bank: BankAccount) -> list[matching.Expected]:
    """Payouts, deposits and bill payments not yet matched, one query per kind."""
    items: list[matching.Expected] = []
    open_batches = (
        select(SettlementBatch.id)
        .join(Gateway, Gateway.id == SettlementBatch.gateway_id)
        .where(
            SettlementBatch.company_id == company.id,
            Gateway.bank_account_id == bank.account_id,
            SettlementBatch.currency == bank.currency,
            SettlementBatch.id.not_in(_taken("payout")),
        )
    )
    lines = SettlementLine
    nets = (
        select(
            lines.batch_id.label("batch_id"),
            func.sum(lines.net).label("net"),
            func.max(lines.occurred_on).label("last"),
        )
        .where(lines.batch_id.in_(open_batches), lines.kind != "payout")
        .group_by(lines.batch_id)
        .subquery()
    )
    payouts = session.execute(
        select(
            SettlementBatch.id,
            SettlementBatch.reference,
            SettlementBatch.payout,
            SettlementBatch.paid_on,
            nets.c.net,
            nets.c.last,
        ).join(nets, nets.c.batch_id == SettlementBatch.id)
    ).all()
    for batch_id, reference, payout, paid_on, net, last in payouts:
        amount = payout if payout is not None else net
        if amount and amount > 0:
            items.append(matching.Expected("payout", batch_id, amount, paid_on or last, (reference,)))
    deposits = session.execute(
        select(
            CashDeposit.id,
            CashDeposit.amount,
            CashDeposit.deposited_on,
            CashDeposit.reference,
            CashDeposit.rate,
        ).where(
            CashDeposit.company_id == company.id,
            CashDeposit.bank_account_id == bank.id,
            CashDeposit.state == "pending",
        )
    ).all()
    for i, amount, day, reference, rate in deposits:
        if rate is None:
            items.append(matching.Expected("cash_deposit", i, amount, day, (reference,)))
        else:  # foreign cash: its booked value, by reference only, within the conversion window
            booked = round_to_currency(amount * rate, bank.currency)
            items.append(
                matching.Expected(
                    "cash_deposit",
                    i,
                    booked,
                    day,
                    (reference,),
                    by_amount=False,
                    tolerance=booked * FOREIGN_WINDOW,
                )
            )
    bills = session.execute(
        select(
            VendorBill.id,
            VendorBill.total,
            VendorBill.bill_date,
            VendorBill.number,
            VendorBill.supplier_invoice_ref,
        ).where(
            VendorBill.company_id == company.id,
            VendorBill.state.in_(POSTED_BILLS),
            VendorBill.currency == bank.currency,
            VendorBill.id.not_in(_taken("supplier_payment")),
        )
    ).all()
    items += [
        matching.Expected("supplier_payment", i, -t, d, tuple(x for x in (n, ref) if x), by_amount=False)
        for i, t, d, n, ref in bills
    ]
    return items


def _item(session: Session, company: Company, bank: BankAccount, kind: str, target: uuid.UUID) -> Any:
    """The one expected item a person names for a manual match (it must still be open)."""
    for item in expected_items(session, company, bank):
        if item.kind == kind and item.id == target:
            return item
    raise InvalidReference(
        f"no open {kind} {target} for bank account {bank.code}",
        problems=[FieldProblem("target_id", f"no open {kind} for this bank account")],
    )


# -- matching and posting -------------------------------------------------------------------------------


def _apply(
    session: Session,
    ctx: CommandContext,
    company: Company,
    bank: BankAccount,
    row: BankEntry,
    item: matching.Expected,
    *,
    note: str,
) -> uuid.UUID | None:
    """Record the match on the entry and post what it clears; the journal entry's id, if any."""
    payload: dict[str, Any] | None = None
    store_id = None
    difference = item.amount - row.amount
    foreign_cash: CashDeposit | None = None
    if item.kind == "payout":
        batch = session.get(SettlementBatch, item.id)
        assert batch is not None
        gateway = session.get(Gateway, batch.gateway_id)
        assert gateway is not None
        batch.banked_by = row.id
        if batch.payout is None:  # still in transit: the bank's credit posts it
            payload = {
                "counter_account": _code(session, gateway.transit_account_id),
                "difference_account": _code(session, gateway.fee_account_id),
                "what": f"payout {gateway.code} {batch.reference}",
            }
        matched_ref = batch.reference
    elif item.kind == "cash_deposit":
        deposit = session.get(CashDeposit, item.id)
        assert deposit is not None
        deposit.state, deposit.bank_entry_id = "banked", row.id
        store_id = deposit.store_id
        if deposit.rate is not None:
            foreign_cash = deposit  # the bank's credit is all it is: the difference is an exchange one
            difference = Decimal(0)
        role = "cash_difference_loss" if difference > 0 else "cash_difference_gain"
        payload = {
            "counter_account": account_for_role(session, company.id, "cash_in_transit").code,
            "difference_account": account_for_role(session, company.id, role).code,
            "what": f"cash deposit {deposit.reference}",
        }
        matched_ref = deposit.reference
    else:
        bill = session.get(VendorBill, item.id)
        assert bill is not None
        payload = {
            "counter_account": account_for_role(session, company.id, "payables").code,
            "difference_account": account_for_role(session, company.id, "payables").code,
            "what": f"payment {bill.number} {bill.supplier}",
        }
        matched_ref = bill.number
    row.state, row.match_kind, row.matched_id, row.expected = "matched", item.kind, item.id, item.amount
    row.note, row.matched_at, row.matched_by = note, utcnow(), ctx.actor
    if foreign_cash is not None:
        # Safe to bank at what arrived, then the foreign cash out of the safe at its booked rate with
        # the realized difference (accounting.fx.realize, decision 0062).
        row.expected = row.amount
        row.entry_id = _post(session, ctx, company, bank, row, {**payload, "matched_ref": matched_ref},
                             row.amount, store_id)  # fmt: skip
        assert foreign_cash.rate is not None
        fx.realize(
            session,
            ctx,
            company,
            aggregate_type="bank",
            aggregate_id=foreign_cash.id,
            account_code=payload["counter_account"],
            currency=foreign_cash.currency,
            rate=foreign_cash.rate,
            foreign=foreign_cash.amount,
            settled=row.amount,
            date=row.booked_on,
            what=f"cash deposit {foreign_cash.reference} {foreign_cash.currency} at {foreign_cash.rate}",
        )
    elif payload is not None:
        row.entry_id = _post(session, ctx, company, bank, row, {**payload, "matched_ref": matched_ref},
                             item.amount, store_id)  # fmt: skip
    else:  # the settlement's payout line posted it: the bank only confirms it
        _record(
            session,
            ctx,
            company,
            "BankEntryConfirmed",
            row.id,
            kind=item.kind,
            matched_id=item.id,
            matched_ref=matched_ref,
            amount=row.amount,
            expected=item.amount,
            note=note,
        )
    monitoring.resolve_key(session, ctx, company.id, f"bank:{row.id}", note=f"matched: {note}")
    return row.entry_id


def _post(
    session: Session,
    ctx: CommandContext,
    company: Company,
    bank: BankAccount,
    row: BankEntry,
    accounts: dict[str, Any],
    expected: Decimal,
    store_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """``BankEntryMatched``, posted by rule ``bank-statement-match``: bank ``amount`` against the
    counter account's ``expected``, the difference to the difference account."""
    event = _record(
        session,
        ctx,
        company,
        "BankEntryMatched",
        row.id,
        store_id,
        kind=row.match_kind,
        matched_id=row.matched_id,
        bank_account=_code(session, bank.account_id),
        currency=row.currency,
        date=row.booked_on.isoformat(),
        reference=f"{bank.code} {row.reference or row.entry_key}"[:200],
        amount=row.amount,
        expected=expected,
        difference=expected - row.amount,
        note=row.note,
        store_id=store_id,
        **accounts,
    )
    session.flush()
    return session.scalar(select(JournalEntry.id).where(JournalEntry.event_id == event.id))


def _raise(
    session: Session, ctx: CommandContext, company: Company, bank: BankAccount, rows: Sequence[BankEntry]
) -> None:
    """One ``bank_unmatched`` exception per entry left unmatched."""
    for row in rows:
        direction = "credit" if row.amount > 0 else "debit"
        monitoring.record(
            session,
            ctx,
            company.id,
            type="bank_unmatched",
            key=f"bank:{row.id}",
            message=(
                f"{bank.code}: {direction} of {abs(row.amount)} {row.currency} on {row.booked_on}"
                f" matches nothing of ours ({row.remittance or row.counterparty or row.entry_key})"
            ),
            amount_at_risk=abs(row.amount),
            currency=row.currency,
            details={
                "bank_account": bank.code,
                "entry_id": row.id,
                "line": row.line,
                "booked_on": row.booked_on,
                "amount": row.amount,
                "reference": row.reference,
                "remittance": row.remittance,
                "counterparty": row.counterparty,
                "see": f"/bank-statements/entries?state=unmatched (match or resolve {row.id})",
            },
        )


def _entry_row(session: Session, company: Company, entry_id: uuid.UUID) -> tuple[BankEntry, BankAccount]:
    row = session.scalar(
        select(BankEntry)
        .where(BankEntry.id == entry_id, BankEntry.company_id == company.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no bank statement entry {entry_id}")
    if row.state != "unmatched":
        raise Conflict(f"the entry is {row.state} already", code="bank-entry-done")
    bank = session.get(BankAccount, row.bank_account_id)
    assert bank is not None
    return row, bank


def match_entry(
    session: Session, ctx: CommandContext, company: Company, entry_id: uuid.UUID, body: c.MatchEntry
) -> c.EntryView:
    """A person matches an unmatched entry: to an open payout, deposit or bill (whatever the amount:
    the difference is posted as on import), or to a ledger account (bank against it, full amount)."""
    row, bank = _entry_row(session, company, entry_id)
    if body.kind == "account":
        if body.account is None:
            raise ValidationFailed("name the account", problems=[FieldProblem("account", "required")])
        account = _ledger_account(session, company, body.account, "account")
        if account.id == bank.account_id:
            raise ValidationFailed("not the bank account itself", problems=[FieldProblem("account", "bank")])
        row.state, row.match_kind, row.expected = "matched", "account", row.amount
        row.note, row.matched_at, row.matched_by = body.note, utcnow(), ctx.actor
        accounts = {"counter_account": account.code, "difference_account": account.code, "what": body.note}
        row.entry_id = _post(session, ctx, company, bank, row, accounts, row.amount, None)
        session.flush()
        monitoring.resolve_key(session, ctx, company.id, f"bank:{row.id}", note=f"matched: {body.note}")
    else:
        if body.target_id is None:
            raise ValidationFailed("name the target", problems=[FieldProblem("target_id", "required")])
        item = _item(session, company, bank, body.kind, body.target_id)
        if (item.amount > 0) != (row.amount > 0):
            raise ValidationFailed(
                "money in matches a payout or deposit, money out a bill",
                problems=[FieldProblem("kind", "the entry's direction differs")],
            )
        _apply(session, ctx, company, bank, row, item, note=body.note)
    return entry_views(session, company, [row])[0]


def resolve_entry(
    session: Session, ctx: CommandContext, company: Company, entry_id: uuid.UUID, body: c.ResolveEntry
) -> c.EntryView:
    """A person closes an unmatched entry without posting (booked by hand elsewhere, a bank error
    reversed on the next statement): ``BankEntryResolved`` with the note; the console row is resolved."""
    row, _ = _entry_row(session, company, entry_id)
    row.state, row.note, row.matched_at, row.matched_by = "resolved", body.note, utcnow(), ctx.actor
    session.flush()
    _record(session, ctx, company, "BankEntryResolved", row.id, amount=row.amount, note=body.note)
    monitoring.resolve_key(session, ctx, company.id, f"bank:{row.id}", note=f"resolved: {body.note}")
    return entry_views(session, company, [row])[0]


# -- reading --------------------------------------------------------------------------------------------


def list_statements(
    session: Session, company: Company, account: str | None, limit: int, cursor: uuid.UUID | None
) -> tuple[list[c.StatementView], uuid.UUID | None]:
    query = select(BankStatement).where(BankStatement.company_id == company.id)
    if account:
        query = query.where(
            BankStatement.bank_account_id == account_by_ref(session, company, account, field="account").id
        )
    rows, next_cursor = keyset_page(session, query, BankStatement.id, limit, cursor)
    codes = dict(
        session.execute(
            select(BankAccount.id, BankAccount.code).where(BankAccount.company_id == company.id)
        ).all()
    )
    return [
        c.StatementView(
            id=r.id,
            file_id=r.file_id,
            bank_account=codes.get(r.bank_account_id, ""),
            reference=r.reference,
            currency=r.currency,
            opening=r.opening,
            closing=r.closing,
            opening_on=r.opening_on,
            closing_on=r.closing_on,
            entries=r.entries,
        )
        for r in rows
    ], next_cursor


def entry_views(session: Session, company: Company, rows: Sequence[BankEntry]) -> list[c.EntryView]:
    codes = dict(
        session.execute(
            select(BankAccount.id, BankAccount.code).where(BankAccount.company_id == company.id)
        ).all()
    )
    ids = {r.matched_id for r in rows if r.matched_id}
    refs: dict[uuid.UUID, str] = {}
    if ids:
        for model, column in (
            (SettlementBatch, SettlementBatch.reference),
            (CashDeposit, CashDeposit.reference),
            (VendorBill, VendorBill.number),
        ):
            refs.update(session.execute(select(model.id, column).where(model.id.in_(ids))).all())  # type: ignore[attr-defined]
    return [
        c.EntryView(
            id=r.id,
            bank_account=codes.get(r.bank_account_id, ""),
            statement_id=r.statement_id,
            line=r.line,
            entry_key=r.entry_key,
            amount=r.amount,
            currency=r.currency,
            booked_on=r.booked_on,
            value_on=r.value_on,
            reference=r.reference,
            end_to_end_id=r.end_to_end_id,
            remittance=r.remittance,
            counterparty=r.counterparty,
            state=r.state,
            match_kind=r.match_kind,
            matched_id=r.matched_id,
            matched_ref=refs.get(r.matched_id) if r.matched_id else None,
            expected=r.expected,
            entry_id=r.entry_id,
            note=r.note,
            matched_at=r.matched_at,
            matched_by=r.matched_by,
        )
        for r in rows
    ]


def list_entries(
    session: Session,
    company: Company,
    *,
    statement_id: uuid.UUID | None = None,
    account: str | None = None,
    state: str | None = None,
    matched: bool | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[c.EntryView], uuid.UUID | None]:
    query = select(BankEntry).where(BankEntry.company_id == company.id)
    if statement_id is not None:
        query = query.where(BankEntry.statement_id == statement_id)
    if account:
        query = query.where(
            BankEntry.bank_account_id == account_by_ref(session, company, account, field="account").id
        )
    if state:
        query = query.where(BankEntry.state == state)
    if matched is not None:
        query = query.where((BankEntry.state == "matched") if matched else (BankEntry.state != "matched"))
    rows, next_cursor = keyset_page(session, query, BankEntry.id, limit, cursor)
    return entry_views(session, company, rows), next_cursor


# -- reconciliation -------------------------------------------------------------------------------------


def ledger_balance(session: Session, account_id: uuid.UUID, as_of: dt.date | None) -> Decimal:
    query = (
        select(func.coalesce(func.sum(JournalLine.debit), 0) - func.coalesce(func.sum(JournalLine.credit), 0))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.account_id == account_id, JournalEntry.state == "posted")
    )
    if as_of is not None:
        query = query.where(JournalEntry.date <= as_of)
    return Decimal(session.scalar(query) or 0)


def reconciliation(
    session: Session, company: Company, bank: BankAccount, as_of: dt.date | None = None
) -> c.Reconciliation:
    """The statement's closing balance (the latest statement closing on or before ``as_of``) against
    the ledger balance of the bank account at that date. Open items explain the difference:
    ``in_bank_not_in_books``, entries booked by the bank and matched or resolved by nobody yet;
    ``in_books_not_in_bank``, payouts a settlement file posted to this bank (its payout line) that no
    statement entry confirmed yet. ``reconciled``: the difference is zero and nothing is open — what the
    period close's "bank accounts are reconciled to the statement" reads."""
    query = select(BankStatement).where(
        BankStatement.bank_account_id == bank.id, BankStatement.closing.is_not(None)
    )
    if as_of is not None:
        query = query.where(BankStatement.closing_on <= as_of)
    latest = session.scalars(query.order_by(BankStatement.closing_on.desc(), BankStatement.id.desc())).first()
    day = as_of or (latest.closing_on if latest else None)
    statement = latest.closing if latest else None
    books = ledger_balance(session, bank.account_id, day)
    items: list[c.ReconciliationItem] = []
    open_entries = select(BankEntry).where(
        BankEntry.bank_account_id == bank.id, BankEntry.state == "unmatched"
    )
    if day is not None:
        open_entries = open_entries.where(BankEntry.booked_on <= day)
    for e in session.scalars(open_entries.order_by(BankEntry.booked_on, BankEntry.line)):
        what = e.remittance or e.counterparty or e.entry_key
        items.append(c.ReconciliationItem(kind="in_bank_not_in_books", what=what[:200], date=e.booked_on,
                                          amount=e.amount, id=e.id))  # fmt: skip
    posted = (
        select(SettlementBatch)
        .join(Gateway, Gateway.id == SettlementBatch.gateway_id)
        .where(
            SettlementBatch.company_id == company.id,
            Gateway.bank_account_id == bank.account_id,
            SettlementBatch.payout.is_not(None),
            SettlementBatch.id.not_in(_taken("payout")),
        )
    )
    if day is not None:
        posted = posted.where(SettlementBatch.paid_on <= day)
    first = session.scalar(
        select(func.min(func.coalesce(BankStatement.opening_on, BankStatement.closing_on))).where(
            BankStatement.bank_account_id == bank.id
        )
    )
    if first is not None:  # payouts from before the first statement are history, not open items
        posted = posted.where(SettlementBatch.paid_on >= first - dt.timedelta(days=bank.date_window_days))
    for b in session.scalars(posted.order_by(SettlementBatch.paid_on)):
        items.append(c.ReconciliationItem(kind="in_books_not_in_bank", what=f"payout {b.reference}",
                                          date=b.paid_on, amount=b.payout, id=b.id))  # fmt: skip
    explained = sum((i.amount if i.kind == "in_bank_not_in_books" else -i.amount for i in items), Decimal(0))
    difference = (statement - books) if statement is not None else -books
    return c.Reconciliation(
        bank_account=bank.code,
        as_of=day,
        statement_balance=statement,
        ledger_balance=books,
        difference=difference,
        explained=explained,
        unexplained=difference - explained,
        reconciled=statement is not None and difference == 0 and not items,
        items=items,
    )


def reconciled(session: Session, company: Company, as_of: dt.date | None = None) -> dict[str, Any]:
    """For the period close: every active bank account reconciled to its statement at ``as_of``, with
    the figures of each."""
    accounts = session.scalars(
        select(BankAccount)
        .where(BankAccount.company_id == company.id, BankAccount.active.is_(True))
        .order_by(BankAccount.code)
    ).all()
    figures = [reconciliation(session, company, bank, as_of) for bank in accounts]
    return {"reconciled": all(f.reconciled for f in figures), "accounts": figures}
