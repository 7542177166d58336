"""Chart of accounts vocabulary and ready-made chart templates.

This module is pure data: no database, no I/O.

Posting rules never name account codes. A posting rule is data that maps a
business event type (a POS sale, a goods receipt, a card settlement...) to
journal lines expressed in terms of :class:`AccountRole`; the ledger resolves
each role to a concrete account of the company's chart when the event is
posted. That indirection is what lets one set of posting rules serve every
chart (a French PCG, a US GAAP chart, this generic one) and lets an accountant
rename or renumber accounts without touching any rule.

Consequently a chart used in production must give an account to every role the
active posting rules reference. The bundled ``generic_retail`` template covers
every role so it works out of the box.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "TEMPLATES",
    "AccountRole",
    "AccountTemplate",
    "AccountType",
    "ChartTemplate",
    "get_template",
]


class AccountType(StrEnum):
    """Top-level classification; decides the sign convention and balance-sheet vs P&L."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class AccountRole(StrEnum):
    """Semantic slot that posting rules target instead of a concrete account code."""

    # Physical cash held in store tills between opening and closing counts.
    CASH_DRAWER = "cash_drawer"
    # Card payments authorized at POS/web but not yet settled by the acquirer.
    CARD_CLEARING = "card_clearing"
    # Outstanding value of sold, unredeemed gift cards (owed to the holders).
    GIFT_CARD_LIABILITY = "gift_card_liability"
    # Credit notes / store credit issued to customers, typically on returns.
    STORE_CREDIT_LIABILITY = "store_credit_liability"
    # Amounts invoiced to customers (B2B, on-account sales) not yet collected.
    RECEIVABLE = "receivable"
    # Goods shipped by a period's end and not invoiced yet: the receivable reclassified by the close's
    # accrual run, reversed on the next period's first day (decision 0041).
    UNBILLED_RECEIVABLE = "unbilled_receivable"
    # Revenue from goods sold, net of tax.
    SALES_REVENUE = "sales_revenue"
    # Contra-revenue for customer returns and refunds, kept apart from gross sales.
    SALES_RETURNS = "sales_returns"
    # Contra-revenue for discounts given on sales, when the company posts them apart (decision 0050).
    SALES_DISCOUNTS = "sales_discounts"
    # Shipping charged to customers on web, marketplace and b2b orders, net of tax (decision 0057).
    SHIPPING_REVENUE = "shipping_revenue"
    # VAT/sales tax collected on sales and owed to the tax authority.
    OUTPUT_TAX = "output_tax"
    # VAT paid on purchases and recoverable from the tax authority.
    INPUT_TAX = "input_tax"
    # Till shortage found when counting a cash drawer.
    CASH_DIFFERENCE_LOSS = "cash_difference_loss"
    # Till overage found when counting a cash drawer.
    CASH_DIFFERENCE_GAIN = "cash_difference_gain"
    # Cost of the goods sold, booked when stock leaves on a sale.
    COGS = "cogs"
    # Value of sellable stock on hand.
    INVENTORY = "inventory"
    # Value of stock set aside as damaged, awaiting return to vendor or disposal.
    DAMAGED_GOODS = "damaged_goods"
    # Loss from theft, breakage and count differences found at stocktakes.
    INVENTORY_SHRINKAGE = "inventory_shrinkage"
    # Value of stock shipped between locations and not yet received.
    STOCK_IN_TRANSIT = "stock_in_transit"
    # Accrual for goods received whose supplier invoice has not arrived yet.
    GOODS_RECEIVED_NOT_INVOICED = "goods_received_not_invoiced"
    # Amounts owed to suppliers on posted invoices.
    PAYABLES = "payables"
    # Refunds approved on returns and not yet paid out (card refund pending, cash not yet handed over).
    REFUNDS_PAYABLE = "refunds_payable"
    # Restocking fees kept from refunds on returns.
    RESTOCKING_FEES = "restocking_fees"
    # Prepayments taken from customers for orders not yet delivered.
    CUSTOMER_DEPOSITS = "customer_deposits"
    # Company bank accounts.
    BANK = "bank"
    # Cash taken from tills on its way to the bank (safe, cash-in-transit carrier).
    CASH_IN_TRANSIT = "cash_in_transit"
    # Fees withheld by card acquirers and online payment gateways.
    GATEWAY_FEES = "gateway_fees"
    # Losses on card disputes decided in the cardholder's favour.
    CHARGEBACKS = "chargebacks"
    # Funds withheld by the acquirer while a card dispute is open.
    DISPUTE_RECEIVABLE = "dispute_receivable"
    # Amounts owed to this company by another company of the group.
    INTERCOMPANY_RECEIVABLE = "intercompany_receivable"
    # Amounts this company owes to another company of the group.
    INTERCOMPANY_PAYABLE = "intercompany_payable"
    # Sales of goods to another company of the group (eliminated on consolidation).
    INTERCOMPANY_REVENUE = "intercompany_revenue"
    # Goods bought from another company of the group and sold on (eliminated on consolidation).
    INTERCOMPANY_COST = "intercompany_cost"
    # Difference between standard/expected cost and actual purchase price.
    PRICE_VARIANCE = "price_variance"
    # Cent differences from cash rounding at the till and from tax computed per line vs per total.
    ROUNDING = "rounding"
    # Unrealized gain from revaluing open foreign-currency balances.
    FX_UNREALIZED_GAIN = "fx_unrealized_gain"
    # Unrealized loss from revaluing open foreign-currency balances.
    FX_UNREALIZED_LOSS = "fx_unrealized_loss"
    # Gain realized when a foreign-currency item is settled.
    FX_REALIZED_GAIN = "fx_realized_gain"
    # Loss realized when a foreign-currency item is settled.
    FX_REALIZED_LOSS = "fx_realized_loss"
    # Accumulated results of closed fiscal years.
    RETAINED_EARNINGS = "retained_earnings"
    # Result of the open fiscal year, used by year-end closing entries.
    CURRENT_YEAR_EARNINGS = "current_year_earnings"
    # Unredeemed gift card value recognised as income when a card expires (breakage).
    GIFT_CARD_BREAKAGE = "gift_card_breakage"
    # Store credit and gift cards given away (goodwill gestures, promotions): a marketing cost.
    CUSTOMER_GOODWILL = "customer_goodwill"
    # Loyalty points earned and not burned yet, valued at the programme's point value (decision 0049).
    LOYALTY_LIABILITY = "loyalty_liability"
    # What loyalty points given to customers cost (earned on orders, revaluations of the points outstanding).
    LOYALTY_COST = "loyalty_cost"
    # Counterpart for balances imported when migrating from another system.
    OPENING_BALANCE = "opening_balance"


