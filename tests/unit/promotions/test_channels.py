"""What the channels rely on around the engine (decision 0052): the prefilter of a book, and that a
basket of lines whose promotions all price lines on their own prices as each line alone (the POS
check memoises by line on that)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from promotion_builders import D, basket, line, pid, promo

from retailcore.promotions.channels import Prefilter, offered, records
from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import AppliedDiscount, Target

PRODUCTS = ("oxford", "polo", "mug", "cap")
CATEGORY = {"oxford": "shirts", "polo": "shirts", "mug": "kitchen", "cap": "hats"}


def test_the_prefilter_knows_which_products_a_book_can_touch_and_how():
    book = PromotionBook(
        [
            promo("TEN", "percent_off", target=Target(product_ids=frozenset({pid("oxford")})), percent=D(10)),
            promo(
                "B2G1",
                "buy_x_get_y",
                target=Target(categories=frozenset({"kitchen"})),
                buy_quantity=D(2),
                get_quantity=D(1),
            ),
        ]
    )
    prefilter = Prefilter(book)
    assert prefilter.touches(pid("oxford"), "shirts") and prefilter.line_local(pid("oxford"), "shirts")
    assert prefilter.touches(pid("mug"), "kitchen") and not prefilter.line_local(pid("mug"), "kitchen")
    assert not prefilter.touches(pid("cap"), "hats")
    assert not Prefilter(PromotionBook([])).touches(pid("oxford"), "shirts")
    everywhere = Prefilter(PromotionBook([promo("ALL", "percent_off", scope="order", percent=D(5))]))
    assert everywhere.touches(pid("cap"), "hats") and not everywhere.line_local(pid("cap"), "hats")


def test_records_and_offered_keep_the_source_and_who_gave_a_manual_discount():
    found = (
        AppliedDiscount("promotion", "TEN", D("1.00"), pid("promotion")),
        AppliedDiscount("manual", "manual", D("0.50")),
    )
    assert offered(found) == (("promotion", "TEN", D("1.00")),)
    kept = records(found, "carl", {"by": "mia", "reason": "damaged"})
    assert kept[0] == {
        "source": "promotion",
        "code": "TEN",
        "amount": "1.00",
        "promotion_id": str(pid("promotion")),
    }
    assert kept[1]["given_by"] == "carl" and kept[1]["override"] == {"by": "mia", "reason": "damaged"}
    assert records((), "carl") is None


LINE_LOCAL = [
    promo("TEN", "percent_off", target=Target(categories=frozenset({"shirts"})), percent=D(10)),
    promo(
        "OFF",
        "amount_off",
        target=Target(product_ids=frozenset({pid("mug"), pid("oxford")})),
        amount=D("0.35"),
    ),
    promo("ALL", "percent_off", percent=D("2.5"), priority=-1),
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PRODUCTS),
            st.integers(min_value=1, max_value=5),
            st.decimals(min_value=D("0.10"), max_value=D("40"), places=2),
            st.sampled_from([D(0), D("0.20")]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_line_scope_stackable_promotions_price_a_basket_as_its_lines_alone(drawn):
    book = PromotionBook(LINE_LOCAL)
    lines = [
        line(str(n), product, str(quantity), str(unit), CATEGORY[product], manual=str(manual))
        for n, (product, quantity, unit, manual) in enumerate(drawn)
    ]
    whole = book.price(basket(*lines))
    for n, one in enumerate(lines):
        alone = book.price(basket(one)).lines[0]
        assert alone.discounts == whole.lines[n].discounts
