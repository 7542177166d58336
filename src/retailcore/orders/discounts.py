"""Discounts on order lines: each recorded with its source, manual ones within limits, and margin floors.

* A line's ``discount`` is the sum of its ``discounts``: records ``{source, code, amount, promotion_id,
  given_by, override}`` with ``source`` one of ``promotion``, ``coupon``, ``manual`` (the vocabulary of
  :class:`retailcore.promotions.model.AppliedDiscount`), amounts as decimal strings. A request that
  sends a bare ``discount`` gives one manual discount, ``given_by`` the caller. Lines without a discount
  keep ``discounts`` null (nothing to write on the POS path); lines written before the records existed
  read their bare ``discount`` as one manual discount (:func:`records_of`).
* Manual discounts at the POS (:func:`limit_for`, :func:`check_manual`): a company's policy, or its
  store's, caps what a cashier takes off a line by hand (percent of the line and/or an amount). Beyond
  it the line carries ``override: {by, reason}``, naming a user (``users``) who is active and a store
  manager or admin of the store (or the company, or the installation). A sale sent by a store
  manager's or an admin's token needs no override. No policy: no limit.
* Web, marketplace and b2b orders: a manual discount needs ``orders:discount``, and may not take the
  line below its margin floor (:func:`floor_breaches`): its net excluding tax stays at or above
  quantity x cost x (1 + floor), the product's floor beating its category's, cost being the product's
  current unit cost as the inventory values it.
* Posting (:func:`contra_lines`): a company whose ``discount_settings.posting`` is ``contra``
  (:func:`set_posting`) sends the discounts net of tax per category with its sales events, and the
  rules credit revenue before discounts and debit ``sales_discounts`` (decision 0050).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Role
from retailcore.access.tables import User
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.core.inputs import text
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import tables as i
from retailcore.inventory.services import StockValue, current_unit_cost
from retailcore.masterdata import cache as masterdata_cache
from retailcore.masterdata.commands import CompanyScoped, Request, StoreRef
from retailcore.masterdata.tables import Account, Company, Product, Store
from retailcore.orders import tables as t
from retailcore.promotions.tables import MarginFloor

ZERO = Decimal(0)
HUNDRED = Decimal(100)
OVERRIDING_ROLES = frozenset({Role.store_manager, Role.admin})
"""Who may give a manual discount beyond the limit, or approve one (an override)."""
UNLIMITED_ROLES = OVERRIDING_ROLES
"""Whose own POS sales have no manual discount limit."""

Source = Literal["promotion", "coupon", "manual"]

PercentIn = Field(None, ge=0, le=100, max_digits=9, decimal_places=4, allow_inf_nan=False)
AmountIn = Field(None, ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)


# -- requests and views ------------------------------------------------------------------------------


class OverrideIn(Request):
    """A manager's approval of a manual discount beyond the cashier's limit."""

    by: text(min_length=1, max_length=100) = Field(  # type: ignore[valid-type]
        description="User name of the approving store manager or admin (the back office's users)."
    )
    reason: text(min_length=1, max_length=500) = Field(description="Why the discount was given.")  # type: ignore[valid-type]


class OverrideView(BaseModel):
    by: str
    reason: str


class DiscountView(BaseModel):
    source: Source
    code: str
    """The promotion's code, the coupon's code, or ``manual``."""
    amount: DecimalStr
    promotion_id: uuid.UUID | None = None
    given_by: str | None = None
    """Manual discounts: who gave it (the caller that sent the line)."""
    override: OverrideView | None = None
    """A manual discount beyond the cashier's limit: the manager who approved it, and why."""


class SetDiscountPolicy(CompanyScoped):
    store_id: StoreRef | None = Field(
        None, description="Code or id of the store the policy is for; omitted: the company's policy."
    )
    max_percent: Decimal | None = PercentIn
    max_amount: Decimal | None = AmountIn


class DiscountPolicyView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    store_id: uuid.UUID | None
    max_percent: DecimalStr | None
    max_amount: DecimalStr | None
    updated_by: str
    version: int


# -- records -----------------------------------------------------------------------------------------


def manual(amount: Decimal, given_by: str, override: OverrideIn | None = None) -> dict[str, Any]:
    """One manual discount as a line stores it."""
    found: dict[str, Any] = {
        "source": "manual",
        "code": "manual",
        "amount": str(amount),
        "promotion_id": None,
        "given_by": given_by,
    }
    if override is not None:
        found["override"] = {"by": override.by, "reason": override.reason}
    return found


