"""The default posting rules (DESIGN.md section 3), seeded into every new company's ledger.

Each entry below is plain data, stored per company in ``posting_rules`` where finance can change it
(a change takes effect from a date). The payload each event type must carry is documented in
``docs/ledger.md``; amounts are decimal strings in the event's ``currency``.
"""

from __future__ import annotations

from typing import Any

JOURNALS: dict[str, str] = {
    "POS": "Point of sale",
    "SALES": "Sales",
    "STOCK": "Stock valuation",
    "BANK": "Bank and payment clearing",
    "PURCH": "Purchases",
    "MISC": "Miscellaneous operations",
    "FX": "Exchange differences",
}

TENDER_ROLES = {
    "cash": "cash_drawer",
    "card": "card_clearing",
    "gift_card": "gift_card_liability",
    "store_credit": "store_credit_liability",
    "on_account": "receivable",
}


def _line(
    side: str,
    role: str,
    amount: str,
    label: str,
    for_each: str | None = None,
    optional: bool = False,
    **where: Any,
) -> dict[str, Any]:
    line: dict[str, Any] = {"side": side, "account_role": role, "amount": amount, "label": label}
    if optional:
        line["optional"] = True
    if for_each:
        line["for_each"] = for_each
    if where:
        line["where"] = where
    return line


def _tenders(side: str, list_name: str, label: str) -> list[dict[str, Any]]:
    """One line per tender kind, each to its own account role."""
    return [
        _line(side, role, "amount", f"{label} {kind}", list_name, kind=kind)
        for kind, role in TENDER_ROLES.items()
    ]


EXCHANGE_TAKEN = _line("debit", "refunds_payable", "amount", "POS exchange", "tenders", kind="exchange")
"""A POS exchange: the new goods paid by the goods given back (the close's tenders)..."""
EXCHANGE_GIVEN = _line("credit", "refunds_payable", "amount", "Exchange", "refunds", kind="exchange")
"""...and the goods given back paid by the new goods (the close's refunds): the two net to zero in
``refunds_payable`` per session (docs/decisions/0030-exchanges-and-gift-cards-at-the-till.md). Not in
``TENDER_ROLES``: no other rule has an exchange to post."""


CASH_ROUNDING = _line("credit", "rounding", "cash_rounding", "Cash rounding", optional=True)
"""A POS session's cash rounding (decision 0059): the tenders took more than the goods (or paid out less
on refunds): a gain, credited; negative, a loss, debited (the engine turns a negative amount's side).
In the close (``PosSessionClosed``) and the session's refunds (``ReturnRefunded``)."""


LOYALTY_TAKEN = _line(
    "debit", "loyalty_liability", "amount", "Paid by loyalty points", "tenders", kind="loyalty"
)
"""Points burned as a tender (an order's ``TenderAccepted``, a POS session's close): the liability they
were booked at goes (decision 0049). Not in ``TENDER_ROLES``: points never pay for gift cards."""
LOYALTY_GIVEN = _line(
    "credit", "loyalty_liability", "amount", "Returned to loyalty points", "tenders", kind="loyalty"
)
"""Points given back when an order they paid is cancelled (``TenderReturned``)."""


def _sales(label: str) -> list[dict[str, Any]]:
    return [
        _line("credit", "sales_revenue", "net", f"{label} {{product_category}}", "sales"),
        _line("credit", "output_tax", "tax", f"{label} tax {{tax_code}}", "sales"),
        *_discount_lines(label),
    ]


def _discount_lines(label: str) -> list[dict[str, Any]]:
    """A company posting discounts to contra-revenue (``discount_settings.posting`` is ``contra``,
    decision 0050) sends a ``discounts`` list ``[{product_category, amount}]`` (the discounts net of
    tax): revenue is credited what the goods were worth before them and ``sales_discounts`` debited the
    discounts, so the two add up to the net revenue. Net posting sends no list: these lines write
    nothing."""
    return [
        _line("credit", "sales_revenue", "amount", f"{label} discounts {{product_category}}", "discounts"),
        _line("debit", "sales_discounts", "amount", f"{label} discounts {{product_category}}", "discounts"),
    ]


