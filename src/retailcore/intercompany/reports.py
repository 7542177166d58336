"""The group's reports: intercompany eliminations and the consolidated trial balance (decision 0040).

Both read each member's trial balance (``accounting.reports.trial_balance``: period balances for closed
months, lines for the open tail, so O(accounts + open period)) from the start of the parent's fiscal
year holding ``as_of`` to ``as_of``, and translate into the group currency with the parent company's
exchange rates (group currency per unit of the member's):

* balance sheet accounts (asset, liability, equity) at the closing rate (the rate in force on ``as_of``);
* income and expense accounts at the period's average rate: the mean of the rate in force on the first
  day and of every rate set after it up to ``as_of``;
* the translation difference goes to one ``CTA`` line (currency translation reserve, equity), so the
  consolidated trial balance sums to zero.

Eliminations, per ordered pair (A is owed by B), in the group currency:

* A's intercompany receivable from B against B's intercompany payable to A: both removed; what does not
  match (an entry on one side only, different rates) goes to the ``IC-DIFF`` line and is flagged;
* A's intercompany revenue from B and B's intercompany cost of A's goods: each is checked against the
  flows' documents (``intercompany_documents``) in its own company's currency, so rates alone never
  make a difference; what either ledger holds beyond its documents is the pair's result difference
  (``IC-DIFF``, flagged). The revenue and the cost are removed; for goods transferred into B's stock,
  their cost on A's books comes out of A's COGS and their margin out of B's inventory (the goods are
  taken as still held at ``as_of``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting import reports as r
from retailcore.accounting import tables as a
from retailcore.accounting.services import account_for_role
from retailcore.adapters.orm import Amount
from retailcore.core.currencies import round_to_currency
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.intercompany import services
from retailcore.intercompany import tables as g
from retailcore.masterdata.tables import Company

ZERO = Decimal(0)
BALANCE_SHEET = ("asset", "liability", "equity")


def period_start(session: Session, group: g.CompanyGroup, as_of: dt.date) -> dt.date:
    """The first day of the parent's fiscal year holding ``as_of`` (1 January without one)."""
    start = session.scalar(
        select(a.FiscalYear.start_date).where(
            a.FiscalYear.company_id == group.parent_company_id,
            a.FiscalYear.start_date <= as_of,
            a.FiscalYear.end_date >= as_of,
        )
    )
    return start or dt.date(as_of.year, 1, 1)


class Rates(BaseModel):
    company_id: uuid.UUID
    company_code: str
    currency: str
    closing_rate: DecimalStr
    average_rate: DecimalStr


def _missing(group: g.CompanyGroup, parent: Company, currency: str, day: dt.date) -> ValidationFailed:
    return ValidationFailed(
        f"group {group.code}: the parent {parent.code} has no {currency} exchange rate on or before"
        f" {day.isoformat()}; set one (POST /exchange-rates for {parent.code}) to translate",
        code="no-exchange-rate",
        problems=[
            FieldProblem("as_of", f"no {currency} rate of {parent.code} on or before {day.isoformat()}")
        ],
    )


def translation_rates(
    session: Session, group: g.CompanyGroup, company: Company, date_from: dt.date, as_of: dt.date
) -> Rates:
    if company.currency == group.currency:
        return Rates(
            company_id=company.id,
            company_code=company.code,
            currency=company.currency,
            closing_rate=Decimal(1),
            average_rate=Decimal(1),
        )
    parent = session.get(Company, group.parent_company_id)
    x = a.ExchangeRate

    def in_force(day: dt.date) -> Decimal | None:
        return session.scalar(
            select(x.rate)
            .where(x.company_id == parent.id, x.currency == company.currency, x.rate_date <= day)
            .order_by(x.rate_date.desc())
            .limit(1)
        )

    closing = in_force(as_of)
    if closing is None:
        raise _missing(group, parent, company.currency, as_of)
    first = in_force(date_from)
    rates = [] if first is None else [first]
    rates += list(
        session.scalars(
            select(x.rate)
            .where(
                x.company_id == parent.id,
                x.currency == company.currency,
                x.rate_date > date_from,
                x.rate_date <= as_of,
            )
            .order_by(x.rate_date)
        )
    )
    average = (sum(rates, ZERO) / len(rates)).quantize(Decimal("0.00000001"))
    return Rates(
        company_id=company.id,
        company_code=company.code,
        currency=company.currency,
        closing_rate=closing,
        average_rate=average,
    )