def applied(discount: Any) -> dict[str, Any]:
    """A discount the pricing engine applied (:class:`~retailcore.promotions.model.AppliedDiscount`)."""
    return {
        "source": discount.source,
        "code": discount.code,
        "amount": str(discount.amount),
        "promotion_id": str(discount.promotion_id) if discount.promotion_id else None,
    }


def records_of(discount: Decimal, discounts: Sequence[Mapping[str, Any]] | None) -> list[DiscountView]:
    """A line's discounts as the API shows them; a bare ``discount`` without records is one manual one."""
    if discounts:
        return [DiscountView.model_validate(dict(found)) for found in discounts]
    if discount:
        return [DiscountView(source="manual", code="manual", amount=discount)]
    return []


def manual_amount(discounts: Sequence[Mapping[str, Any]] | None, discount: Decimal) -> Decimal:
    if not discounts:
        return discount
    return sum((Decimal(d["amount"]) for d in discounts if d["source"] == "manual"), ZERO)


# -- limits and overrides (POS) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    max_percent: Decimal | None
    max_amount: Decimal | None

    def allows(self, line_amount: Decimal, discount: Decimal) -> bool:
        if self.max_amount is not None and discount > self.max_amount:
            return False
        return not (self.max_percent is not None and discount * HUNDRED > line_amount * self.max_percent)

    def describe(self) -> str:
        parts = []
        if self.max_percent is not None:
            parts.append(f"{self.max_percent.normalize():f} % of the line")
        if self.max_amount is not None:
            parts.append(f"{self.max_amount.normalize():f}")
        return " and ".join(parts)


def limit_for(session: Session, company_id: uuid.UUID, store_id: uuid.UUID | None) -> Limit | None:
    """The store's policy, else the company's; None when neither exists (no limit)."""
    P = t.DiscountPolicyRow
    rows = session.execute(
        select(P.store_id, P.max_percent, P.max_amount).where(
            P.company_id == company_id, or_(P.store_id.is_(None), P.store_id == store_id)
        )
    ).all()
    chosen = min(rows, key=lambda row: row.store_id is None, default=None)
    if chosen is None or (chosen.max_percent is None and chosen.max_amount is None):
        return None
    return Limit(chosen.max_percent, chosen.max_amount)


def overriders(
    session: Session, company_id: uuid.UUID, store_id: uuid.UUID, names: Iterable[str]
) -> dict[str, str | None]:
    """For each user name, None if that user may override a manual discount at the store, else why not.
    One query for the batch."""
    wanted = set(names)
    if not wanted:
        return {}
    users = {user.username: user for user in session.scalars(select(User).where(User.username.in_(wanted)))}
    found: dict[str, str | None] = {}
    for name in wanted:
        user = users.get(name)
        if user is None:
            found[name] = f"no user '{name}'"
        elif user.disabled_at is not None:
            found[name] = f"user '{name}' is disabled"
        elif user.role not in OVERRIDING_ROLES:
            found[name] = f"user '{name}' is a {user.role}: only a store manager or an admin overrides"
        elif (user.company_id is not None and user.company_id != company_id) or (
            user.store_id is not None and user.store_id != store_id
        ):
            found[name] = f"user '{name}' is not a manager of this store"
        else:
            found[name] = None
    return found


def check_manual(
    limit: Limit | None,
    unlimited: bool,
    line_amount: Decimal,
    discount: Decimal,
    override: OverrideIn | None,
    verdicts: Mapping[str, str | None],
) -> tuple[str, str] | None:
    """Why a manual discount on a POS line is refused, as ``(field, message)``, or None when it may be
    given. ``verdicts`` are :func:`overriders`' for the batch's override names."""
    if override is not None:
        problem = verdicts.get(override.by, f"no user '{override.by}'")
        if problem is not None:
            return "override.by", problem
        return None
    if unlimited or limit is None or not discount or limit.allows(line_amount, discount):
        return None
    return (
        "discount",
        f"a manual discount of {discount} is beyond the cashier's limit ({limit.describe()}): it needs"
        " a manager's override {by, reason}",
    )


# -- policies --------------------------------------------------------------------------------------