def _shipping_lines(label: str) -> list[dict[str, Any]]:
    """An order's shipping charge, recognised with its first delivery (decision 0057): a ``shipping``
    list ``[{tax_code, net, tax}]`` credits ``shipping_revenue`` and ``output_tax``; a contra-posting
    company also sends ``shipping_discounts`` ``[{amount}]`` (the free-shipping discount net of tax),
    credited to ``shipping_revenue`` and debited to ``sales_discounts``. An order without shipping
    sends neither list: these lines write nothing."""
    discounts = f"{label} discounts {{order_ref}}"
    return [
        _line("credit", "shipping_revenue", "net", f"{label} {{order_ref}}", "shipping"),
        _line("credit", "output_tax", "tax", f"{label} tax {{tax_code}}", "shipping"),
        _line("credit", "shipping_revenue", "amount", discounts, "shipping_discounts"),
        _line("debit", "sales_discounts", "amount", discounts, "shipping_discounts"),
    ]


def _pinned(side: str, field: str, amount: str, label: str) -> dict[str, Any]:
    """A line to the account whose code the payload carries in ``field`` (a gateway's accounts)."""
    return {"side": side, "account_code": f"${field}", "amount": amount, "label": label, "optional": True}


SETTLEMENT_RULES: list[dict[str, Any]] = [
    {
        "code": "gateway-settlement",
        "name": "Gateway settlement lines of a payout batch: clearing, fees, chargebacks, transit, bank",
        "event_type": "GatewaySettlementPosted",
        "journal_code": "BANK",
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
        "lines": [
            _pinned("debit", "debit_account", "amount", "{kind} {reference}"),
            _pinned("credit", "credit_account", "amount", "{kind} {reference}"),
        ],
    },
]
"""Settlement import (decision 0035): each gateway names its own accounts in the payload."""

BANK_RULES: list[dict[str, Any]] = [
    {
        "code": "bank-statement-match",
        "name": "Bank statement entry matched: bank against what it clears, the difference apart",
        "event_type": "BankEntryMatched",
        "journal_code": "BANK",
        "lines": [
            _pinned("debit", "bank_account", "amount", "Bank {what}"),
            _pinned("credit", "counter_account", "expected", "Bank {what}"),
            _pinned("debit", "difference_account", "difference", "Difference {what}"),
        ],
    },
]
"""Bank statements (decision 0037): the bank account's ledger account against the payout's transit
account, the safe (cash deposits) or payables (supplier payments); a difference within the tolerance to
the gateway's fee account or the cash difference accounts."""


def _to_code(side: str, field: str, amount: str, label: str) -> dict[str, Any]:
    """A line to the account whose code the payload carries in ``field``, never optional."""
    return {"side": side, "account_code": f"${field}", "amount": amount, "label": label}


FX_SETTLEMENT_RULES: list[dict[str, Any]] = [
    {
        "code": "fx-settled-foreign",
        "name": "Foreign money turned into the company's: it leaves its account at the rate it was booked at",
        "event_type": "ForeignMoneySettled",
        "journal_code": "FX",
        "lines": [
            _to_code("credit", "account", "amount", "Settled in {settled_currency} {what}"),
            _line("debit", "$difference_role", "amount", "Exchange difference {what}"),
        ],
    },
    {
        "code": "fx-settled-received",
        "name": "Foreign money turned into the company's: what arrived in the company's currency",
        "event_type": "ForeignMoneyReceived",
        "journal_code": "FX",
        "lines": [
            _to_code("debit", "account", "amount", "Received for {what}"),
            _line("credit", "$difference_role", "amount", "Exchange difference {what}"),
        ],
    },
]
"""The realized exchange difference (decision 0062, ``accounting.fx.realize``): a foreign amount that a
gateway pays out or a bank credits in the company's currency. Entries balance per currency, so the
settlement is two events on the same date: in the foreign currency at the booked rate, the foreign
amount leaves its account (card clearing, the safe) against the difference account (zeroing the
account's foreign balance, which the revaluation would otherwise restate); in the company's currency,
what arrived goes back to the account against the difference account. The account ends at zero in both
currencies; the difference account (``fx_realized_gain`` or ``fx_realized_loss``, by the sign, in
``difference_role``) keeps what arrived less what was booked."""