class _Member:
    def __init__(self, company: Company, rates: Rates, balances: dict[uuid.UUID, Any]) -> None:
        self.company, self.rates, self.balances = company, rates, balances

    def translate(self, account_type: str, amount: Decimal, currency: str) -> Decimal:
        rate = self.rates.closing_rate if account_type in BALANCE_SHEET else self.rates.average_rate
        return round_to_currency(amount * rate, currency)


def _members(session: Session, group: g.CompanyGroup, as_of: dt.date) -> tuple[dt.date, list[_Member]]:
    date_from = period_start(session, group, as_of)
    found = []
    for company in services.members(session, group):
        rates = translation_rates(session, group, company, date_from, as_of)
        trial = r.trial_balance(session, company.id, date_from, as_of)
        found.append(_Member(company, rates, {row.account_id: row for row in trial.rows}))
    return date_from, found


# -- eliminations ----------------------------------------------------------------------------------


class EliminationPair(BaseModel):
    creditor: str
    """Company A, owed by B (its receivable, its revenue)."""
    debtor: str
    receivable: DecimalStr
    """A's receivable from B, A's currency (debit positive)."""
    receivable_group: DecimalStr
    payable: DecimalStr
    """B's payable to A, B's currency, shown positive when it is a credit balance."""
    payable_group: DecimalStr
    balance_difference: DecimalStr
    """Receivable minus payable, group currency: zero when they eliminate."""
    revenue: DecimalStr
    """A's intercompany revenue from B, A's currency, positive when a credit balance."""
    revenue_documented: DecimalStr
    """The transfer prices of the flows from A to B (sales and transfers), A's currency."""
    revenue_group: DecimalStr
    cost: DecimalStr
    """B's intercompany cost of A's goods it sold on, B's currency."""
    cost_documented: DecimalStr
    """The transfer prices of the sales, in B's currency at B's rates of their dates."""
    cost_group: DecimalStr
    transferred: DecimalStr
    """Transfer prices of goods B received from A into stock, B's currency."""
    transferred_group: DecimalStr
    """The same at the closing rate (they are stock)."""
    transferred_cost_group: DecimalStr
    """Those goods' cost on A's books, group currency: the rest of their price is unrealised margin."""
    result_difference: DecimalStr
    """What the ledgers hold beyond the documents, group currency: A's revenue beyond minus B's cost
    beyond. Zero when revenue and cost eliminate; rates alone never make it differ."""
    eliminates: bool


class EliminationReport(r.Report):
    group: str
    currency: str
    as_of: dt.date
    date_from: dt.date
    rates: list[Rates]
    pairs: list[EliminationPair]
    eliminates: bool
    """Every pair's differences are zero."""

    def title(self) -> str:
        return f"Intercompany eliminations {self.group} as of {self.as_of} ({self.currency})"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        names = [name for name in EliminationPair.model_fields]
        return names, [[getattr(pair, name) for name in names] for pair in self.pairs]

    def summary(self) -> list[tuple[str, Any]]:
        return [("eliminates", "yes" if self.eliminates else "NO")]


def _ic_balances(session: Session, members: list[_Member]) -> dict[tuple[uuid.UUID, uuid.UUID, str], Decimal]:
    """(company, counterparty, role) -> closing balance (debit minus credit), company currency."""
    found: dict[tuple[uuid.UUID, uuid.UUID, str], Decimal] = {}
    by_id = {member.company.id: member for member in members}
    for company_id, counterparty_id, role, account_id in services.counterparty_accounts(session, list(by_id)):
        row = by_id[company_id].balances.get(account_id)
        found[(company_id, counterparty_id, role)] = row.closing_balance if row is not None else ZERO
    return found


@dataclass
class _Documented:
    revenue: Decimal = ZERO
    """Sales and transfers, the seller's currency."""
    sold: Decimal = ZERO
    """Sales, the buyer's currency."""
    transferred: Decimal = ZERO
    """Transfers, the buyer's currency."""
    transferred_cost: Decimal = ZERO
    """Transfers' cost, the seller's currency."""


