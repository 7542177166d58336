"""The trading profile of the simulated specialty retailer: every volume and rate in one place.

Volumes are per day at ``scale`` 1; ``--scale`` multiplies the counts (sales, orders), never the
amounts. Percentages are integers so that every draw is an integer draw: no float ever decides a
count or touches money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Profile:
    # -- stores and POS ------------------------------------------------------------------------------
    store_size_percent: tuple[int, int] = (60, 140)
    """Each store's size relative to an average store, drawn once per store."""
    sales_per_store_day: int = 60
    """POS sales of an average store on an average weekday (size 60 %-140 %: about 35-85 a day,
    up to 125 on a Saturday in the largest stores)."""
    weekday_percent: tuple[int, ...] = (85, 80, 90, 95, 110, 150, 60)
    """Traffic by ``day index % 7`` (day 5 is the Saturday peak, day 6 a quiet Sunday opening)."""
    web_weekday_percent: tuple[int, ...] = (110, 100, 95, 95, 90, 85, 125)
    two_terminals_above_percent: int = 120
    """Stores at least this large run two tills."""
    lines_per_sale: tuple[tuple[int, int], ...] = ((1, 52), (2, 28), (3, 13), (4, 7))
    quantity_weights: tuple[tuple[int, int], ...] = ((1, 88), (2, 10), (3, 2))
    weighed_quantities: tuple[str, ...] = ("0.25", "0.5", "0.75", "1")
    """Products sold by weight (kg) sell these amounts."""
    line_discount_percent: int = 4
    """Share of POS lines with a 10 % markdown."""
    cash_percent: int = 28
    split_tender_percent: int = 4
    out_of_system_stock_permille: int = 3
    """POS lines for a product the system thinks is out of stock (a miscount: negative stock)."""
    opening_float: Decimal = Decimal("150.00")
    safe_drop_above: Decimal = Decimal("600")
    till_exact_percent: int = 85
    till_shortage_over_threshold_percent: int = 2
    """Sessions with a shortage above the approval threshold (20.00); the rest are small differences."""

    # -- web, marketplace, b2b -----------------------------------------------------------------------
    web_orders_per_store_day: tuple[int, int] = (3, 2)
    """Web orders per day: 3 per 2 stores (60 a day for 40 stores)."""
    click_and_collect_percent: int = 25
    ship_from_store_percent: int = 10
    """Web orders shipped from the store nearest the customer (with the goods on its shelf)."""
    marketplace_orders_per_store_day: tuple[int, int] = (1, 4)
    marketplace_price_percent: int = 95
    """Marketplace price relative to the list price."""
    unpaid_cancel_percent: int = 2
    """Web orders whose payment fails: cancelled before payment."""
    paid_cancel_percent: int = 3
    """Web and marketplace orders cancelled by the customer after payment, before shipping."""
    same_day_ship_percent: int = 60
    partial_shipment_percent: int = 10
    """Multi-line ship orders sent in two parcels (the rest the next day)."""
    b2b_days: tuple[int, ...] = (1, 3)
    """``day index % 7`` on which a b2b order is placed (a couple a week)."""
    b2b_discount_percent: int = 30
    b2b_lines: tuple[int, int] = (3, 8)
    b2b_quantity: tuple[int, int] = (2, 6)

    # -- replenishment -------------------------------------------------------------------------------
    store_min_days: int = 4
    store_target_days: int = 12
    warehouse_reorder_days: int = 10
    warehouse_target_days: int = 24
    po_lead_days: tuple[int, int] = (3, 5)
    replenishment: str = "minmax"
    """``minmax``: the store minimum/target and warehouse reorder/target days above. ``forecast``: after
    ``forecast_warmup_days``, the back office runs ``analytics.replenishment.services`` each day
    (suggest, then
    accept every suggestion) with the estimator named by ``estimator``."""
    estimator: str = "forecast"
    """A key of ``analytics.replenishment.services.ESTIMATORS``: ``forecast`` (the back office runs the
    forecaster every ``forecast_every_days`` and replenishes from its latest run) or ``trailing``."""
    forecast_every_days: int = 7
    """How often the ``forecast`` estimator's run is made again (a weekly planning run)."""
    service_level: Decimal = Decimal("0.95")
    review_days: int = 7
    """The review period ``R`` of the order-up-to level (suggestions are made every day)."""
    run_every_days: int = 0
    store_review_days: int | None = None
    class_service_levels: tuple[tuple[str, Decimal], ...] = ()
    forecast_warmup_days: int = 7
    """Days the ``forecast`` policy trades on min/max first: an estimator needs sales to read."""
    partial_receipt_percent: int = 15
    partial_receipt_share_percent: int = 70
    transit_loss_permille: int = 5
    """Transfer lines that arrive one unit short (written off as lost in transit)."""
    store_to_store_percent: int = 25
    """Days on which a store short of a product gets it from a store with more than its own minimum,
    before the warehouse's replenishment."""

    # -- counts --------------------------------------------------------------------------------------
    count_lines: int = 8
    shrink_permille_per_unit: int = 15
    """Each counted unit is missing with this chance (about 1.5 % of counted units lost)."""
    found_percent_per_line: int = 2

    # -- card payouts --------------------------------------------------------------------------------
    payout_delay_days: int = 2
    fee_per_ten_thousand: tuple[tuple[str, int], ...] = (
        ("adyen", 120),
        ("stripe", 120),
        ("amazon", 1500),
        ("shopify", 190),
    )
    """Gateway fee in 1/100 %: cards 1.2 %, Shopify's payments 1.9 %, the marketplace's commission 15 %."""

    # -- returns -------------------------------------------------------------------------------------
    return_percent_by_category: tuple[tuple[str, int], ...] = (("Apparel", 20), ("Footwear", 15), ("Food", 1))
    """Share of sold lines (POS, web, marketplace) that come back, by the top of the product's category
    (``Apparel`` for ``Apparel/Tops``); ``--return-rate`` on the command line replaces entries."""
    return_default_percent: int = 5
    """Lines of the other categories."""
    return_delay_days: tuple[int, int] = (1, 7)
    """Days between the sale (POS) or the delivery (web, marketplace) and the return; returns that would
    fall after the last simulated day do not happen."""
    cross_channel_return_percent: int = 30
    """Web returns brought to a store (size-weighted) rather than posted back to the warehouse: the goods
    go to that store, the money back to the web card."""
    partial_return_percent: int = 50
    """Returned lines of two units or more of which only part comes back."""
    return_conditions: tuple[tuple[str, int], ...] = (("resaleable", 85), ("damaged", 10), ("defective", 5))
    return_reasons: tuple[tuple[str, int], ...] = (
        ("wrong_size", 35),
        ("changed_mind", 40),
        ("not_as_described", 15),
        ("other", 10),
    )
    """Reasons of resaleable returns; damaged goods come back as ``damaged_in_transit`` (web) or
    ``other``, defective ones as ``defective``."""
    store_credit_refund_percent: int = 10
    """Returns refunded to store credit by choice; the rest go back to the original card. What was paid
    in cash or by gift card is refunded to store credit too (cash refunds at the till belong to the POS
    refunds, not to the returns service)."""

    # -- gift cards and store credit -----------------------------------------------------------------
    gift_cards_per_store_day: tuple[int, int] = (1, 2)
    """Gift cards sold (by card) per store a day: 1 per 2 stores."""
    gift_card_amounts: tuple[tuple[int, int], ...] = ((20, 20), (25, 20), (50, 35), (100, 20), (150, 5))
    gift_card_pos_permille: int = 15
    """POS sales paid with a gift card (sold on an earlier day, balance left) for as much as it holds,
    the rest by bank card."""
    gift_card_web_percent: int = 3
    """Web orders paid the same way."""
    members: int = 40
    """Loyalty members: the customers returns without a customer of their own are refunded to (store
    credit), and who spend it."""
    store_credit_spend_percent: int = 30
    """Members with credit who place a web order paid with it on a given day."""

    # -- promotions, coupons, loyalty, manual discounts (simulation/campaigns.py) ----------------------
    campaigns: bool = True
    """Seasonal promotions, web coupons, the loyalty programme and the cashiers' manual discounts with
    one high-discount cashier a month (the ground truth); False trades as before them."""
    discount_limit_percent: int = 15
    """The company's manual discount limit (percent of a POS line), set when it has none; beyond it a
    store manager overrides."""
    high_discount_line_percent: int = 35
    """The month's high-discount cashier discounts this share of lines by hand (the others 4 %)..."""
    high_discount_depth_percent: tuple[int, int] = (12, 35)
    """...by this much of the line (the others 10 %); above the limit, with the manager's override."""
    coupon_batch: int = 200
    """Single-use codes generated for the web coupon."""
    coupon_web_percent: int = 15
    """Web orders presenting a coupon..."""
    coupon_reuse_percent: int = 20
    """...of which (once codes have been used) a code used already: refused, then ordered without."""
    loyalty_points_per_unit: Decimal = Decimal(1)
    loyalty_point_value: Decimal = Decimal("0.01")
    loyalty_pos_percent: int = 5
    """POS sales to a member (points earned once the batch is taken: each earning is a journal entry,
    so this share is what loyalty costs the run's time)."""
    loyalty_web_percent: int = 30
    """Web orders by a member (points earned at delivery)."""
    loyalty_burn_min_points: int = 300
    loyalty_burn_percent: int = 20
    """Members with at least the minimum who pay part of a web order with points on a given day."""

    # -- demand shape (simulation/demand.py) ----------------------------------------------------------
    category_weekday_percent: tuple[tuple[str, tuple[int, ...]], ...] = (
        ("Apparel", (90, 85, 90, 95, 105, 135, 110)),
        ("Footwear", (90, 85, 90, 95, 105, 135, 110)),
        ("Food", (115, 110, 105, 105, 110, 85, 70)),
        ("Books", (95, 95, 95, 95, 100, 105, 125)),
        ("Electronics", (100, 95, 95, 100, 105, 115, 90)),
    )
    """A product's share of the day's draws by the top of its category and ``day index % 7`` (on top of
    the store traffic of :attr:`weekday_percent`); categories not listed: 100 every day."""
    payday_days: tuple[int, ...] = (14, 15, 16)
    """Days of the calendar month around the mid-month payday..."""
    payday_percent: int = 112
    """...on which stores and the web see this much of their usual traffic."""
    holidays: tuple[tuple[str, int], ...] = (
        ("01-01", 70),
        ("05-01", 70),
        ("05-08", 120),
        ("07-14", 125),
        ("08-15", 125),
        ("11-01", 125),
        ("11-11", 130),
        ("12-24", 160),
        ("12-26", 130),
        ("12-31", 120),
    )
    """Public holidays (``MM-DD``) and the traffic they bring, in percent of the day's usual (shops that
    open on a public holiday see more shoppers; New Year's Day and May Day are quiet)."""
    promotion_uplift_percent: int = 60
    """While a promotion covering a product is active (POS, or web for the web's draws), the product's
    share of the draws goes up by this much."""

    # -- planted leaks with ground truth (simulation/leaks.py) ----------------------------------------
    leaks: bool = True
    """False: none of the three leaks below (the high-discount cashier is ``campaigns``')."""
    no_receipt_refund_percent: int = 12
    """Tills that ring one ordinary no-receipt refund (paid in cash) on a given day: the background the
    refund fraud stands out from."""
    refund_fraud: bool = True
    refund_fraud_days: int = 6
    refund_fraud_per_day: tuple[int, int] = (5, 9)
    """No-receipt refunds paid in cash the fraudulent cashier rings a day..."""
    refund_fraud_after_hours: tuple[int, int] = (1, 3)
    """...and sales rung after the store has closed (21:00-21:59)."""
    below_margin_promotion: bool = True
    below_margin_days: int = 5
    below_margin_percent_off: int = 60
    """The misconfigured promotion's discount (costs are about half the list price: below cost)."""
    margin_floor_percent: int = 25
    """The margin floor set on the promoted product (the promotion breaches it; finance overrides)."""
    price_typo: bool = True
    price_typo_days: int = 3
    price_typo_divisor: int = 10
    """The typo drops a digit: the store's price is the list price divided by this."""


PROFILE = Profile()
