"""What a simulation produced: counts kept while trading, money read back from the ledger."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.accounting.reports import trial_balance
from retailcore.inventory import tables as inv
from retailcore.inventory.valuation import check_agreement
from retailcore.masterdata import tables as t

ZERO = Decimal(0)
CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT, ROUND_HALF_UP))


def _quantity(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


@dataclass
class Counters:
    """Counts the simulator keeps as it trades (the money is read from the ledger at the end)."""

    pos_sales: int = 0
    sessions: int = 0
    cash_movements: int = 0
    lost_pos_lines: int = 0
    orders: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    partial_shipments: int = 0
    invoices: int = 0
    transfers: int = 0
    store_to_store: int = 0
    transfers_received: int = 0
    transit_losses: int = 0
    purchase_orders: int = 0
    receipts: int = 0
    partial_receipts: int = 0
    count_sheets: int = 0
    counted_units: Decimal = ZERO
    units_lost: Decimal = ZERO
    units_found: Decimal = ZERO
    cash_differences: int = 0
    cash_differences_over_threshold: int = 0
    cash_difference_total: Decimal = ZERO
    payouts: int = 0
    payout_gross: Decimal = ZERO
    payout_fees: Decimal = ZERO
    payout_net: Decimal = ZERO
    settlement_lines: int = 0
    settlement_mismatches: int = 0
    cash_deposits: int = 0
    cash_deposited: Decimal = ZERO
    bank_statements: int = 0
    bank_entries: int = 0
    bank_unmatched: int = 0
    faults: dict[str, str] = field(default_factory=dict)
    stock_exceptions: dict[str, int] = field(default_factory=dict)
    returns: int = 0
    returned_units: Decimal = ZERO
    refunds_total: Decimal = ZERO
    cross_channel_returns: int = 0
    returns_to_store_credit: int = 0
    returns_by_condition: Counter[str] = field(default_factory=Counter)
    returns_after_the_window: int = 0
    """Returns drawn for a day after the last simulated one (they do not happen)."""
    gift_cards_sold: int = 0
    gift_cards_sold_amount: Decimal = ZERO
    gift_cards_redeemed: Decimal = ZERO
    store_credit_issued: Decimal = ZERO
    store_credit_spent: Decimal = ZERO
    demand_lines: Counter[str] = field(default_factory=Counter)
    """Attempts to take a product from a shelf, per ``store``/``warehouse`` (the stock-out rate's base)."""
    stockout_lines: Counter[str] = field(default_factory=Counter)
    lost_units: dict[str, Decimal] = field(default_factory=lambda: {"store": ZERO, "warehouse": ZERO})
    lost_value: dict[str, Decimal] = field(default_factory=lambda: {"store": ZERO, "warehouse": ZERO})
    """Demand the shelf could not serve, at the list price."""
    inventory_value_days: Decimal = ZERO
    """Sum of the daily snapshots of stock at cost (stores and warehouse)."""
    inventory_snapshots: int = 0


Summary = dict[str, Any]
"""JSON-ready: counts are ints, money and quantities Decimal strings, checks booleans."""


def _by_role(session: Session, company_id: Any, date_from: dt.date, date_to: dt.date) -> dict[str, Decimal]:
    """Debit minus credit over the period per account role, from the trial balance."""
    report = trial_balance(session, company_id, date_from, date_to)
    roles = dict(
        session.execute(
            select(t.Account.code, t.Account.role).where(t.Account.company_id == company_id)
        ).all()
    )
    totals: dict[str, Decimal] = {}
    for row in report.rows:
        role = roles.get(row.account_code) or row.account_code
        totals[role] = totals.get(role, ZERO) + Decimal(row.period_debit) - Decimal(row.period_credit)
    return totals


def _rate(part: int, whole: int) -> str:
    return str((Decimal(part) * 100 / whole).quantize(CENT, ROUND_HALF_UP)) if whole else "0.00"


def _replenishment(counters: Counters) -> dict[str, Any]:
    """Lost sales (per channel and in all) and the average stock value at cost (daily snapshots)."""
    lost = {
        channel: {
            "demand_lines": counters.demand_lines[channel],
            "stockout_lines": counters.stockout_lines[channel],
            "stockout_rate_percent": _rate(counters.stockout_lines[channel], counters.demand_lines[channel]),
            "lost_units": _quantity(counters.lost_units[channel]),
            "lost_value": _money(counters.lost_value[channel]),
        }
        for channel in ("store", "warehouse")
    }
    average = (
        counters.inventory_value_days / counters.inventory_snapshots if counters.inventory_snapshots else ZERO
    )
    return {
        "lost_sales": lost,
        "lost_units": _quantity(sum(counters.lost_units.values(), ZERO)),
        "lost_value": _money(sum(counters.lost_value.values(), ZERO)),
        "stockout_rate_percent": _rate(
            sum(counters.stockout_lines.values()), sum(counters.demand_lines.values())
        ),
        "average_inventory_value": _money(average),
    }


def summarize(
    session: Session,
    company: t.Company,
    counters: Counters,
    *,
    start: dt.date,
    days: int,
    stores: int,
    seed: int,
    scale: Decimal,
) -> Summary:
    end = start + dt.timedelta(days=days - 1)
    roles = _by_role(session, company.id, start, end)
    revenue = -roles.get("sales_revenue", ZERO) - roles.get("sales_returns", ZERO)
    cogs = roles.get("cogs", ZERO)
    margin = revenue - cogs
    percent = (margin * 100 / revenue).quantize(Decimal("0.01"), ROUND_HALF_UP) if revenue else ZERO
    balanced = trial_balance(session, company.id, start - dt.timedelta(days=1), end).balanced
    agrees = check_agreement(session, company.id, end).agrees
    on_hand = session.scalar(
        select(func.coalesce(func.sum(inv.StockQuant.quantity), 0)).where(
            inv.StockQuant.company_id == company.id
        )
    )
    orders = dict(sorted(counters.orders.items()))
    return {
        "company": company.code,
        "days": days,
        "stores": stores,
        "seed": seed,
        "scale": str(scale),
        "orders": {"pos": counters.pos_sales, **orders},
        "pos_sessions": counters.sessions,
        "cancellations": dict(sorted(counters.cancelled.items())),
        "partial_shipments": counters.partial_shipments,
        "refused": dict(sorted(counters.refused.items())),
        "invoices": counters.invoices,
        "revenue_net": _money(revenue),
        "cogs": _money(cogs),
        "gross_margin": _money(margin),
        "gross_margin_percent": str(percent),
        "shrinkage": _money(roles.get("inventory_shrinkage", ZERO)),
        "card_payouts": {
            "count": counters.payouts,
            "gross": _money(counters.payout_gross),
            "fees": _money(counters.payout_fees),
            "net": _money(counters.payout_net),
            "settlement_lines": counters.settlement_lines,
            "mismatches": counters.settlement_mismatches,
        },
        "bank": {
            "statements": counters.bank_statements,
            "entries": counters.bank_entries,
            "unmatched": counters.bank_unmatched,
            "cash_deposits": counters.cash_deposits,
            "cash_deposited": _money(counters.cash_deposited),
        },
        **({"planted_faults": dict(counters.faults)} if counters.faults else {}),
        "cash_differences": {
            "sessions": counters.cash_differences,
            "over_threshold": counters.cash_differences_over_threshold,
            "total": _money(counters.cash_difference_total),
        },
        "cash_movements": counters.cash_movements,
        "transfers": {
            "shipped": counters.transfers,
            "store_to_store": counters.store_to_store,
            "received": counters.transfers_received,
            "with_transit_loss": counters.transit_losses,
        },
        "purchasing": {
            "orders": counters.purchase_orders,
            "receipts": counters.receipts,
            "partial": counters.partial_receipts,
        },
        "counts": {
            "sheets": counters.count_sheets,
            "units_counted": _quantity(counters.counted_units),
            "units_lost": _quantity(counters.units_lost),
            "units_found": _quantity(counters.units_found),
        },
        "stock_exceptions": counters.stock_exceptions,
        "returns": {
            "count": counters.returns,
            "units": _quantity(counters.returned_units),
            "refunds_total": _money(counters.refunds_total),
            "cross_channel": counters.cross_channel_returns,
            "to_store_credit": counters.returns_to_store_credit,
            **{
                condition: counters.returns_by_condition[condition]
                for condition in ("resaleable", "damaged", "defective")
            },
        },
        "gift_cards": {
            "sold": counters.gift_cards_sold,
            "sold_amount": _money(counters.gift_cards_sold_amount),
            "redeemed_amount": _money(counters.gift_cards_redeemed),
        },
        "store_credit": {
            "issued": _money(counters.store_credit_issued),
            "spent": _money(counters.store_credit_spent),
        },
        "units_on_hand": _quantity(on_hand),
        "replenishment": _replenishment(counters),
        "stock_agrees_with_ledger": agrees,
        "trial_balance_balanced": balanced,
    }
