"""Company groups and the intercompany flows (decision 0040, docs/multi-company.md).

Rules of the flows:

* A flow is between two companies of one group: the *seller* A, whose goods they are, and the *buyer*
  B. The transfer price is stated per unit in A's currency; B's side converts it at B's own rate for
  A's currency on the flow's date (``exchange_rates`` of B; none: refused, nothing written).
* Each company's side is one event of its own, posted by the rulebook (``INTERCOMPANY_RULES``) to
  accounts kept per counterparty (``intercompany_accounts``: ``1230-B``, ``2020-A``..., made on first
  use under the account holding the role), so that the balance with each counterparty is an account
  balance that period balances keep.
* A's side, both flows: the goods leave A's location at cost (``move_stock``, a delivery:
  COGS against stock) and A is owed the transfer price (intercompany receivable from B against
  intercompany revenue), event ``IntercompanyGoodsShipped``.
* B's side of a sale: B's customer owes the sale (receivable against revenue and tax, B's currency,
  ``IntercompanyResaleRecorded``) and B owes A the transfer price (intercompany cost against the
  intercompany payable to A, ``IntercompanyPurchaseRecorded``).
* B's side of a transfer: the goods enter B's location at the converted transfer price (``move_stock``,
  a receipt from the supplier place, event ``IntercompanyGoodsArrived`` for availability) against the
  payable to A (``IntercompanyGoodsReceived``).
* B's debt is stated in A's currency (lines in A's currency at B's rate): a foreign-currency payable
  that B's period-end revaluation restates, so that it keeps matching A's receivable.
* A flow is idempotent by ``(seller, reference)``: a replay with the same content answers the first
  document and posts nothing; other content under the same reference is refused (409).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting.services import account_for_role, rate_on
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.intercompany import commands as c
from retailcore.intercompany import tables as g
from retailcore.inventory.services import STOCK_ROLE, MoveLine, move_stock
from retailcore.masterdata import commands as mc
from retailcore.masterdata.services import ACCOUNT, Ref, company_in_scope, create
from retailcore.masterdata.tables import Account, Company, Location, Product

ZERO = Decimal(0)


# -- groups ----------------------------------------------------------------------------------------


def group_by_ref(
    session: Session, ref: Ref | None, *, field: str = "group", principal: Principal | None = None
) -> g.CompanyGroup:
    """A group named by code or id; unknown (or, for ``principal``, one of whose companies it cannot
    see): 422 naming ``field``."""
    found = None
    if ref is not None:
        try:
            found = session.get(g.CompanyGroup, uuid.UUID(str(ref)))
        except ValueError:
            found = None
        found = found or session.scalar(select(g.CompanyGroup).where(g.CompanyGroup.code == str(ref).strip()))
    if found is not None and principal is not None:
        member_ids = session.scalars(
            select(g.CompanyGroupMember.company_id).where(g.CompanyGroupMember.group_id == found.id)
        )
        if not all(principal.sees_company(company_id) for company_id in member_ids):
            found = None
    if found is None:
        raise InvalidReference(f"no company group '{ref}'", problems=[FieldProblem(field, "no such group")])
    return found


def members(session: Session, group: g.CompanyGroup) -> list[Company]:
    """The group's companies, the parent first, then by code."""
    rows = list(
        session.scalars(
            select(Company)
            .join(g.CompanyGroupMember, g.CompanyGroupMember.company_id == Company.id)
            .where(g.CompanyGroupMember.group_id == group.id)
            .order_by(Company.code)
        )
    )
    return sorted(rows, key=lambda company: company.id != group.parent_company_id)


def view(session: Session, group: g.CompanyGroup) -> c.GroupView:
    return c.GroupView(
        id=group.id,
        code=group.code,
        name=group.name,
        currency=group.currency,
        parent_company_id=group.parent_company_id,
        members=[company.id for company in members(session, group)],
    )


def group_of(session: Session, company_id: uuid.UUID) -> g.CompanyGroup | None:
    return session.scalar(
        select(g.CompanyGroup)
        .join(g.CompanyGroupMember, g.CompanyGroupMember.group_id == g.CompanyGroup.id)
        .where(g.CompanyGroupMember.company_id == company_id)
    )