def _documented(
    session: Session, group: g.CompanyGroup, as_of: dt.date
) -> dict[tuple[uuid.UUID, uuid.UUID], _Documented]:
    """(seller, buyer) -> the flows' amounts up to ``as_of``: one grouped query."""
    d = g.IntercompanyDocument

    def total(column: Any) -> Any:
        return type_coerce(func.sum(column), Amount())

    rows = session.execute(
        select(
            d.seller_company_id,
            d.buyer_company_id,
            d.kind,
            total(d.amount),
            total(d.buyer_amount),
            total(d.cost),
        )
        .where(d.group_id == group.id, d.date <= as_of)
        .group_by(d.seller_company_id, d.buyer_company_id, d.kind)
    )
    found: dict[tuple[uuid.UUID, uuid.UUID], _Documented] = {}
    for seller, buyer, kind, amount, buyer_amount, cost in rows:
        entry = found.setdefault((seller, buyer), _Documented())
        entry.revenue += amount
        if kind == "sale":
            entry.sold += buyer_amount
        else:
            entry.transferred += buyer_amount
            entry.transferred_cost += cost
    return found


def _pairs(
    session: Session, group: g.CompanyGroup, as_of: dt.date, members: list[_Member]
) -> list[tuple[_Member, _Member, EliminationPair]]:
    balances = _ic_balances(session, members)
    documented = _documented(session, group, as_of)
    currency = group.currency
    pairs = []
    for seller in members:
        for buyer in members:
            if seller is buyer:
                continue
            key_a, key_b = (seller.company.id, buyer.company.id), (buyer.company.id, seller.company.id)
            known = any(
                key in balances
                for key in (
                    (*key_a, "intercompany_receivable"),
                    (*key_a, "intercompany_revenue"),
                    (*key_b, "intercompany_payable"),
                    (*key_b, "intercompany_cost"),
                )
            )
            if not known and key_a not in documented:
                continue
            docs = documented.get(key_a, _Documented())
            receivable = balances.get((*key_a, "intercompany_receivable"), ZERO)
            payable = -balances.get((*key_b, "intercompany_payable"), ZERO)
            revenue = -balances.get((*key_a, "intercompany_revenue"), ZERO)
            cost = balances.get((*key_b, "intercompany_cost"), ZERO)
            receivable_group = seller.translate("asset", receivable, currency)
            payable_group = buyer.translate("liability", payable, currency)
            balance_difference = receivable_group - payable_group
            result_difference = seller.translate(
                "income", revenue - docs.revenue, currency
            ) - buyer.translate("expense", cost - docs.sold, currency)
            pairs.append(
                (
                    seller,
                    buyer,
                    EliminationPair(
                        creditor=seller.company.code,
                        debtor=buyer.company.code,
                        receivable=receivable,
                        receivable_group=receivable_group,
                        payable=payable,
                        payable_group=payable_group,
                        balance_difference=balance_difference,
                        revenue=revenue,
                        revenue_documented=docs.revenue,
                        revenue_group=seller.translate("income", revenue, currency),
                        cost=cost,
                        cost_documented=docs.sold,
                        cost_group=buyer.translate("expense", cost, currency),
                        transferred=docs.transferred,
                        transferred_group=buyer.translate("asset", docs.transferred, currency),
                        transferred_cost_group=seller.translate("expense", docs.transferred_cost, currency),
                        result_difference=result_difference,
                        eliminates=balance_difference == 0 and result_difference == 0,
                    ),
                )
            )
    return pairs


def eliminations(session: Session, group: g.CompanyGroup, as_of: dt.date) -> EliminationReport:
    date_from, members = _members(session, group, as_of)
    pairs = [pair for _, _, pair in _pairs(session, group, as_of, members)]
    return EliminationReport(
        group=group.code,
        currency=group.currency,
        as_of=as_of,
        date_from=date_from,
        rates=[member.rates for member in members],
        pairs=pairs,
        eliminates=all(pair.eliminates for pair in pairs),
    )


# -- consolidated trial balance --------------------------------------------------------------------