STOCK_VALUED_ROLES = frozenset(
    {AccountRole.INVENTORY, AccountRole.DAMAGED_GOODS, AccountRole.STOCK_IN_TRANSIT}
)
"""The accounts whose balance the stock valuation must equal (the stock check): only stock moves may
post to them through events."""


@dataclass(frozen=True)
class AccountTemplate:
    """One account of a chart template.

    ``role`` is ``None`` for accounts that no posting rule targets (rent, wages...):
    they are only used by manual journal entries. ``reconcilable`` marks accounts
    whose open items are matched against each other (an invoice against its
    payment, a card batch against its settlement), so they should net to zero.
    """

    code: str
    name: str
    type: AccountType
    role: AccountRole | None
    reconcilable: bool


@dataclass(frozen=True)
class ChartTemplate:
    """A named, installable set of account templates."""

    key: str
    name: str
    description: str
    accounts: tuple[AccountTemplate, ...]

    def __post_init__(self) -> None:
        # Codes are the natural key of an account within a company: catch
        # duplicates when the template is defined rather than at installation.
        duplicates = sorted(code for code, n in Counter(a.code for a in self.accounts).items() if n > 1)
        if duplicates:
            raise ValueError(f"chart template {self.key!r} has duplicate account codes: {duplicates}")

    def accounts_with_role(self, role: AccountRole) -> tuple[AccountTemplate, ...]:
        """Return the accounts carrying ``role`` (usually exactly one), in chart order."""
        return tuple(account for account in self.accounts if account.role is role)

    def missing_roles(self) -> frozenset[AccountRole]:
        """Return the roles no account of this template carries."""
        present = {account.role for account in self.accounts if account.role is not None}
        return frozenset(AccountRole) - present