def set_policy(
    session: Session, ctx: CommandContext, company: Company, request: SetDiscountPolicy
) -> DiscountPolicyView:
    """Create or replace the company's (or a store's) manual discount limit; recorded in the log."""
    store_id: uuid.UUID | None = None
    if request.store_id is not None:
        store = session.get(Store, request.store_id)
        if store is None or store.company_id != company.id or not ctx.principal.sees_store(store.id):
            raise InvalidReference(
                f"no store {request.store_id}", problems=[FieldProblem("store_id", "no such store")]
            )
        store_id = store.id
    P = t.DiscountPolicyRow
    same_store = P.store_id.is_(None) if store_id is None else P.store_id == store_id
    row = session.scalar(select(P).where(P.company_id == company.id, same_store).with_for_update())
    if row is None:
        row = P(company_id=company.id, store_id=store_id, updated_by=ctx.actor)
        session.add(row)
    else:
        row.version += 1
    row.max_percent, row.max_amount, row.updated_by = request.max_percent, request.max_amount, ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type="DiscountPolicySet",
        company_id=company.id,
        aggregate_type="DiscountPolicy",
        aggregate_id=row.id,
        payload={"store_id": store_id, "max_percent": row.max_percent, "max_amount": row.max_amount},
        store_id=store_id,
    )
    return policy_view(row)


def policy_view(row: t.DiscountPolicyRow) -> DiscountPolicyView:
    return DiscountPolicyView(
        id=row.id,
        company_id=row.company_id,
        store_id=row.store_id,
        max_percent=row.max_percent,
        max_amount=row.max_amount,
        updated_by=row.updated_by,
        version=row.version,
    )


def list_policies(
    session: Session,
    company: Company,
    store_id: uuid.UUID | None,
    *,
    limit: int = 500,
    cursor: uuid.UUID | None = None,
) -> tuple[list[DiscountPolicyView], uuid.UUID | None]:
    """A page of the company's policies in creation order (ids are UUIDv7), and the cursor of the
    next page (None on the last)."""
    P = t.DiscountPolicyRow
    query = select(P).where(P.company_id == company.id)
    if store_id is not None:  # a store's token sees its store's policy and the company's
        query = query.where(or_(P.store_id.is_(None), P.store_id == store_id))
    rows, next_cursor = keyset_page(session, query, P.id, limit, cursor)
    return [policy_view(row) for row in rows], next_cursor


# -- margin floors (web, marketplace, b2b) -----------------------------------------------------------


@dataclass(frozen=True)
class FloorLine:
    field: str
    """Where a breach is reported (``lines.0.discount``)."""
    product_id: uuid.UUID
    quantity: Decimal
    net: Decimal
    """What the line comes to after every discount, excluding tax."""


def floor_breaches(session: Session, company: Company, lines: Sequence[FloorLine]) -> list[FieldProblem]:
    """The lines whose net excluding tax falls below quantity x cost x (1 + floor). The product's floor
    beats its category's; a line without a floor is never a breach. Cost is the product's current unit
    cost as the inventory values it (:func:`~retailcore.inventory.services.current_unit_cost`). Reads
    only: the integration calls this for promotion discounts too."""
    if not lines:
        return []
    product_ids = {line.product_id for line in lines}
    products = {
        p.id: p
        for p in session.execute(
            select(Product.id, Product.category, Product.cost_method, Product.standard_cost).where(
                Product.company_id == company.id, Product.id.in_(product_ids)
            )
        )
    }
    categories = {p.category for p in products.values()}
    by_product: dict[uuid.UUID, Decimal] = {}
    by_category: dict[str, Decimal] = {}
    for floor in session.scalars(
        select(MarginFloor).where(
            MarginFloor.company_id == company.id,
            or_(MarginFloor.product_id.in_(product_ids), MarginFloor.category.in_(categories)),
        )
    ):
        if floor.product_id is not None:
            by_product[floor.product_id] = floor.floor
        elif floor.category is not None:
            by_category[floor.category] = floor.floor
    costs = {
        row.product_id: row
        for row in session.scalars(
            select(i.ProductCost).where(
                i.ProductCost.company_id == company.id, i.ProductCost.product_id.in_(product_ids)
            )
        )
    }
    problems = []
    for line in lines:
        product = products.get(line.product_id)
        if product is None:
            continue
        floor = by_product.get(product.id, by_category.get(product.category))
        if floor is None:
            continue
        cost = current_unit_cost(product, costs.get(product.id) or StockValue(ZERO, ZERO))
        least = line.quantity * cost * (1 + floor)
        if line.net < least:
            problems.append(
                FieldProblem(
                    line.field,
                    f"the line comes to {line.net} before tax, below its margin floor"
                    f" {round_to_currency(least, company.currency)} (cost {cost.normalize():f} x"
                    f" {(1 + floor).normalize():f} x {line.quantity.normalize():f})",
                )
            )
    return problems


def refuse_breaches(problems: list[FieldProblem]) -> None:
    if problems:
        raise ValidationFailed(
            "a manual discount would sell below the margin floor: only an approved promotion may",
            code="below-margin-floor",
            problems=problems,
        )


