"""The pure pricing engine: every kind, targeting and windows, coupons, the stacking modes, rounding and
allocation, floors and worst cases, with hand-computed numbers (the baskets of docs/promotions.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from promotion_builders import MONDAY_NOON, D, basket, discounts, line, pid, price, promo

from retailcore.promotions.engine import PromotionBook, allocate, in_window, worst_case
from retailcore.promotions.model import BundleComponent, Target, Tier, Window

SHIRTS = Target(categories=frozenset({"shirts"}))


# -- percent and amount off --------------------------------------------------------------------------


def test_percent_off_a_line_rounds_each_line_half_up():
    priced = price(
        [promo("TEN", "percent_off", target=SHIRTS, percent=D(10))],
        basket(line("a", "oxford", "2", "19.99"), line("b", "mug", "1", "5.00", "kitchen")),
    )
    a, b = priced.lines
    assert (a.amount, a.discount, a.net) == (D("39.98"), D("4.00"), D("35.98"))  # 3.998 -> 4.00
    assert (b.discount, b.net) == (D(0), D("5.00"))
    assert a.discounts[0].source == "promotion" and a.discounts[0].code == "TEN"
    assert priced.promotions == ("TEN",)


def test_amount_off_a_line_is_per_unit_and_never_more_than_the_line():
    priced = price(
        [promo("OFF", "amount_off", target=SHIRTS, amount=D("1.50"))],
        basket(line("a", "tee", "3", "4.00"), line("b", "vest", "1", "1.20")),
    )
    assert discounts(priced) == {"a": D("4.50"), "b": D("1.20")}
    assert priced.lines[1].net == D(0)


def test_amount_off_a_category_is_once_spread_by_largest_remainder():
    priced = price(
        [promo("TENOFF", "amount_off", scope="category", target=SHIRTS, amount=D("10.00"))],
        basket(
            line("c", "polo", "1", "10.00"),
            line("a", "tee", "1", "10.00"),
            line("b", "vest", "1", "10.00"),
            line("d", "mug", "1", "10.00", "kitchen"),
        ),
    )
    # 10.00 / 3 = 3.333...: three floors of 3.33 leave one cent, to the first key on a tie.
    assert discounts(priced) == {"a": D("3.34"), "b": D("3.33"), "c": D("3.33"), "d": D(0)}


def test_percent_off_a_category_rounds_the_total_once():
    priced = price(
        [promo("P15", "percent_off", scope="category", target=SHIRTS, percent=D(15))],
        basket(line("a", "tee", "1", "0.35"), line("b", "polo", "1", "0.35")),
    )
    # 15 % of 0.70 = 0.105 -> 0.11 (per line it would be 0.0525 -> 0.05 twice = 0.10).
    assert sum(discounts(priced).values()) == D("0.11")
    assert discounts(priced) == {"a": D("0.06"), "b": D("0.05")}


def test_order_scope_spreads_over_every_line_whatever_the_target():
    priced = price(
        [promo("FIVE", "amount_off", scope="order", target=SHIRTS, amount=D("5.00"))],
        basket(line("a", "tee", "1", "3.00"), line("b", "mug", "1", "7.00", "kitchen")),
    )
    assert discounts(priced) == {"a": D("1.50"), "b": D("3.50")}


def test_an_order_amount_larger_than_the_basket_takes_it_all_and_no_more():
    priced = price(
        [promo("BIG", "amount_off", scope="order", amount=D("50.00"))],
        basket(line("a", "tee", "1", "3.00"), line("b", "mug", "2", "7.00", "kitchen")),
    )
    assert discounts(priced) == {"a": D("3.00"), "b": D("14.00")}
    assert all(ln.net == 0 for ln in priced.lines)


# -- buy X get Y ---------------------------------------------------------------------------------


def test_buy_2_get_1_free_gives_the_cheapest_units_and_repeats():
    priced = price(
        [promo("3FOR2", "buy_x_get_y", target=SHIRTS, buy_quantity=D(2), get_quantity=D(1), percent=D(100))],
        basket(
            line("a", "oxford", "3", "10.00"), line("b", "tee", "1", "4.00"), line("c", "polo", "2", "6.00")
        ),
    )
    # 6 units, 2 groups of 3: the two cheapest units (4.00 and one 6.00) are free.
    assert discounts(priced) == {"a": D(0), "b": D("4.00"), "c": D("6.00")}


def test_buy_1_get_1_half_price_rounds_half_up():
    priced = price(
        [promo("B1G1-50", "buy_x_get_y", target=SHIRTS, buy_quantity=D(1), get_quantity=D(1), percent=D(50))],
        basket(line("a", "oxford", "2", "9.99")),
    )
    assert discounts(priced) == {"a": D("5.00")}  # 4.995


def test_buy_1_get_1_free_repeats_and_an_odd_unit_pays():
    priced = price(
        [promo("B1G1", "buy_x_get_y", target=SHIRTS, buy_quantity=D(1), get_quantity=D(1))],
        basket(line("a", "tee", "5", "3.00")),
    )
    assert discounts(priced) == {"a": D("6.00")}  # percent None: free


def test_buy_x_get_y_counts_whole_units_of_a_weighed_line():
    priced = price(
        [promo("B1G1", "buy_x_get_y", target=SHIRTS, buy_quantity=D(1), get_quantity=D(1), percent=D(100))],
        basket(line("a", "cheese", "2.5", "10.00")),
    )
    assert discounts(priced) == {"a": D("10.00")}  # 2 whole units, one free, worth 25.00 / 2.5


# -- mix and match, bundles -------------------------------------------------------------------------


def test_mix_and_match_takes_the_dearest_units_and_spreads_the_saving():
    priced = price(
        [promo("ANY3", "mix_and_match", target=SHIRTS, buy_quantity=D(3), bundle_price=D("10.00"))],
        basket(
            line("a", "oxford", "2", "5.00"), line("b", "tee", "2", "4.00"), line("c", "polo", "1", "3.00")
        ),
    )
    # One group: 5 + 5 + 4 = 14 for 10: 4.00 off, 10/14 and 4/14 of it: 2.857 and 1.143.
    assert discounts(priced) == {"a": D("2.86"), "b": D("1.14"), "c": D(0)}


def test_mix_and_match_repeats_and_gives_nothing_when_the_units_are_cheaper():
    repeat = price(
        [promo("ANY3", "mix_and_match", target=SHIRTS, buy_quantity=D(3), bundle_price=D("10.00"))],
        basket(line("a", "tee", "7", "4.00")),
    )
    assert discounts(repeat) == {"a": D("4.00")}  # two groups of 12.00 for 10.00, one unit pays
    cheap = price(
        [promo("ANY3", "mix_and_match", target=SHIRTS, buy_quantity=D(3), bundle_price=D("10.00"))],
        basket(line("a", "tee", "3", "3.00")),
    )
    assert discounts(cheap) == {"a": D(0)} and cheap.promotions == ()


def test_mix_and_match_groups_across_lines_after_whole_groups():
    priced = price(
        [promo("ANY2", "mix_and_match", target=SHIRTS, buy_quantity=D(2), bundle_price=D("5.00"))],
        basket(line("a", "oxford", "3", "4.00"), line("b", "tee", "1", "3.00")),
    )
    # Groups: (4, 4) -> 3.00 off; (4, 3) -> 2.00 off, 4/7 and 3/7: a 3 + 1.142857, b 0.857143.
    assert discounts(priced) == {"a": D("4.14"), "b": D("0.86")}


BURGER_MEAL = promo(
    "MEAL",
    "bundle_price",
    components=(
        BundleComponent(pid("burger"), D(1)),
        BundleComponent(pid("fries"), D(1)),
        BundleComponent(pid("drink"), D(2)),
    ),
    bundle_price=D("10.00"),
)


def test_bundle_price_spreads_the_saving_over_the_components_by_value():
    priced = price(
        [BURGER_MEAL],
        basket(
            line("a", "burger", "2", "6.00", "food"),
            line("b", "fries", "1", "3.00", "food"),
            line("c", "drink", "3", "2.00", "drinks"),
        ),
    )
    # One meal: 6 + 3 + 2 x 2 = 13.00 for 10.00; 3.00 x 6/13, 3/13, 4/13 = 1.385, 0.692, 0.923.
    assert discounts(priced) == {"a": D("1.39"), "b": D("0.69"), "c": D("0.92")}


def test_bundle_price_repeats_and_needs_every_component():
    two = price(
        [BURGER_MEAL],
        basket(
            line("a", "burger", "2", "6.00", "food"),
            line("b", "fries", "2", "3.00", "food"),
            line("c", "drink", "4", "2.00", "drinks"),
        ),
    )
    assert sum(discounts(two).values()) == D("6.00")
    none = price(
        [BURGER_MEAL], basket(line("a", "burger", "2", "6.00", "food"), line("b", "fries", "2", "3.00"))
    )
    assert none.promotions == ()


# -- tiers and shipping -----------------------------------------------------------------------------

TIERS = promo(
    "SPEND",
    "tiered_spend",
    target=SHIRTS,
    tiers=(Tier(D(50), percent=D(5)), Tier(D(200), amount=D(30)), Tier(D(100), percent=D(10))),
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("30.00", "19.99", {"a": D(0), "b": D(0)}),  # 49.99: no tier
        ("30.00", "20.00", {"a": D("1.50"), "b": D("1.00")}),  # 50.00: 5 %
        ("80.00", "40.00", {"a": D("8.00"), "b": D("4.00")}),  # 120.00: 10 %
        ("150.00", "100.00", {"a": D("18.00"), "b": D("12.00")}),  # 250.00: 30.00 spread 3:2
    ],
)
def test_tiered_spend_applies_the_highest_tier_reached(a, b, expected):
    priced = price(
        [TIERS],
        basket(line("a", "oxford", "1", a), line("b", "tee", "1", b), line("c", "mug", "1", "99", "x")),
    )
    assert {k: v for k, v in discounts(priced).items() if k != "c"} == expected
    assert priced.lines[2].discount == 0


def test_free_shipping_from_the_threshold_on_the_targeted_lines():
    free = promo("SHIPFREE", "free_shipping", target=SHIRTS, threshold=D(50), channels=frozenset({"web"}))
    reached = price([free], basket(line("a", "oxford", "1", "50.00"), channel="web", shipping=D("4.95")))
    assert [(d.code, d.amount) for d in reached.shipping_discounts] == [("SHIPFREE", D("4.95"))]
    assert reached.discount == D("4.95") and reached.shipping == D("4.95")
    short = price(
        [free],
        basket(
            line("a", "oxford", "1", "49.99"),
            line("b", "mug", "1", "80", "x"),
            channel="web",
            shipping=D("4.95"),
        ),
    )
    assert short.shipping_discounts == ()
    at_till = price([free], basket(line("a", "oxford", "1", "50.00"), shipping=D("4.95")))
    assert at_till.shipping_discounts == ()


# -- targeting ---------------------------------------------------------------------------------------

STORE = uuid.uuid5(uuid.NAMESPACE_URL, "store/lisbon")


@pytest.mark.parametrize(
    ("fields", "basket_fields", "applies"),
    [
        ({"channels": frozenset({"web"})}, {"channel": "pos"}, False),
        ({"channels": frozenset({"web", "pos"})}, {"channel": "pos"}, True),
        ({"store_ids": frozenset({STORE})}, {"store_id": STORE}, True),
        ({"store_ids": frozenset({STORE})}, {"store_id": None}, False),
        ({"store_ids": frozenset({STORE})}, {"store_id": uuid.uuid4()}, False),
        ({"customer_groups": frozenset({"staff"})}, {"customer_group": "staff"}, True),
        ({"customer_groups": frozenset({"staff"})}, {"customer_group": None}, False),
        ({"starts_at": MONDAY_NOON}, {}, True),  # inclusive
        ({"starts_at": MONDAY_NOON + dt.timedelta(seconds=1)}, {}, False),
        ({"ends_at": MONDAY_NOON}, {}, False),  # exclusive
        ({"ends_at": MONDAY_NOON + dt.timedelta(seconds=1)}, {}, True),
    ],
)
def test_targeting(fields, basket_fields, applies):
    priced = price(
        [promo("T", "percent_off", percent=D(10), **fields)],
        basket(line("a", "tee", "1", "10.00"), **basket_fields),
    )
    assert (priced.promotions == ("T",)) is applies


HAPPY_HOUR = Window(frozenset({0, 1, 2, 3, 4}), dt.time(17), dt.time(19))
LATE_FRIDAY = Window(frozenset({4}), dt.time(22), dt.time(2))
WEEKEND = Window(frozenset({5, 6}), dt.time(0), dt.time(0))


@pytest.mark.parametrize(
    ("window", "moment", "inside"),
    [
        (HAPPY_HOUR, "2026-12-07 17:00", True),
        (HAPPY_HOUR, "2026-12-07 18:59:59", True),
        (HAPPY_HOUR, "2026-12-07 19:00", False),
        (HAPPY_HOUR, "2026-12-12 17:30", False),  # Saturday
        (LATE_FRIDAY, "2026-12-11 21:59", False),
        (LATE_FRIDAY, "2026-12-11 22:00", True),
        (LATE_FRIDAY, "2026-12-12 01:59:59", True),  # Saturday night, still Friday's window
        (LATE_FRIDAY, "2026-12-12 02:00", False),
        (LATE_FRIDAY, "2026-12-12 22:30", False),  # Saturday is not listed
        (LATE_FRIDAY, "2026-12-10 01:00", False),  # Thursday: Wednesday is not listed
        (WEEKEND, "2026-12-12 00:00", True),
        (WEEKEND, "2026-12-13 23:59:59", True),
        (WEEKEND, "2026-12-14 00:00", False),
    ],
)
def test_weekly_windows(window, moment, inside):
    assert in_window(window, dt.datetime.fromisoformat(moment)) is inside
    priced = price(
        [promo("W", "percent_off", percent=D(10), windows=(window,))],
        basket(line("a", "tee", "1", "10.00"), local_time=dt.datetime.fromisoformat(moment)),
    )
    assert (priced.promotions == ("W",)) is inside


def test_any_window_of_several_opens_the_promotion_and_dates_still_bound_it():
    p = promo(
        "W", "percent_off", percent=D(10), windows=(HAPPY_HOUR, WEEKEND), ends_at=dt.datetime(2026, 12, 13)
    )
    at = dt.datetime.fromisoformat
    assert price([p], basket(line("a", "t", "1", "1"), local_time=at("2026-12-12 09:00"))).promotions == (
        "W",
    )
    assert price([p], basket(line("a", "t", "1", "1"), local_time=at("2026-12-13 09:00"))).promotions == ()


def test_a_coupon_only_promotion_needs_its_coupon_and_carries_its_code():
    p = promo("WELCOME", "percent_off", percent=D(20), coupon_only=True)
    without = price([p], basket(line("a", "tee", "1", "10.00")))
    assert without.promotions == ()
    other = price([p], basket(line("a", "tee", "1", "10.00"), coupons=(("XYZ", uuid.uuid4()),)))
    assert other.promotions == ()
    priced = price([p], basket(line("a", "tee", "1", "10.00"), coupons=(("HELLO-7Q2K", p.id),)))
    (d,) = priced.lines[0].discounts
    assert (d.source, d.code, d.amount, d.promotion_id) == ("coupon", "HELLO-7Q2K", D("2.00"), p.id)
    assert priced.promotions == ("WELCOME",)


def test_a_promotion_granted_by_a_coupon_reports_the_coupon_even_if_open_to_all():
    p = promo("OPEN", "free_shipping", threshold=D(0))
    priced = price(
        [p], basket(line("a", "t", "1", "1"), shipping=D(3), coupons=(("ZED", p.id), ("ABC", p.id)))
    )
    assert [(d.source, d.code) for d in priced.shipping_discounts] == [("coupon", "ABC")]


# -- stacking: the worked basket of docs/promotions.md -----------------------------------------------

JACKET = line("jacket", "jacket", "1", "100.00", "outerwear")
SCARVES = line("scarves", "scarf", "2", "20.00", "accessories")
TEN_ALL = promo("S-TEN", "percent_off", percent=D(10), priority=10)
TEN_OFF = promo("S-TENOFF", "amount_off", scope="order", amount=D("10.00"), priority=5)
OUTER20 = promo(
    "B-OUTER20",
    "percent_off",
    stacking="best",
    target=Target(categories=frozenset({"outerwear"})),
    percent=D(20),
)
SCARF2 = promo(
    "B-SCARF2",
    "buy_x_get_y",
    stacking="best",
    target=Target(categories=frozenset({"accessories"})),
    buy_quantity=D(1),
    get_quantity=D(1),
    percent=D(50),
)
WINTER30 = promo("E-WINTER30", "percent_off", stacking="exclusive", scope="order", percent=D(30), priority=20)


def test_stackable_promotions_apply_in_priority_order_each_on_what_is_left():
    priced = price([TEN_OFF, TEN_ALL], basket(JACKET, SCARVES))
    # 10 % first (priority 10): 10.00 and 4.00; then 10.00 over 90.00 and 36.00: 7.14 and 2.86.
    assert [(d.code, d.amount) for d in priced.lines[0].discounts] == [
        ("S-TEN", D("10.00")),
        ("S-TENOFF", D("7.14")),
    ]
    assert [(d.code, d.amount) for d in priced.lines[1].discounts] == [
        ("S-TEN", D("4.00")),
        ("S-TENOFF", D("2.86")),
    ]
    assert priced.promotions == ("S-TEN", "S-TENOFF")
    assert priced.discount == D("24.00")


def test_the_best_best_promotion_joins_the_stackable_ones():
    priced = price([TEN_ALL, TEN_OFF, OUTER20, SCARF2], basket(JACKET, SCARVES))
    # OUTER20 takes 20 % of the jacket's 82.86 left: 16.57; SCARF2 half a scarf of 33.14 / 2: 8.29.
    assert priced.promotions == ("S-TEN", "S-TENOFF", "B-OUTER20")
    assert discounts(priced) == {"jacket": D("33.71"), "scarves": D("6.86")}
    assert priced.discount == D("40.57")
    assert [ln.net for ln in priced.lines] == [D("66.29"), D("33.14")]


def test_an_exclusive_promotion_wins_when_it_takes_more_than_the_stack():
    priced = price([TEN_ALL, TEN_OFF, OUTER20, SCARF2, WINTER30], basket(JACKET, SCARVES))
    assert priced.promotions == ("E-WINTER30",)
    assert discounts(priced) == {"jacket": D("30.00"), "scarves": D("12.00")}  # 42.00 > 40.57


def test_the_stack_wins_over_a_smaller_exclusive():
    winter25 = promo(
        "E-WINTER25", "percent_off", stacking="exclusive", scope="order", percent=D(25), priority=20
    )
    priced = price([TEN_ALL, TEN_OFF, OUTER20, SCARF2, winter25], basket(JACKET, SCARVES))
    assert priced.discount == D("40.57")  # 35.00 < 40.57
    assert "E-WINTER25" not in priced.promotions


def test_ties_go_to_the_higher_priority_then_the_lower_code():
    def exclusive(code, priority):
        return promo(code, "percent_off", stacking="exclusive", percent=D(10), priority=priority)

    b = basket(line("a", "tee", "1", "10.00"))
    assert price([exclusive("Z", 1), exclusive("A", 0)], b).promotions == ("Z",)
    assert price([exclusive("Z", 0), exclusive("A", 0)], b).promotions == ("A",)
    stack = promo("M", "percent_off", percent=D(10), priority=0)
    assert price([stack, exclusive("A", 0)], b).promotions == ("A",)
    assert price([stack, exclusive("N", 0)], b).promotions == ("M",)
    bests = [promo(c, "amount_off", stacking="best", amount=D(1)) for c in ("Q", "P")]
    assert price(bests, b).promotions == ("P",)


def test_manual_discounts_come_last_on_what_is_left_and_never_below_zero():
    priced = price(
        [promo("HALF", "percent_off", percent=D(50))],
        basket(
            line("a", "tee", "1", "60.00", manual="50.00"), line("b", "polo", "1", "10.00", manual="2.00")
        ),
    )
    a, b = priced.lines
    assert [(d.source, d.amount) for d in a.discounts] == [("promotion", D("30.00")), ("manual", D("30.00"))]
    assert (a.discount, a.net) == (D("60.00"), D(0))
    assert [(d.code, d.amount) for d in b.discounts] == [("HALF", D("5.00")), ("manual", D("2.00"))]


# -- money -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decimals", "unit_price", "percent", "expected"),
    [(0, "1005", "10", D(101)), (2, "1.25", "10", D("0.13")), (3, "1.005", "50", D("0.503"))],
)
def test_rounding_to_the_currency_half_up(decimals, unit_price, percent, expected):
    priced = price(
        [promo("P", "percent_off", percent=D(percent))],
        basket(line("a", "tee", "1", unit_price), currency_decimals=decimals),
    )
    assert priced.lines[0].discount == expected


def test_allocate_sums_exactly_and_breaks_ties_by_position():
    assert allocate(D("0.10"), [D(1), D(1), D(1)], 2) == [D("0.04"), D("0.03"), D("0.03")]
    assert allocate(D("100"), [D(100), D(200), D(400)], 0) == [D(14), D(29), D(57)]
    assert allocate(D("5"), [D(2), D(1)], 2) == [D(2), D(1)]  # never more than a weight


def test_the_order_of_lines_and_promotions_given_does_not_change_the_result():
    promos = [TEN_ALL, TEN_OFF, OUTER20, SCARF2]
    first = price(promos, basket(JACKET, SCARVES))
    again = price(list(reversed(promos)), basket(SCARVES, JACKET))
    assert {ln.key: ln for ln in first.lines} == {ln.key: ln for ln in again.lines}
    assert first.promotions == again.promotions
    assert [ln.key for ln in again.lines] == ["scarves", "jacket"]  # lines come back in the basket's order


# -- floors and worst cases -------------------------------------------------------------------------


def test_below_floor_compares_the_net_with_quantity_times_the_floor():
    def net_of(percent: str):
        return price(
            [promo("P", "percent_off", percent=D(percent))],
            basket(line("a", "tee", "2", "10.00", floor="8.00")),
        ).lines[0]

    assert net_of("25").below_floor is True  # 15.00 < 16.00
    assert net_of("20").below_floor is False  # 16.00 = 16.00
    assert price([], basket(line("a", "t", "1", "5", manual="1"))).lines[0].below_floor is False


UNIT = line("a", "tee", "1", "10.00", floor="7.20")


@pytest.mark.parametrize(
    ("promotion", "expected"),
    [
        (promo("P25", "percent_off", target=SHIRTS, percent=D(25)), D("7.50")),
        (
            promo(
                "P25", "percent_off", scope="order", target=Target(categories=frozenset({"x"})), percent=D(25)
            ),
            D("7.5"),
        ),
        (promo("A3", "amount_off", target=SHIRTS, amount=D(3)), D("7.00")),
        (promo("A15", "amount_off", scope="order", amount=D(15)), D(0)),
        (
            promo("B1G1", "buy_x_get_y", target=SHIRTS, buy_quantity=D(1), get_quantity=D(1), percent=D(100)),
            D(5),
        ),
        (promo("3FOR2", "buy_x_get_y", buy_quantity=D(2), get_quantity=D(1), percent=D(100)), D(10) * 2 / 3),
        (promo("ANY3", "mix_and_match", buy_quantity=D(3), bundle_price=D(12)), D(4)),
        (promo("ANY3", "mix_and_match", buy_quantity=D(3), bundle_price=D(40)), D(10)),
        (promo("TIER", "tiered_spend", tiers=(Tier(D(100), percent=D(5)), Tier(D(40), amount=D(8)))), D(8)),
        (promo("SHIP", "free_shipping", threshold=D(0)), D(10)),
        (promo("OTHER", "percent_off", target=Target(categories=frozenset({"x"})), percent=D(90)), D(10)),
    ],
)
def test_worst_case_per_kind(promotion, expected):
    assert worst_case(promotion, UNIT) == expected


def test_worst_case_of_mix_and_match_and_bundles_reads_the_other_products():
    any3 = promo("ANY3", "mix_and_match", target=SHIRTS, buy_quantity=D(3), bundle_price=D(10))
    assert worst_case(any3, line("a", "tee", "1", "5.00")) == D(10) / 3
    others = [
        line("b", "oxford", "1", "8.00"),
        line("c", "polo", "1", "7.00"),
        line("d", "mug", "1", "99", "x"),
    ]
    assert worst_case(any3, line("a", "tee", "1", "5.00"), others=others) == D("2.5")  # 5 x 10 / 20
    burger = line("a", "burger", "1", "6.00", "food")
    assert worst_case(BURGER_MEAL, burger) == D(0)  # fries and drinks unknown: cannot be bounded
    known = [line("b", "fries", "1", "3.00"), line("c", "drink", "1", "2.00")]
    assert worst_case(BURGER_MEAL, burger, others=known) == D(6) * 10 / 13
    assert worst_case(BURGER_MEAL, line("z", "salad", "1", "4.00")) == D("4.00")


def test_a_floor_breached_by_buy_one_get_one_but_not_by_a_quarter_off():
    # The worked example of docs/promotions.md: cost 6.00, floor 20 %: 7.20 a unit.
    b1g1 = promo("B1G1", "buy_x_get_y", target=SHIRTS, buy_quantity=D(1), get_quantity=D(1), percent=D(100))
    quarter = promo("P25", "percent_off", target=SHIRTS, percent=D(25))
    assert worst_case(b1g1, UNIT) < UNIT.floor_amount  # 5.00
    assert worst_case(quarter, UNIT) >= UNIT.floor_amount  # 7.50
    till = price([b1g1], basket(line("a", "tee", "2", "10.00", floor="7.20")))
    assert till.below_floor == ("a",)  # 10.00 for 2 < 14.40


def test_an_empty_basket_and_a_returned_line_take_nothing():
    promos = [
        promo("ALL", "percent_off", percent=D(10)),
        promo("TIER", "tiered_spend", tiers=(Tier(D(0), amount=D(5)),)),
        promo("SHIP", "free_shipping", threshold=D(0)),
    ]
    empty = price(promos, basket(shipping=D("4.95")))
    assert empty.lines == () and empty.discount == 0
    returned = price(promos, basket(line("a", "tee", "-1", "10.00", manual="1.00")))
    assert (returned.lines[0].amount, returned.lines[0].discount, returned.lines[0].net) == (
        D(-10),
        0,
        D(-10),
    )


# -- the index ---------------------------------------------------------------------------------------


def test_the_book_looks_only_at_promotions_the_lines_can_trigger():
    book = PromotionBook(
        [
            promo("MUGS", "percent_off", target=Target(categories=frozenset({"kitchen"})), percent=D(10)),
            promo("TEE", "percent_off", target=Target(product_ids=frozenset({pid("tee")})), percent=D(10)),
            promo("ALL", "free_shipping", threshold=D(100)),
            promo("ORDER", "amount_off", scope="order", target=SHIRTS, amount=D(1)),
            BURGER_MEAL,
        ]
    )
    seen = {
        r.promotion.code
        for r in book.candidates(basket(line("a", "tee", "1", "1"), line("b", "fries", "1", "1")))
    }
    assert seen == {"TEE", "ALL", "ORDER", "MEAL"}
    assert isinstance(book.price(basket(line("a", "tee", "1", "1"))).lines[0].discount, Decimal)