def _acc(
    code: str,
    name: str,
    type_: AccountType,
    role: AccountRole | None = None,
    *,
    reconcilable: bool = False,
) -> AccountTemplate:
    # Keeps the table below to one readable line per account.
    return AccountTemplate(code=code, name=name, type=type_, role=role, reconcilable=reconcilable)


_A, _L, _E, _I, _X = (
    AccountType.ASSET,
    AccountType.LIABILITY,
    AccountType.EQUITY,
    AccountType.INCOME,
    AccountType.EXPENSE,
)
_R = AccountRole

_GENERIC_RETAIL_ACCOUNTS: tuple[AccountTemplate, ...] = (
    # 1xxx assets
    _acc("1000", "Cash in store drawers", _A, _R.CASH_DRAWER),
    _acc("1010", "Cash in transit to bank", _A, _R.CASH_IN_TRANSIT, reconcilable=True),
    _acc("1020", "Petty cash", _A),
    _acc("1100", "Bank - current account", _A, _R.BANK, reconcilable=True),
    _acc("1200", "Card payments clearing", _A, _R.CARD_CLEARING, reconcilable=True),
    _acc("1210", "Trade receivables", _A, _R.RECEIVABLE, reconcilable=True),
    _acc("1215", "Unbilled receivables (shipped, not invoiced)", _A, _R.UNBILLED_RECEIVABLE),
    _acc("1220", "Card disputes withheld by acquirer", _A, _R.DISPUTE_RECEIVABLE, reconcilable=True),
    _acc("1230", "Intercompany receivables", _A, _R.INTERCOMPANY_RECEIVABLE, reconcilable=True),
    _acc("1300", "Input VAT recoverable", _A, _R.INPUT_TAX),
    _acc("1400", "Merchandise inventory", _A, _R.INVENTORY),
    _acc("1410", "Stock in transit between locations", _A, _R.STOCK_IN_TRANSIT),
    _acc("1420", "Damaged goods awaiting disposal or return", _A, _R.DAMAGED_GOODS),
    _acc("1500", "Prepaid expenses", _A),
    _acc("1600", "Store fixtures and fittings", _A),
    _acc("1610", "IT and POS equipment", _A),
    _acc("1690", "Accumulated depreciation", _A),
    # 2xxx liabilities
    _acc("2000", "Trade payables", _L, _R.PAYABLES, reconcilable=True),
    _acc("2010", "Goods received not invoiced", _L, _R.GOODS_RECEIVED_NOT_INVOICED, reconcilable=True),
    _acc("2020", "Intercompany payables", _L, _R.INTERCOMPANY_PAYABLE, reconcilable=True),
    _acc("2100", "Output VAT collected", _L, _R.OUTPUT_TAX),
    _acc("2110", "VAT settlement", _L),
    _acc("2200", "Gift cards outstanding", _L, _R.GIFT_CARD_LIABILITY),
    _acc("2210", "Store credit outstanding", _L, _R.STORE_CREDIT_LIABILITY),
    _acc("2220", "Customer deposits and prepayments", _L, _R.CUSTOMER_DEPOSITS, reconcilable=True),
    _acc("2230", "Refunds payable to customers", _L, _R.REFUNDS_PAYABLE, reconcilable=True),
    _acc("2240", "Loyalty points outstanding", _L, _R.LOYALTY_LIABILITY),
    _acc("2300", "Accrued wages", _L),
    _acc("2310", "Social security contributions payable", _L),
    _acc("2400", "Bank loans", _L),
    # 3xxx equity
    _acc("3000", "Share capital", _E),
    _acc("3100", "Legal reserve", _E),
    _acc("3200", "Retained earnings", _E, _R.RETAINED_EARNINGS),
    _acc("3300", "Current year earnings", _E, _R.CURRENT_YEAR_EARNINGS),
    _acc("3900", "Opening balance equity", _E, _R.OPENING_BALANCE),
    # 4xxx income
    _acc("4000", "Sales of merchandise", _I, _R.SALES_REVENUE),
    # Contra-income: carries debit balances that reduce gross sales on the P&L.
    _acc("4010", "Sales returns and refunds", _I, _R.SALES_RETURNS),
    # Contra-income too: discounts given, when the company posts them apart from revenue (decision 0050).
    _acc("4020", "Sales discounts given", _I, _R.SALES_DISCOUNTS),
    _acc("4030", "Shipping income", _I, _R.SHIPPING_REVENUE),
    _acc("4100", "Cash over at till counts", _I, _R.CASH_DIFFERENCE_GAIN),
    _acc("4110", "Restocking fees on returns", _I, _R.RESTOCKING_FEES),
    _acc("4200", "Supplier rebates and discounts received", _I),
    _acc("4300", "Realized foreign exchange gains", _I, _R.FX_REALIZED_GAIN),
    _acc("4310", "Unrealized foreign exchange gains", _I, _R.FX_UNREALIZED_GAIN),
    _acc("4400", "Gift card breakage", _I, _R.GIFT_CARD_BREAKAGE),
    _acc("4500", "Intercompany sales", _I, _R.INTERCOMPANY_REVENUE),
    # 5xxx cost of sales
    _acc("5000", "Cost of goods sold", _X, _R.COGS),
    _acc("5010", "Purchase price variance", _X, _R.PRICE_VARIANCE),
    _acc("5020", "Inventory shrinkage", _X, _R.INVENTORY_SHRINKAGE),
    _acc("5030", "Inbound freight and duties", _X),
    _acc("5040", "Cost of goods bought from group companies", _X, _R.INTERCOMPANY_COST),
    # 6xxx operating expenses
    _acc("6000", "Store rent", _X),
    _acc("6010", "Utilities", _X),
    _acc("6020", "Wages and salaries", _X),
    _acc("6030", "Social security contributions", _X),
    # Also where goodwill store credit and gift cards given away are booked (customer_goodwill).
    _acc("6040", "Marketing and advertising", _X, _R.CUSTOMER_GOODWILL),
    _acc("6045", "Loyalty programme cost", _X, _R.LOYALTY_COST),
    _acc("6050", "Store supplies and packaging", _X),
    _acc("6060", "Insurance", _X),
    _acc("6070", "Repairs and maintenance", _X),
    _acc("6080", "Depreciation expense", _X),
    _acc("6100", "Card and payment gateway fees", _X, _R.GATEWAY_FEES),
    _acc("6110", "Chargeback losses", _X, _R.CHARGEBACKS),
    _acc("6120", "Bank charges", _X),
    # 7xxx financial and other expenses
    _acc("7000", "Cash short at till counts", _X, _R.CASH_DIFFERENCE_LOSS),
    _acc("7010", "Rounding differences", _X, _R.ROUNDING),
    _acc("7100", "Realized foreign exchange losses", _X, _R.FX_REALIZED_LOSS),
    _acc("7110", "Unrealized foreign exchange losses", _X, _R.FX_UNREALIZED_LOSS),
    _acc("7200", "Interest expense", _X),
)

TEMPLATES: dict[str, ChartTemplate] = {
    "generic_retail": ChartTemplate(
        key="generic_retail",
        name="Generic retail chart of accounts",
        description=(
            "Country-neutral chart for a multi-store, multi-channel retailer. Every account "
            "role has an account, so all bundled posting rules work without configuration. "
            "Numbering: 1xxx assets, 2xxx liabilities, 3xxx equity, 4xxx income, "
            "5xxx cost of sales, 6xxx operating expenses, 7xxx financial and other expenses."
        ),
        accounts=_GENERIC_RETAIL_ACCOUNTS,
    ),
}


def get_template(key: str) -> ChartTemplate:
    """Return the chart template registered under ``key``.

    Raises ``KeyError`` listing the known keys, since the usual cause is a typo
    in a configuration file.
    """
    try:
        return TEMPLATES[key]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES)) or "(none)"
        raise KeyError(f"unknown chart template {key!r}; known templates: {known}") from None