# -- posting -----------------------------------------------------------------------------------------

Posting = Literal["net", "contra"]


class SetDiscountPosting(CompanyScoped):
    posting: Posting = Field(
        description="`net`: revenue is credited net of discounts (the default). `contra`: revenue is"
        " credited before discounts and the discounts debited to the `sales_discounts` account."
    )


class DiscountPostingView(BaseModel):
    company_id: uuid.UUID
    posting: Posting
    updated_by: str | None
    version: int


def posting_mode(session: Session, company_id: uuid.UUID) -> str:
    """``net`` or ``contra`` (``net`` for a company that never chose), behind the company's master stamp
    (migration 0051's triggers renew it when ``discount_settings`` changes)."""

    def load() -> str:
        found = session.scalar(
            select(t.DiscountSettingsRow.posting).where(t.DiscountSettingsRow.company_id == company_id)
        )
        return found or "net"

    return masterdata_cache.cached(session, company_id, "discounts.posting_mode", load)


def posting_view(session: Session, company: Company) -> DiscountPostingView:
    row = session.get(t.DiscountSettingsRow, company.id)
    if row is None:
        return DiscountPostingView(company_id=company.id, posting="net", updated_by=None, version=0)
    return DiscountPostingView(
        company_id=company.id,
        posting=row.posting,  # type: ignore[arg-type]
        updated_by=row.updated_by,
        version=row.version,
    )


def set_posting(
    session: Session, ctx: CommandContext, company: Company, request: SetDiscountPosting
) -> DiscountPostingView:
    """Choose how the company's discounts post from now on (events already posted stay as they are).
    ``contra`` needs an active account with the role ``sales_discounts``."""
    if request.posting == "contra":
        account = session.scalar(
            select(Account.id).where(
                Account.company_id == company.id,
                Account.role == "sales_discounts",
                Account.active.is_(True),
            )
        )
        if account is None:
            raise ValidationFailed(
                "contra posting needs an account with the role sales_discounts in the chart",
                code="no-sales-discounts-account",
                problems=[FieldProblem("posting", "no active account with the role sales_discounts")],
            )
    row = session.get(t.DiscountSettingsRow, company.id, with_for_update=True)
    before = row.posting if row is not None else "net"
    if row is None:
        row = t.DiscountSettingsRow(
            company_id=company.id, posting=request.posting, updated_at=utcnow(), updated_by=ctx.actor
        )
        session.add(row)
    else:
        row.posting, row.updated_at, row.updated_by = request.posting, utcnow(), ctx.actor
        row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="DiscountPostingSet",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"posting": request.posting, "before": before},
    )
    return posting_view(session, company)


def discount_net(
    discount: Decimal, taxes: Sequence[Mapping[str, Any]], prices_include_tax: bool, currency: str
) -> Decimal:
    """A line's discount excluding tax: itself when prices exclude tax, else taken out of the line's
    price-included rates (the sum of ``rate_percent`` of its taxes)."""
    if not discount or not prices_include_tax:
        return discount
    # Memoised (a POS batch takes the same few amounts off lines of the same few rates, thousands of
    # times): keyed on the amount, the rates as stored and the currency, all the result depends on.
    if len(taxes) == 1:
        rates: Any = taxes[0]["rate_percent"]
    else:
        rates = tuple([tax["rate_percent"] for tax in taxes])
    key = (discount, rates, currency)
    found = _NETS.get(key)
    if found is None:
        if len(_NETS) >= _NETS_SIZE:
            _NETS.clear()
        rate = sum((Decimal(str(tax["rate_percent"])) for tax in taxes), ZERO)
        found = _NETS[key] = round_to_currency(discount * HUNDRED / (HUNDRED + rate), currency)
    return found


_NETS: dict[tuple[Any, ...], Decimal] = {}
""":func:`discount_net`'s memo: the net of a discount per (amount, rates, currency). A pure function of
those in the default decimal context, which the services never change."""
_NETS_SIZE = 20_000


def contra_lines(amounts: Iterable[tuple[str, Decimal]], currency: str) -> list[dict[str, str]]:
    """The ``discounts`` list of a sales event: ``(category, discount net of tax)`` summed per category."""
    totals: dict[str, Decimal] = {}
    for category, amount in amounts:
        if amount:
            totals[category] = totals.get(category, ZERO) + amount
    return [
        {"product_category": category, "amount": str(round_to_currency(amount, currency))}
        for category, amount in sorted(totals.items())
        if amount
    ]
