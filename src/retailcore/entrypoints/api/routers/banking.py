"""Bank accounts, bank statements, their entries and cash deposits over HTTP (issue 17, decision 0037).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime. A
statement file is posted as JSON (its text in ``content``); importing the same file again answers the
first import (``replayed: true``) and writes nothing; a bad file is a 422 naming its entry and line.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.banking import commands as c
from retailcore.banking import services as svc
from retailcore.core.inputs import Day, Text, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope, store_in_scope

router = APIRouter(route_class=DecimalRoute, tags=["bank statements"])

AccountPath = Annotated[Text, Path(max_length=64, description="The bank account's code or IBAN.")]
CURSOR = "The `next_cursor` of the previous page."


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class AccountQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class AccountList(BaseModel):
    items: list[c.BankAccountView]
    next_cursor: uuid.UUID | None


class ReconciliationQuery(CompanyQuery):
    as_of: Day | None = Field(None, description="Default: the latest statement's closing date.")


class StatementQuery(CompanyQuery):
    account: text(max_length=64) | None = Field(None, description="A bank account's code or IBAN.")  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class StatementPage(BaseModel):
    items: list[c.StatementView]
    next_cursor: uuid.UUID | None


class EntryQuery(StatementQuery):
    statement_id: uuid.UUID | None = None
    state: Literal["unmatched", "matched", "resolved"] | None = None


class EntryPage(BaseModel):
    items: list[c.EntryView]
    next_cursor: uuid.UUID | None


class DepositQuery(CompanyQuery):
    state: Literal["pending", "banked"] | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class DepositList(BaseModel):
    items: list[c.CashDepositView]
    next_cursor: uuid.UUID | None


@router.get("/bank-accounts", response_model=AccountList, summary="List bank accounts")
def list_accounts(
    params: Annotated[AccountQuery, Query()], api: Annotated[Api, Depends(reader("banking:read"))]
) -> Any:
    def work(session: Session) -> AccountList:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_accounts(session, company, params.limit, params.cursor)
        return AccountList(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.post(
    "/bank-accounts",
    status_code=201,
    response_model=c.BankAccountView,
    summary="Create a bank account",
    description=(
        "IBAN, currency, ledger account (default role bank), matching tolerance. `BankAccountCreated`."
    ),
    responses={409: {"description": "The IBAN or code exists"}, 422: {"description": "Invalid input"}},
)
async def create_account(
    body: c.CreateBankAccount, api: Annotated[Api, Depends(writer("banking:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.BankAccountView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.create_account(session, ctx, company, body)

    return await api.command(work, status_code=201)


@router.patch(
    "/bank-accounts/{account}",
    response_model=c.BankAccountView,
    summary="Change a bank account",
    description="Fields left out stay as they are. `BankAccountChanged` with before and after.",
    responses={404: {"description": "No such bank account"}},
)
async def update_account(
    account: AccountPath, body: c.UpdateBankAccount, api: Annotated[Api, Depends(writer("banking:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.BankAccountView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.update_account(session, ctx, company, account, body)

    return await api.command(work)


@router.get(
    "/bank-accounts/{account}/reconciliation",
    response_model=c.Reconciliation,
    summary="Reconcile a bank account to its statement",
    description=(
        "The latest statement's closing balance (on or before `as_of`) against the ledger balance of the"
        " bank account at that date, and the open items explaining the difference."
    ),
    responses={404: {"description": "No such bank account"}},
)
def reconciliation(
    account: AccountPath,
    params: Annotated[ReconciliationQuery, Query()],
    api: Annotated[Api, Depends(reader("banking:read"))],
) -> Any:
    def work(session: Session) -> c.Reconciliation:
        company = company_in_scope(session, api.principal, params.company_id)
        bank = svc.account_by_ref(session, company, account)
        return svc.reconciliation(session, company, bank, params.as_of)

    return api.read(work)


@router.post(
    "/bank-statements",
    status_code=201,
    response_model=c.StatementResult,
    summary="Import a bank statement",
    description=(
        "An ISO 20022 CAMT.053 document, or a CSV with a `mapping` and the `account`, as text in"
        " `content`. Idempotent per file (`replayed: true`) and per entry. Entries are matched to"
        " gateway payouts, cash deposits and vendor bills and posted; what stays unmatched is a"
        " `bank_unmatched` exception. A bad file is refused (`bank-statement-refused`, naming the entry"
        " and line) and nothing is written."
    ),
    responses={422: {"description": "A bad file, an unknown bank account or currency"}},
)
async def import_statement(
    body: c.ImportStatement, api: Annotated[Api, Depends(writer("bank_statements:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.StatementResult:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.import_statement(
            session, ctx, company, body.filename, body.content, body.format, body.account, body.mapping
        )

    return await api.command(work, status_code=201)


@router.get("/bank-statements", response_model=StatementPage, summary="List bank statements")
def list_statements(
    params: Annotated[StatementQuery, Query()], api: Annotated[Api, Depends(reader("banking:read"))]
) -> Any:
    def work(session: Session) -> StatementPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_statements(
            session, company, params.account, params.limit, params.cursor
        )
        return StatementPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/bank-statements/entries", response_model=EntryPage, summary="List bank statement entries")
def list_entries(
    params: Annotated[EntryQuery, Query()], api: Annotated[Api, Depends(reader("banking:read"))]
) -> Any:
    def work(session: Session) -> EntryPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_entries(
            session,
            company,
            statement_id=params.statement_id,
            account=params.account,
            state=params.state,
            limit=params.limit,
            cursor=params.cursor,
        )
        return EntryPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/bank-statements/matches",
    response_model=EntryPage,
    summary="List matched bank statement entries",
    description=(
        "Entries matched to a payout, a cash deposit, a vendor bill or an account, with the entry posted."
    ),
)
def list_matches(
    params: Annotated[StatementQuery, Query()], api: Annotated[Api, Depends(reader("banking:read"))]
) -> Any:
    def work(session: Session) -> EntryPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_entries(
            session, company, account=params.account, matched=True, limit=params.limit, cursor=params.cursor
        )
        return EntryPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.post(
    "/bank-statements/entries/{entry_id}/match",
    response_model=c.EntryView,
    summary="Match a bank statement entry by hand",
    description=(
        "To an open payout batch, cash deposit or vendor bill (`target_id`), or to a ledger `account`;"
        " posts as an import would (`BankEntryMatched`) and resolves the entry's exception."
    ),
    responses={404: {"description": "No such entry"}, 409: {"description": "Already matched or resolved"}},
)
async def match_entry(
    entry_id: uuid.UUID, body: c.MatchEntry, api: Annotated[Api, Depends(writer("bank_entries:resolve"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.EntryView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.match_entry(session, ctx, company, entry_id, body)

    return await api.command(work)


@router.post(
    "/bank-statements/entries/{entry_id}/resolve",
    response_model=c.EntryView,
    summary="Resolve a bank statement entry without posting",
    description="Closes it with a note (`BankEntryResolved`) and resolves its exception.",
    responses={404: {"description": "No such entry"}, 409: {"description": "Already matched or resolved"}},
)
async def resolve_entry(
    entry_id: uuid.UUID, body: c.ResolveEntry, api: Annotated[Api, Depends(writer("bank_entries:resolve"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.EntryView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.resolve_entry(session, ctx, company, entry_id, body)

    return await api.command(work)


@router.post(
    "/cash-deposits",
    status_code=201,
    response_model=c.CashDepositView,
    summary="Record a store's cash deposit",
    description=(
        "Cash taken from the store's safe to the bank (`CashDepositRecorded`, nothing posted): the bank"
        " statement's credit is matched to it and posts safe to bank."
    ),
    responses={409: {"description": "The slip exists"}, 422: {"description": "Invalid input"}},
)
async def record_deposit(
    body: c.RecordCashDeposit, api: Annotated[Api, Depends(writer("cash_deposits:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CashDepositView:
        company = company_in_scope(session, api.principal, body.company_id)
        store = store_in_scope(session, api.principal, body.store_id, company=company)
        assert store is not None
        return svc.record_cash_deposit(session, ctx, company, store, body)

    return await api.command(work, status_code=201)


@router.get("/cash-deposits", response_model=DepositList, summary="List cash deposits")
def list_deposits(
    params: Annotated[DepositQuery, Query()], api: Annotated[Api, Depends(reader("banking:read"))]
) -> Any:
    def work(session: Session) -> DepositList:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_cash_deposits(
            session, company, params.state, params.limit, params.cursor
        )
        return DepositList(items=items, next_cursor=next_cursor)

    return api.read(work)