INTERCOMPANY_RULES: list[dict[str, Any]] = [
    {
        "code": "intercompany-goods-shipped",
        "name": "Goods of this company sold or moved to a group company: stock out at cost, due from it",
        "event_type": "IntercompanyGoodsShipped",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "cogs", "cost", "IC COGS {reference} {product_category}", "items"),
            _line("credit", "$stock_role", "cost", "IC stock out {reference} {product_category}", "items"),
            _to_code("debit", "receivable_account", "amount", "Due from {counterparty} {reference}"),
            _to_code("credit", "revenue_account", "amount", "IC sale to {counterparty} {reference}"),
        ],
    },
    {
        "code": "intercompany-goods-received",
        "name": "Goods bought from a group company into stock at the transfer price, due to it",
        "event_type": "IntercompanyGoodsReceived",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$stock_role", "cost", "IC stock in {reference} {product_category}", "items"),
            _to_code("credit", "payable_account", "amount", "Due to {counterparty} {reference}"),
        ],
    },
    {
        "code": "intercompany-resale",
        "name": "A group company's goods sold here to a customer: the customer's sale",
        "event_type": "IntercompanyResaleRecorded",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "receivable", "gross", "Customer {reference}"),
            _line("credit", "sales_revenue", "net", "Sale {reference}"),
            _line("credit", "output_tax", "tax", "Sale tax {reference}", optional=True),
        ],
    },
    {
        "code": "intercompany-purchase",
        "name": "A group company's goods sold on here: their transfer price due to it",
        "event_type": "IntercompanyPurchaseRecorded",
        "journal_code": "PURCH",
        "lines": [
            _to_code("debit", "cost_account", "amount", "IC cost {counterparty} {reference}"),
            _to_code("credit", "payable_account", "amount", "Due to {counterparty} {reference}"),
        ],
    },
]
"""Intercompany flows (decision 0040, docs/multi-company.md): each company's side is its own event,
posted to accounts kept per counterparty (the payload names their codes)."""
ACCRUAL_RULES: list[dict[str, Any]] = [
    {
        "code": "accrual-shipped-not-invoiced",
        "name": "Period-end accrual: the receivable of goods shipped and not invoiced, shown as unbilled",
        "event_type": "ShippedNotInvoicedAccrued",
        "journal_code": "MISC",
        "lines": [
            _line("debit", "unbilled_receivable", "amount", "Unbilled {order_ref}", "orders"),
            _line("credit", "receivable", "amount", "Unbilled {order_ref}", "orders"),
        ],
    },
]
"""The close's accrual run (decision 0041): revenue was recognised at shipment, so the accrual moves the
uninvoiced part of the receivable to ``unbilled_receivable`` at the period's end; the run reverses it on
the next period's first day. A negative amount (less to accrue than a previous run did) swaps sides."""


def _loyalty(
    code: str, name: str, event_type: str, debit: str, credit: str, label: str, **conditions: Any
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "code": code,
        "name": name,
        "event_type": event_type,
        "journal_code": "SALES",
        "lines": [_line("debit", debit, "amount", label), _line("credit", credit, "amount", label)],
    }
    if conditions:
        rule["conditions"] = conditions
    return rule


LOYALTY_RULES: list[dict[str, Any]] = [
    _loyalty(
        "loyalty-points-earned",
        "Loyalty points earned on an order: a cost, and a liability at the points' value",
        "LoyaltyPointsEarned",
        "loyalty_cost",
        "loyalty_liability",
        "Loyalty points {order_ref}",
    ),
    _loyalty(
        "loyalty-points-reversed",
        "Loyalty points of a refunded order taken back",
        "LoyaltyPointsReversed",
        "loyalty_liability",
        "loyalty_cost",
        "Loyalty points reversed {order_ref}",
    ),
    _loyalty(
        "loyalty-revalued-up",
        "Loyalty points outstanding revalued at a higher point value",
        "LoyaltyLiabilityRevalued",
        "loyalty_cost",
        "loyalty_liability",
        "Loyalty points revalued",
        direction="up",
    ),
    _loyalty(
        "loyalty-revalued-down",
        "Loyalty points outstanding revalued at a lower point value",
        "LoyaltyLiabilityRevalued",
        "loyalty_liability",
        "loyalty_cost",
        "Loyalty points revalued",
        direction="down",
    ),
]
"""Decision 0049: the liability is points outstanding x point value. Burning is a tender
(:data:`LOYALTY_TAKEN`)."""


DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "code": "pos-session-close",
        "name": "POS sales of a session, aggregated at close",
        "event_type": "PosSessionClosed",
        "journal_code": "POS",
        "lines": [
            *_tenders("debit", "tenders", "POS tender"),
            EXCHANGE_TAKEN,
            LOYALTY_TAKEN,
            *_sales("POS sales"),
            _line("credit", "receivable", "invoice_payments", "Paid at the till on invoices", optional=True),
            _line("credit", "receivable", "amount", "Paid at the till on invoices", "customer_payments"),
            _line("credit", "gift_card_liability", "gift_cards_sold", "Gift cards sold", optional=True),
            _line("debit", "cogs", "cost", "POS COGS {product_category}", "cogs"),
            _line("credit", "$stock_role", "cost", "POS stock out {product_category}", "cogs"),
            _line("debit", "cash_drawer", "cash_over", "Cash over at close", optional=True),
            _line("credit", "cash_difference_gain", "cash_over", "Cash over at close", optional=True),
            _line("debit", "cash_difference_loss", "cash_short", "Cash short at close", optional=True),
            _line("credit", "cash_drawer", "cash_short", "Cash short at close", optional=True),
            _line("debit", "cash_in_transit", "cash_handed_over", "Counted cash to the safe", optional=True),
            _line("credit", "cash_drawer", "cash_handed_over", "Counted cash to the safe", optional=True),
            CASH_ROUNDING,
        ],
    },
    {
        "code": "pos-session-cost-of-sales",
        "name": "Cost of a foreign-currency POS session's sales, in the company's currency, at close",
        "event_type": "PosSessionCostOfSales",
        "journal_code": "POS",
        "lines": [
            _line("debit", "cogs", "cost", "POS COGS {product_category}", "cogs"),
            _line("credit", "$stock_role", "cost", "POS stock out {product_category}", "cogs"),
        ],
    },
    {
        "code": "pos-session-float",
        "name": "POS session opened: the float goes from the safe into the drawer",
        "event_type": "PosSessionOpened",
        "journal_code": "POS",
        "lines": [
            _line("debit", "cash_drawer", "opening_float", "Float {reference}", optional=True),
            _line("credit", "cash_in_transit", "opening_float", "Float {reference}", optional=True),
        ],
    },
    {
        "code": "pos-cash-movement",
        "name": "Cash put into or taken out of a POS drawer during a session",
        "event_type": "PosCashMoved",
        "journal_code": "POS",
        "lines": [
            _line("debit", "cash_drawer", "cash_in", "Cash in: {reason}", optional=True),
            _line("credit", "cash_in_transit", "cash_in", "Cash in: {reason}", optional=True),
            _line("debit", "cash_in_transit", "cash_out", "Cash out: {reason}", optional=True),
            _line("credit", "cash_drawer", "cash_out", "Cash out: {reason}", optional=True),
        ],
    },
    {
        "code": "invoice-to-receivable",
        "name": "Sale invoiced at the till: revenue to the customer's receivable",
        "event_type": "InvoiceIssued",
        "journal_code": "SALES",
        "conditions": {"posting": "receivable"},
        "lines": [
            _line("debit", "receivable", "gross", "Invoice {number}"),
            *_sales("Invoice"),
            # COGS posted with the invoice (``pos_cogs_settings.pos_invoiced_cogs`` = ``with_invoice``,
            # decision 0060); an invoice without a ``cogs`` list writes none.
            _line("debit", "cogs", "cost", "COGS {product_category}", "cogs"),
            _line("credit", "$stock_role", "cost", "Stock out {product_category}", "cogs"),
        ],
    },
    {
        "code": "goods-issued",
        "name": "Goods leave stock (any channel)",
        "event_type": "GoodsIssued",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "cogs", "cost", "COGS {product_category}", "items"),
            _line("credit", "$stock_role", "cost", "Stock out {product_category}", "items"),
        ],
    },
    {
        "code": "web-payment-captured",
        "name": "Web order paid before shipping: customer deposit",
        "event_type": "PaymentCaptured",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "card_clearing", "amount", "Capture {gateway} {order_ref}"),
            _line("credit", "customer_deposits", "amount", "Deposit {order_ref}"),
        ],
    },
    {
        "code": "order-payment-captured",
        "name": "Order paid by card: a deposit before delivery, a settlement of receivable after",
        "event_type": "PaymentCaptured",
        "journal_code": "BANK",
        "priority": 50,
        "conditions": {"split": True},
        "lines": [
            _line("debit", "card_clearing", "amount", "Capture {gateway} {order_ref}"),
            _line("credit", "customer_deposits", "deposit", "Deposit {order_ref}", optional=True),
            _line("credit", "receivable", "settled", "Paid {order_ref}", optional=True),
        ],
    },
    {
        "code": "order-tender-accepted",
        "name": "Order paid by gift card or store credit: a deposit before delivery, a settlement after",
        "event_type": "TenderAccepted",
        "journal_code": "SALES",
        "lines": [
            *_tenders("debit", "tenders", "Paid by"),
            LOYALTY_TAKEN,
            _line("credit", "customer_deposits", "deposit", "Deposit {order_ref}", optional=True),
            _line("credit", "receivable", "settled", "Paid {order_ref}", optional=True),
        ],
    },
    {
        "code": "web-payment-refunded",
        "name": "Order payment refunded before fulfilment: deposit given back",
        "event_type": "PaymentRefunded",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "customer_deposits", "amount", "Deposit refunded {order_ref}"),
            _line("credit", "card_clearing", "amount", "Refund {gateway} {order_ref}"),
        ],
    },
    {
        "code": "order-tender-returned",
        "name": "Gift card or store credit given back when an order is cancelled",
        "event_type": "TenderReturned",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "customer_deposits", "amount", "Deposit returned {order_ref}"),
            *_tenders("credit", "tenders", "Returned to"),
            LOYALTY_GIVEN,
        ],
    },
    {
        "code": "order-fulfilled",
        "name": "Order fulfilled (shipped, collected): revenue recognised",
        "event_type": "OrderFulfilled",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "customer_deposits", "paid_amount", "Deposit used {order_ref}", optional=True),
            _line("debit", "receivable", "due_amount", "Due {order_ref}", optional=True),
            *_sales("Sales"),
            *_shipping_lines("Shipping"),
        ],
    },
    {
        "code": "card-settlement",
        "name": "Card settlement or payout: clearing to bank net of fees",
        "event_type": "SettlementImported",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "bank", "net", "Payout {gateway} {batch}"),
            _line("debit", "gateway_fees", "fees", "Fees {gateway} {batch}", optional=True),
            _line("credit", "card_clearing", "gross", "Settled {gateway} {batch}"),
        ],
    },
    {
        "code": "chargeback",
        "name": "Chargeback",
        "event_type": "ChargebackRecorded",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "chargebacks", "amount", "Chargeback {gateway} {reference}"),
            _line("credit", "card_clearing", "amount", "Chargeback {gateway} {reference}"),
        ],
    },
    *SETTLEMENT_RULES,
    *BANK_RULES,
    *FX_SETTLEMENT_RULES,
    *INTERCOMPANY_RULES,
    *ACCRUAL_RULES,
    {
        "code": "cash-deposit",
        "name": "Cash taken from the drawer to the bank",
        "event_type": "CashDeposited",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "cash_in_transit", "amount", "Cash deposit {reference}"),
            _line("credit", "cash_drawer", "amount", "Cash deposit {reference}"),
        ],
    },
    {
        "code": "cash-deposit-banked",
        "name": "Cash deposit confirmed by the bank statement",
        "event_type": "CashDepositBanked",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "bank", "amount", "Cash banked {reference}"),
            _line("credit", "cash_in_transit", "amount", "Cash banked {reference}"),
        ],
    },
    {
        "code": "gift-card-sold",
        "name": "Gift card sold on its own: a liability, no revenue",
        "event_type": "GiftCardSold",
        "journal_code": "SALES",
        "lines": [
            *_tenders("debit", "tenders", "Gift card paid by"),
            _line("credit", "gift_card_liability", "amount", "Gift card {card_ref}"),
        ],
    },
    {
        "code": "gift-card-given",
        "name": "Gift card given away (promotion, goodwill): a marketing cost and a liability",
        "event_type": "GiftCardGiven",
        "journal_code": "MISC",
        "lines": [
            _line("debit", "customer_goodwill", "amount", "Gift card given {card_ref}"),
            _line("credit", "gift_card_liability", "amount", "Gift card {card_ref}"),
        ],
    },
    {
        "code": "gift-card-reloaded",
        "name": "Gift card reloaded: a liability, no revenue",
        "event_type": "GiftCardReloaded",
        "journal_code": "SALES",
        "lines": [
            *_tenders("debit", "tenders", "Gift card reload paid by"),
            _line("credit", "gift_card_liability", "amount", "Gift card reloaded {card_ref}"),
        ],
    },
    {
        "code": "gift-card-breakage",
        "name": "Gift card expired: its unredeemed balance recognised as breakage income",
        "event_type": "GiftCardExpired",
        "journal_code": "MISC",
        "lines": [
            _line("debit", "gift_card_liability", "amount", "Gift card expired {card_ref}"),
            _line("credit", "gift_card_breakage", "amount", "Breakage {card_ref}"),
        ],
    },
    *LOYALTY_RULES,
    {
        "code": "store-credit-goodwill",
        "name": "Store credit given as a goodwill gesture: a cost and a liability to the customer",
        "event_type": "StoreCreditIssued",
        "journal_code": "MISC",
        "conditions": {"source": "goodwill", "post": True},
        "lines": [
            _line("debit", "customer_goodwill", "amount", "Goodwill {reference}"),
            _line("credit", "store_credit_liability", "amount", "Store credit {reference}"),
        ],
    },
    {
        "code": "return-refunded",
        "name": "Return with refund: contra revenue, tax back, refund tender",
        "event_type": "ReturnRefunded",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "sales_returns", "net", "Return {product_category}", "lines"),
            _line("debit", "output_tax", "tax", "Return tax {tax_code}", "lines"),
            *_tenders("credit", "refunds", "Refund"),
            EXCHANGE_GIVEN,
            CASH_ROUNDING,
        ],
    },
    {
        "code": "return-refund-approved",
        "name": "Return refund approved: contra revenue and tax back at the sale's prices, refund payable",
        "event_type": "ReturnRefundApproved",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "sales_returns", "net", "Return {return_ref} {product_category}", "lines"),
            _line("debit", "output_tax", "tax", "Return {return_ref} tax {tax_code}", "lines"),
            _line("credit", "refunds_payable", "amount", "Refund due {return_ref}"),
            _line(
                "credit", "restocking_fees", "restocking_fee", "Restocking fee {return_ref}", optional=True
            ),
            _line("credit", "output_tax", "tax", "Restocking fee {return_ref} tax {tax_code}", "fee_taxes"),
        ],
    },
    {
        "code": "return-refund-paid",
        "name": "Return refund paid out in cash, to store credit or to a card reference",
        "event_type": "ReturnRefundPaid",
        "journal_code": "BANK",
        "lines": [
            _line("debit", "refunds_payable", "amount", "Refund paid {return_ref} {kind}", "tenders"),
            *_tenders("credit", "tenders", "Refund paid"),
        ],
    },
    {
        "code": "return-payment-refunded",
        "name": "Return refunded to the original card: the gateway pays the refund payable",
        "event_type": "PaymentRefunded",
        "journal_code": "BANK",
        "priority": 50,
        "conditions": {"for_return": True},
        "lines": [
            _line("debit", "refunds_payable", "amount", "Refund paid {return_ref} {gateway}"),
            _line("credit", "card_clearing", "amount", "Refund {gateway} {order_ref}"),
        ],
    },
    {
        "code": "return-received",
        "name": "Returned goods restocked or damaged",
        "event_type": "ReturnReceived",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$stock_role", "cost", "Returned {product_category} ({disposition})", "items"),
            _line("credit", "cogs", "cost", "Return to stock {product_category}", "items"),
        ],
    },
    {
        "code": "goods-received",
        "name": "Goods received on a purchase order",
        "event_type": "GoodsReceived",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$stock_role", "cost", "Receipt {product_category}", "items"),
            _line(
                "debit",
                "price_variance",
                "variance",
                "Price variance {product_category}",
                "items",
                optional=True,
            ),
            _line("credit", "goods_received_not_invoiced", "purchase_value", "Receipt {reference}", "items"),
        ],
    },
    {
        "code": "vendor-bill",
        "name": "Vendor bill",
        "event_type": "VendorBillRecorded",
        "journal_code": "PURCH",
        "lines": [
            _line("debit", "goods_received_not_invoiced", "goods_amount", "Bill {reference}"),
            _line("debit", "price_variance", "price_variance", "Price difference {reference}", optional=True),
            _line("debit", "input_tax", "tax", "Input tax {tax_code}", "taxes"),
            _line("credit", "payables", "total", "Bill {reference} {supplier}"),
        ],
    },
    {
        "code": "transfer-shipped",
        "name": "Transfer between stores shipped",
        "event_type": "TransferShipped",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$to_role", "cost", "Transfer out {reference}", "items"),
            _line("credit", "$stock_role", "cost", "Transfer out {reference}", "items"),
        ],
    },
    {
        "code": "transfer-received",
        "name": "Transfer between stores received",
        "event_type": "TransferReceived",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$to_role", "cost", "Transfer in {reference}", "items"),
            _line("credit", "$stock_role", "cost", "Transfer in {reference}", "items"),
        ],
    },
    {
        "code": "stock-count",
        "name": "Cycle count difference (positive found, negative lost)",
        "event_type": "StockCounted",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$stock_role", "difference", "Count {product_category}", "items"),
            _line("credit", "inventory_shrinkage", "difference", "Count {product_category}", "items"),
        ],
    },
    {
        "code": "stock-scrapped",
        "name": "Goods scrapped or lost (in a store or in transit)",
        "event_type": "StockScrapped",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "inventory_shrinkage", "cost", "Scrap {product_category}", "items"),
            _line("credit", "$stock_role", "cost", "Scrap {product_category}", "items"),
        ],
    },
    {
        "code": "stock-moved-internally",
        "name": "Goods moved between locations valued on different accounts (stock to damaged)",
        "event_type": "StockMovedInternally",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$to_role", "cost", "Moved {product_category}", "items"),
            _line("credit", "$stock_role", "cost", "Moved {product_category}", "items"),
        ],
    },
    {
        "code": "supplier-return",
        "name": "Goods returned to the supplier",
        "event_type": "SupplierReturned",
        "journal_code": "STOCK",
        "lines": [
            _line(
                "debit",
                "goods_received_not_invoiced",
                "purchase_value",
                "Return to supplier {reference}",
                "items",
            ),
            _line("credit", "$stock_role", "cost", "Return to supplier {reference}", "items"),
            _line(
                "credit",
                "price_variance",
                "variance",
                "Return to supplier {reference} {sku}",
                "items",
                optional=True,
            ),
        ],
    },
    {
        "code": "standard-cost-changed",
        "name": "Stock on hand revalued at a product's new standard cost (difference to price variance)",
        "event_type": "StandardCostChanged",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "$stock_role", "amount", "Standard cost {sku}", "items"),
            _line("credit", "price_variance", "amount", "Standard cost {sku}", "items"),
        ],
    },
    {
        "code": "stock-cost-corrected",
        "name": "Negative stock revalued when goods arrive (difference to COGS)",
        "event_type": "StockCostCorrected",
        "journal_code": "STOCK",
        "lines": [
            _line("debit", "cogs", "amount", "Cost correction {product_category}", "items"),
            _line("credit", "$stock_role", "amount", "Cost correction {product_category}", "items"),
        ],
    },
    {
        "code": "intercompany-sale",
        "name": "Sale between two companies (ship-from-store across entities), seller side",
        "event_type": "IntercompanySaleFulfilled",
        "journal_code": "SALES",
        "lines": [
            _line("debit", "intercompany_receivable", "amount", "Intercompany {counterparty}"),
            *_sales("Intercompany sales"),
        ],
    },
]

POSTABLE_EVENT_TYPES = frozenset(rule["event_type"] for rule in DEFAULT_RULES)