class ConsolidatedRow(BaseModel):
    account_code: str
    account_name: str
    account_type: str
    balances: dict[str, DecimalStr]
    """Per member code: its closing balance in its own currency (debit minus credit)."""
    translated: DecimalStr
    """The members' balances in the group currency, summed."""
    elimination: DecimalStr
    consolidated: DecimalStr


class ConsolidatedTrialBalance(r.Report):
    group: str
    currency: str
    as_of: dt.date
    date_from: dt.date
    rates: list[Rates]
    rows: list[ConsolidatedRow]
    total: DecimalStr
    balanced: bool

    def title(self) -> str:
        return f"Consolidated trial balance {self.group} as of {self.as_of} ({self.currency})"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        codes = [rate.company_code for rate in self.rates]
        header = ["account_code", "account_name", "account_type", *codes]
        header += ["translated", "elimination", "consolidated"]
        return header, [
            [
                row.account_code,
                row.account_name,
                row.account_type,
                *(row.balances.get(code) for code in codes),
                row.translated,
                row.elimination,
                row.consolidated,
            ]
            for row in self.rows
        ]

    def summary(self) -> list[tuple[str, Any]]:
        return [("total", self.total), ("balanced", "yes" if self.balanced else "NO")]


CTA = ("CTA", "Currency translation reserve", "equity")
IC_DIFF = ("IC-DIFF", "Intercompany differences not eliminated", "asset")


def consolidated_trial_balance(
    session: Session, group: g.CompanyGroup, as_of: dt.date
) -> ConsolidatedTrialBalance:
    date_from, members = _members(session, group, as_of)
    currency = group.currency
    rows: dict[str, dict[str, Any]] = {}

    def row(code: str, name: str, account_type: str) -> dict[str, Any]:
        return rows.setdefault(
            code,
            {"name": name, "type": account_type, "balances": {}, "translated": ZERO, "elimination": ZERO},
        )

    for member in members:
        for balance in member.balances.values():
            if not balance.closing_balance:
                continue
            target = row(balance.account_code, balance.account_name, balance.account_type)
            code = member.company.code
            target["balances"][code] = target["balances"].get(code, ZERO) + balance.closing_balance
            target["translated"] += member.translate(balance.account_type, balance.closing_balance, currency)

    def eliminate(member: _Member, counterparty: _Member, role: str, amount: Decimal) -> None:
        """Add ``amount`` (group currency, debit positive) to the member's account for the role."""
        if not amount:
            return
        account = services.counterparty_account_of(session, member.company.id, counterparty.company.id, role)
        if account is None:
            account = account_for_role(session, member.company.id, role)
        row(account.code, account.name, account.type)["elimination"] += amount

    def eliminate_role(member: _Member, role: str, amount: Decimal) -> None:
        if not amount:
            return
        account = account_for_role(session, member.company.id, role)
        row(account.code, account.name, account.type)["elimination"] += amount

    for seller, buyer, pair in _pairs(session, group, as_of, members):
        eliminate(seller, buyer, "intercompany_receivable", -pair.receivable_group)
        eliminate(buyer, seller, "intercompany_payable", pair.payable_group)
        eliminate(seller, buyer, "intercompany_revenue", pair.revenue_group)
        eliminate(buyer, seller, "intercompany_cost", -pair.cost_group)
        eliminate_role(seller, "cogs", -pair.transferred_cost_group)
        eliminate_role(buyer, "inventory", -(pair.transferred_group - pair.transferred_cost_group))
        difference = pair.balance_difference - pair.result_difference
        if difference:
            row(*IC_DIFF)["elimination"] += difference
    total = sum((values["translated"] + values["elimination"] for values in rows.values()), ZERO)
    if total:
        row(*CTA)["elimination"] += -total
    result = [
        ConsolidatedRow(
            account_code=code,
            account_name=values["name"],
            account_type=values["type"],
            balances=values["balances"],
            translated=values["translated"],
            elimination=values["elimination"],
            consolidated=values["translated"] + values["elimination"],
        )
        for code, values in sorted(rows.items())
    ]
    grand = sum((item.consolidated for item in result), ZERO)
    return ConsolidatedTrialBalance(
        group=group.code,
        currency=currency,
        as_of=as_of,
        date_from=date_from,
        rates=[member.rates for member in members],
        rows=result,
        total=grand,
        balanced=grand == 0,
    )