def _join(session: Session, ctx: CommandContext, group: g.CompanyGroup, company: Company, field: str) -> None:
    current = group_of(session, company.id)
    if current is not None and current.id == group.id:
        return
    if current is not None:
        raise Conflict(
            f"company {company.code} is already in group {current.code}",
            code="company-in-another-group",
            problems=[FieldProblem(field, f"already in group {current.code}")],
        )
    session.add(g.CompanyGroupMember(group_id=group.id, company_id=company.id))
    session.flush()
    record(
        session,
        ctx,
        type="CompanyJoinedGroup",
        company_id=company.id,
        aggregate_type="CompanyGroup",
        aggregate_id=group.id,
        payload={"group": group.code, "company": company.code},
    )


def create_group(session: Session, ctx: CommandContext, request: c.CreateGroup) -> g.CompanyGroup:
    """A group with its parent as first member; the group currency is the parent's currency."""
    parent = company_in_scope(session, ctx.principal, request.parent_company_id, field="parent_company_id")
    if session.scalar(select(g.CompanyGroup.id).where(g.CompanyGroup.code == request.code)) is not None:
        raise Conflict(
            f"a company group with code '{request.code}' already exists",
            code="duplicate-code",
            problems=[FieldProblem("code", "already exists")],
        )
    group = g.CompanyGroup(
        code=request.code, name=request.name, currency=parent.currency, parent_company_id=parent.id
    )
    session.add(group)
    session.flush()
    record(
        session,
        ctx,
        type="CompanyGroupCreated",
        company_id=parent.id,
        aggregate_type="CompanyGroup",
        aggregate_id=group.id,
        payload={"code": group.code, "name": group.name, "currency": group.currency},
    )
    _join(session, ctx, group, parent, "parent_company_id")
    return group


def add_member(session: Session, ctx: CommandContext, group_ref: Ref, request: c.AddMember) -> g.CompanyGroup:
    group = group_by_ref(session, group_ref, principal=ctx.principal)
    company = company_in_scope(session, ctx.principal, request.company_id)
    _join(session, ctx, group, company, "company_id")
    return group


def list_groups(
    session: Session, principal: Principal, after: uuid.UUID | None, limit: int
) -> tuple[list[g.CompanyGroup], uuid.UUID | None]:
    """Groups by id; a company's token sees only its own company's group."""
    query = select(g.CompanyGroup).order_by(g.CompanyGroup.id).limit(limit + 1)
    if principal.company_id is not None:
        query = query.join(g.CompanyGroupMember, g.CompanyGroupMember.group_id == g.CompanyGroup.id).where(
            g.CompanyGroupMember.company_id == principal.company_id
        )
    if after is not None:
        query = query.where(g.CompanyGroup.id > after)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


# -- accounts per counterparty ---------------------------------------------------------------------


def counterparty_account(
    session: Session, ctx: CommandContext, company: Company, counterparty: Company, role: str
) -> Account:
    """The account of ``company`` holding ``role`` with ``counterparty``: made on first use as
    ``<code of the role's account>-<counterparty code>`` (``1230-UK01``)."""
    found = session.scalar(
        select(Account)
        .join(g.IntercompanyAccount, g.IntercompanyAccount.account_id == Account.id)
        .where(
            g.IntercompanyAccount.company_id == company.id,
            g.IntercompanyAccount.counterparty_id == counterparty.id,
            g.IntercompanyAccount.role == role,
        )
    )
    if found is not None:
        return found
    base = account_for_role(session, company.id, role)
    account = create(
        session,
        ctx,
        ACCOUNT,
        mc.CreateAccount(
            company_id=company.id,
            code=f"{base.code}-{counterparty.code}"[:32],
            name=f"{base.name} - {counterparty.code}"[:200],
            type=base.type,
            role=role,
            reconcilable=base.reconcilable,
        ),
    )
    session.flush()
    session.add(
        g.IntercompanyAccount(
            company_id=company.id, counterparty_id=counterparty.id, role=role, account_id=account.id
        )
    )
    session.flush()
    return account


def counterparty_accounts(session: Session, company_ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    """(company id, counterparty id, role, account id) of the companies' accounts per counterparty."""
    return [
        tuple(row)
        for row in session.execute(
            select(
                g.IntercompanyAccount.company_id,
                g.IntercompanyAccount.counterparty_id,
                g.IntercompanyAccount.role,
                g.IntercompanyAccount.account_id,
            ).where(g.IntercompanyAccount.company_id.in_(company_ids))
        )
    ]


# -- flows -----------------------------------------------------------------------------------------


def _fingerprint(request: c.IntercompanyFlow, kind: str) -> str:
    body = {"kind": kind, **request.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def document_view(document: g.IntercompanyDocument, *, replayed: bool = False) -> c.DocumentView:
    return c.DocumentView(
        id=document.id,
        group_id=document.group_id,
        kind=document.kind,
        reference=document.reference,
        date=document.date,
        seller_company_id=document.seller_company_id,
        buyer_company_id=document.buyer_company_id,
        currency=document.currency,
        amount=document.amount,
        cost=document.cost,
        buyer_currency=document.buyer_currency,
        buyer_amount=document.buyer_amount,
        rate=document.rate,
        seller_event_id=document.seller_event_id,
        buyer_event_id=document.buyer_event_id,
        replayed=replayed,
    )


def get_document(session: Session, document_id: uuid.UUID) -> g.IntercompanyDocument:
    found = session.get(g.IntercompanyDocument, document_id)
    if found is None:
        raise NotFound(f"no intercompany document {document_id}")
    return found


def _location(session: Session, company: Company, ref: str, field: str, kinds: tuple[str, ...]) -> Location:
    query = select(Location).where(Location.company_id == company.id)
    try:
        found = session.scalar(query.where(Location.id == uuid.UUID(ref)))
    except ValueError:
        found = session.scalar(query.where(Location.code == ref))
    if found is None:
        raise InvalidReference(
            f"no location '{ref}' in company {company.code}",
            problems=[FieldProblem(field, f"no such location in {company.code}")],
        )
    if found.kind not in kinds:
        raise ValidationFailed(
            f"location {found.code} is a {found.kind} location",
            problems=[FieldProblem(field, "not a stock place")],
        )
    return found


def _virtual(session: Session, company: Company, kind: str) -> Location:
    found = session.scalar(
        select(Location)
        .where(Location.company_id == company.id, Location.kind == kind)
        .order_by(Location.code)
    )
    if found is None:  # every company is made with its virtual locations
        raise ValidationFailed(f"company {company.code} has no {kind} location")
    return found


def _products(session: Session, company: Company, lines: list[c.FlowLine]) -> list[Product]:
    skus = {line.sku for line in lines}
    by_sku = {
        row.sku: row
        for row in session.scalars(
            select(Product).where(Product.company_id == company.id, Product.sku.in_(skus))
        )
    }
    for index, line in enumerate(lines):
        if line.sku not in by_sku:
            raise InvalidReference(
                f"no product '{line.sku}' in company {company.code}",
                problems=[FieldProblem(f"lines.{index}.sku", f"no such product in {company.code}")],
            )
    return [by_sku[line.sku] for line in lines]


def _parties(
    session: Session, ctx: CommandContext, request: c.IntercompanyFlow
) -> tuple[Company, Company, g.CompanyGroup]:
    seller = company_in_scope(session, ctx.principal, request.seller_company_id, field="seller_company_id")
    buyer = company_in_scope(session, ctx.principal, request.buyer_company_id, field="buyer_company_id")
    if seller.id == buyer.id:
        raise ValidationFailed(
            "an intercompany flow is between two companies",
            problems=[FieldProblem("buyer_company_id", "the same company as the seller")],
        )
    group = group_of(session, seller.id)
    if group is None:
        raise ValidationFailed(
            f"company {seller.code} is in no company group",
            code="company-not-in-group",
            problems=[FieldProblem("seller_company_id", "in no company group")],
        )
    buyer_group = group_of(session, buyer.id)
    if buyer_group is None or buyer_group.id != group.id:
        raise ValidationFailed(
            f"company {buyer.code} is not in group {group.code}",
            code="company-not-in-group",
            problems=[FieldProblem("buyer_company_id", f"not in group {group.code}")],
        )
    return seller, buyer, group


def _buyer_rate(session: Session, buyer: Company, currency: str, date: dt.date) -> Decimal:
    try:
        return rate_on(session, buyer, currency, date)
    except ValidationFailed:
        raise ValidationFailed(
            f"company {buyer.code} has no {currency} exchange rate on or before {date.isoformat()}:"
            " set one (POST /exchange-rates) before posting the flow",
            code="no-exchange-rate",
            problems=[FieldProblem("date", f"no {currency} rate of {buyer.code} on or before this day")],
        ) from None


def record_flow(
    session: Session, ctx: CommandContext, request: c.IntercompanySale | c.IntercompanyTransfer
) -> c.DocumentView:
    """Post both sides of an intercompany sale or transfer (see the module docstring); a replay of the
    same reference answers the first document."""
    kind = "sale" if isinstance(request, c.IntercompanySale) else "transfer"
    seller, buyer, group = _parties(session, ctx, request)
    fingerprint = _fingerprint(request, kind)
    existing = session.scalar(
        select(g.IntercompanyDocument).where(
            g.IntercompanyDocument.seller_company_id == seller.id,
            g.IntercompanyDocument.reference == request.reference,
        )
    )
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise Conflict(
                f"intercompany document '{request.reference}' of {seller.code} exists with other content",
                code="duplicate-reference",
                problems=[FieldProblem("reference", "already used with other content")],
            )
        return document_view(existing, replayed=True)
    source = _location(session, seller, request.from_location, "from_location", ("stock", "backroom"))
    seller_products = _products(session, seller, request.lines)
    rate = _buyer_rate(session, buyer, seller.currency, request.date)
    prices = [round_to_currency(line.quantity * line.unit_price, seller.currency) for line in request.lines]
    amount = sum(prices, ZERO)
    destination = None
    buyer_products: list[Product] = []
    if isinstance(request, c.IntercompanyTransfer):
        destination = _location(session, buyer, request.to_location, "to_location", ("stock", "backroom"))
        buyer_products = _products(session, buyer, request.lines)
        for index, product in enumerate(buyer_products):
            if product.cost_method == "standard":
                raise ValidationFailed(
                    f"{product.sku} is on standard cost in {buyer.code}: goods from a group company enter "
                    "at their transfer price",
                    problems=[FieldProblem(f"lines.{index}.sku", f"on standard cost in {buyer.code}")],
                )

    document_id = new_id()
    aggregate = ("IntercompanyDocument", document_id)
    shipped = move_stock(
        session,
        ctx,
        seller,
        kind="delivery",
        lines=[
            MoveLine(product.id, line.quantity, source.id, _virtual(session, seller, "customer").id)
            for product, line in zip(seller_products, request.lines, strict=True)
        ],
        date=request.date,
        reference=request.reference,
        details={
            "flow": kind,
            "currency": seller.currency,
            "amount": amount,
            "counterparty": buyer.code,
            "receivable_account": counterparty_account(
                session, ctx, seller, buyer, "intercompany_receivable"
            ).code,
            "revenue_account": counterparty_account(session, ctx, seller, buyer, "intercompany_revenue").code,
        },
        event_type="IntercompanyGoodsShipped",
        aggregate=aggregate,
    )
    # B's side of the debt is stated in A's currency (a foreign-currency payable B revalues like any
    # other), converted by the ledger at B's rate of the date: the rate read above.
    payable = counterparty_account(session, ctx, buyer, seller, "intercompany_payable").code
    owed = {
        "flow": kind,
        "currency": seller.currency,
        "amount": amount,
        "counterparty": seller.code,
        "payable_account": payable,
    }
    if destination is not None:
        values = [round_to_currency(price * rate, buyer.currency) for price in prices]
        received = move_stock(
            session,
            ctx,
            buyer,
            kind="receipt",
            lines=[
                MoveLine(
                    product.id,
                    line.quantity,
                    _virtual(session, buyer, "supplier").id,
                    destination.id,
                    unit_cost=value / line.quantity,
                )
                for product, line, value in zip(buyer_products, request.lines, values, strict=True)
            ],
            date=request.date,
            reference=request.reference,
            details={"flow": kind, "counterparty": seller.code},
            event_type="IntercompanyGoodsArrived",
            aggregate=aggregate,
        )
        # The move's event changes availability only; this one posts. Its items carry the transfer
        # price in A's currency: at B's rate each converts to the value the move gave the goods (the
        # same rounding), so B's stock agrees with its ledger.
        stock_role = STOCK_ROLE[destination.kind]
        buyer_event = record(
            session,
            ctx,
            type="IntercompanyGoodsReceived",
            company_id=buyer.id,
            aggregate_type="IntercompanyDocument",
            aggregate_id=document_id,
            payload={
                "date": request.date,
                "reference": request.reference,
                **owed,
                "move_event_id": str(received.event.id),
                "items": [
                    {
                        "cost": price,
                        "product_category": product.category,
                        "sku": product.sku,
                        "quantity": line.quantity,
                        "store_id": destination.store_id,
                        "location_id": destination.id,
                        "stock_role": stock_role,
                    }
                    for product, line, price in zip(buyer_products, request.lines, prices, strict=True)
                ],
            },
            store_id=destination.store_id,
        )
        buyer_amount = sum(values, ZERO)
    else:
        assert isinstance(request, c.IntercompanySale)
        net = round_to_currency(request.customer_net, buyer.currency)
        tax = round_to_currency(request.customer_tax, buyer.currency)
        record(
            session,
            ctx,
            type="IntercompanyResaleRecorded",
            company_id=buyer.id,
            aggregate_type="IntercompanyDocument",
            aggregate_id=document_id,
            payload={
                "date": request.date,
                "reference": request.reference,
                "currency": buyer.currency,
                "gross": net + tax,
                "net": net,
                "tax": tax,
            },
        )
        buyer_event = record(
            session,
            ctx,
            type="IntercompanyPurchaseRecorded",
            company_id=buyer.id,
            aggregate_type="IntercompanyDocument",
            aggregate_id=document_id,
            payload={
                "date": request.date,
                "reference": request.reference,
                **owed,
                "cost_account": counterparty_account(session, ctx, buyer, seller, "intercompany_cost").code,
            },
        )
        buyer_amount = round_to_currency(amount * rate, buyer.currency)
    document = g.IntercompanyDocument(
        id=document_id,
        group_id=group.id,
        kind=kind,
        reference=request.reference,
        date=request.date,
        seller_company_id=seller.id,
        buyer_company_id=buyer.id,
        currency=seller.currency,
        amount=amount,
        cost=sum(shipped.values, ZERO),
        buyer_currency=buyer.currency,
        buyer_amount=buyer_amount,
        rate=rate,
        fingerprint=fingerprint,
        seller_event_id=shipped.event.id,
        buyer_event_id=buyer_event.id,
        created_by=ctx.actor,
    )
    session.add(document)
    session.flush()
    return document_view(document)


def companies_by_id(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Company]:
    return {row.id: row for row in session.scalars(select(Company).where(Company.id.in_(ids)))}


def counterparty_account_of(
    session: Session, company_id: uuid.UUID, counterparty_id: uuid.UUID, role: str
) -> Account | None:
    """The account kept for ``role`` with the counterparty, if one was made (reports only read)."""
    return session.scalar(
        select(Account)
        .join(g.IntercompanyAccount, g.IntercompanyAccount.account_id == Account.id)
        .where(
            g.IntercompanyAccount.company_id == company_id,
            g.IntercompanyAccount.counterparty_id == counterparty_id,
            g.IntercompanyAccount.role == role,
        )
    )
