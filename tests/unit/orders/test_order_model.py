"""The order aggregate: channels and modes, the state machine, fulfillment, cancellation, events.

Pure: no database. Given / when / then, flat functions, parametrised over the written-down tables.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retailcore.core.errors import Conflict, ValidationFailed
from retailcore.core.money import Money
from retailcore.orders.model import (
    INVALID_TRANSITION,
    MODES_BY_CHANNEL,
    TRANSITIONS,
    Channel,
    FulfillmentMode,
    Order,
    OrderState,
    json_safe,
)
from retailcore.orders.tenders import OrderPayments

D = Decimal
STORE = uuid.UUID("00000000-0000-7000-8000-000000000001")
CUSTOMER = uuid.UUID("00000000-0000-7000-8000-000000000002")


def eur(value: str) -> Money:
    return Money(D(value), "EUR")


def new_order(channel: str = "web", mode: str = "ship", **kwargs: object) -> Order:
    defaults: dict[str, object] = {"store_id": STORE, "customer_id": CUSTOMER}
    if mode == "click_and_collect":
        defaults["pickup_store_id"] = STORE
    defaults.update(kwargs)
    return Order(currency="EUR", channel=channel, mode=mode, **defaults)  # type: ignore[arg-type]


def with_lines(order: Order, *quantities: str, taxes: str = "0.00") -> Order:
    for index, quantity in enumerate(quantities or ("3", "1")):
        order.add_line(
            product_id=uuid.uuid4(),
            sku=f"SKU-{index}",
            quantity=D(quantity),
            unit_price=eur("4.95"),
            tax_category="standard",
        )
    order.set_taxes(eur(taxes))
    return order


def order_in(state: OrderState) -> Order:
    """A web order (invoice requested) with two lines (3 and 1), driven into ``state``."""
    order = with_lines(new_order(invoice_requested=True))
    if state is OrderState.draft:
        return order
    if state is OrderState.cancelled:
        order.cancel()
        return order
    order.confirm()
    if state is OrderState.confirmed:
        return order
    order.fulfill({order.lines[0].line_id: D("1")})
    if state is OrderState.partially_fulfilled:
        return order
    order.fulfill_remaining()
    if state is OrderState.fulfilled:
        return order
    if state is OrderState.invoiced:
        order.invoice("INV-1")
        return order
    assert state is OrderState.closed
    order.close()
    return order


# -- channels x modes -------------------------------------------------------------------------------


def test_the_channel_mode_table_is_the_documented_one() -> None:
    assert {channel.value: sorted(modes) for channel, modes in MODES_BY_CHANNEL.items()} == {
        "pos": ["carry_out", "ship"],
        "web": ["click_and_collect", "ship", "ship_from_store"],
        "marketplace": ["ship", "ship_from_store"],
        "b2b": ["carry_out", "ship", "ship_from_store"],
    }


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("mode", list(FulfillmentMode))
def test_an_order_is_built_only_for_an_allowed_channel_and_mode(
    channel: Channel, mode: FulfillmentMode
) -> None:
    if mode in MODES_BY_CHANNEL[channel]:
        order = new_order(channel, mode)
        assert (order.channel, order.mode, order.state) == (channel, mode, OrderState.draft)
    else:
        with pytest.raises(ValidationFailed) as refused:
            new_order(channel, mode)
        assert [p.field for p in refused.value.problems] == ["mode"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channel": "pos", "mode": "carry_out", "store_id": None}, "store_id"),
        ({"channel": "web", "mode": "ship_from_store", "store_id": None}, "store_id"),
        ({"channel": "web", "mode": "click_and_collect", "pickup_store_id": None}, "pickup_store_id"),
        ({"channel": "web", "mode": "ship", "pickup_store_id": STORE}, "pickup_store_id"),
        ({"channel": "b2b", "mode": "ship", "customer_id": None}, "customer_id"),
        ({"channel": "shop", "mode": "ship"}, "channel"),
        ({"channel": "web", "mode": "teleport"}, "mode"),
        ({"channel": "web", "mode": "ship", "currency": "XXX1"}, "currency"),
    ],
)
def test_an_order_missing_what_its_channel_and_mode_need_is_refused(kwargs: dict, field: str) -> None:
    params = {"currency": "EUR", "store_id": STORE, "customer_id": CUSTOMER, **kwargs}
    with pytest.raises(ValidationFailed) as refused:
        Order(**params)
    assert field in [p.field for p in refused.value.problems]


def test_a_web_ship_order_needs_no_store_and_no_customer() -> None:
    order = Order(currency="EUR", channel=Channel.web, mode=FulfillmentMode.ship)
    assert order.store_id is None and order.customer_id is None


# -- the transition table ---------------------------------------------------------------------------


def test_the_transition_table_is_the_documented_one() -> None:
    assert {state.value: sorted(targets) for state, targets in TRANSITIONS.items()} == {
        "draft": ["cancelled", "confirmed"],
        "confirmed": ["cancelled", "fulfilled", "partially_fulfilled"],
        "partially_fulfilled": ["fulfilled", "partially_fulfilled"],
        "fulfilled": ["closed", "invoiced"],
        "invoiced": ["closed"],
        "cancelled": [],
        "closed": [],
    }
    assert set(TRANSITIONS) == set(OrderState)


def _partial(order: Order) -> None:
    order.fulfill({order.lines[1].line_id: D("0.5")})


# Each public action and the state it moves the order to. Together they reach every transition.
ACTIONS: dict[str, tuple[OrderState, Callable[[Order], None]]] = {
    "confirm": (OrderState.confirmed, lambda order: order.confirm()),
    "fulfill_part": (OrderState.partially_fulfilled, _partial),
    "fulfill_remaining": (OrderState.fulfilled, lambda order: order.fulfill_remaining()),
    "cancel": (OrderState.cancelled, lambda order: order.cancel("customer asked")),
    "invoice": (OrderState.invoiced, lambda order: order.invoice("INV-9")),
    "close": (OrderState.closed, lambda order: order.close()),
}

ALLOWED = [(state, target) for state, targets in TRANSITIONS.items() for target in sorted(targets)]
REFUSED = [
    (state, action)
    for state in OrderState
    for action, (target, _) in ACTIONS.items()
    if target not in TRANSITIONS[state]
]


def _action_for(target: OrderState) -> Callable[[Order], None]:
    return next(act for reached, act in ACTIONS.values() if reached is target)


@pytest.mark.parametrize(("state", "target"), ALLOWED, ids=[f"{s}->{t}" for s, t in ALLOWED])
def test_every_allowed_transition_happens(state: OrderState, target: OrderState) -> None:
    order = order_in(state)
    _action_for(target)(order)
    assert order.state is target


@pytest.mark.parametrize(("state", "action"), REFUSED, ids=[f"{s}-{a}" for s, a in REFUSED])
def test_every_transition_outside_the_table_is_refused(state: OrderState, action: str) -> None:
    order = order_in(state)
    target, act = ACTIONS[action]
    events_before = list(order.pending_events)

    with pytest.raises(Conflict) as refused:
        act(order)

    assert refused.value.code == INVALID_TRANSITION
    assert f"is {state}" in refused.value.detail
    allowed = ", ".join(sorted(TRANSITIONS[state])) or "none"
    assert f"allowed from {state}: {allowed}" in refused.value.detail
    message = refused.value.problems[0].message
    assert message.startswith(f"{state} -> ") and target in message and message.endswith("is not allowed")
    assert order.state is state and order.pending_events == events_before


def test_the_partially_fulfilled_self_loop_is_a_further_partial_fulfillment() -> None:
    order = order_in(OrderState.partially_fulfilled)
    _partial(order)
    assert order.state is OrderState.partially_fulfilled
    assert order.lines[1].fulfilled_quantity == D("0.5")


# -- draft editing and confirmation -----------------------------------------------------------------


def test_lines_add_up_to_exact_decimal_totals() -> None:
    order = new_order()
    order.add_line(
        product_id=uuid.uuid4(),
        sku="A",
        quantity=D("3"),
        unit_price=eur("0.10"),
        tax_category="standard",
    )
    order.add_line(
        product_id=uuid.uuid4(),
        sku="B",
        quantity=D("0.333"),  # 0.333 kg at 2.99 = 0.99567, rounded half-up on the line to 1.00
        unit_price=eur("2.99"),
        discount=eur("0.05"),
        tax_category="reduced",
    )
    order.set_taxes(eur("0.12"))

    assert order.subtotal == eur("1.30")
    assert order.discount_total == eur("0.05")
    assert order.net_total == eur("1.25")
    assert order.total == eur("1.37")
    assert isinstance(order.total.amount, Decimal)
    assert str(order.total) == "1.37 EUR"


def test_taxes_are_not_added_when_prices_include_them() -> None:
    order = with_lines(new_order(prices_include_tax=True), "2", taxes="1.58")
    assert order.total == eur("9.90")


def test_editing_lines_resets_taxes_and_confirm_needs_them_again() -> None:
    order = with_lines(new_order())
    line = order.lines[0]
    order.remove_line(line.line_id)
    assert order.taxes is None
    with pytest.raises(Conflict) as refused:
        order.confirm()
    assert refused.value.code == "taxes-not-computed"


def test_an_empty_order_cannot_be_confirmed() -> None:
    order = new_order()
    with pytest.raises(Conflict) as refused:
        order.confirm()
    assert refused.value.code == "order-empty"
    assert order.state is OrderState.draft


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"quantity": 1.5}, ["quantity"]),  # a float is refused, never converted
        ({"quantity": D("0")}, ["quantity"]),
        ({"quantity": D("-1")}, ["quantity"]),
        ({"quantity": D("1.00001")}, ["quantity"]),
        ({"quantity": D("NaN")}, ["quantity"]),
        ({"unit_price": Money(D("1"), "USD")}, ["unit_price"]),
        ({"unit_price": eur("-1")}, ["unit_price"]),
        ({"discount": eur("0.001")}, ["discount"]),
        ({"discount": eur("20.00")}, ["discount"]),  # more than the line amount
        ({"sku": " ", "tax_category": ""}, ["sku", "tax_category"]),
    ],
)
def test_bad_lines_are_refused_with_the_fields_named(kwargs: dict, fields: list[str]) -> None:
    order = new_order()
    params = {
        "product_id": uuid.uuid4(),
        "sku": "A",
        "quantity": D("2"),
        "unit_price": eur("4.95"),
        "tax_category": "standard",
        **kwargs,
    }
    with pytest.raises(ValidationFailed) as refused:
        order.add_line(**params)
    assert [p.field for p in refused.value.problems] == fields
    assert order.lines == []


@pytest.mark.parametrize("state", [s for s in OrderState if s is not OrderState.draft])
def test_lines_and_taxes_change_in_draft_only(state: OrderState) -> None:
    order = order_in(state)
    with pytest.raises(Conflict) as refused:
        order.add_line(
            product_id=uuid.uuid4(), sku="X", quantity=D("1"), unit_price=eur("1"), tax_category="s"
        )
    assert refused.value.code == "order-not-editable"
    with pytest.raises(Conflict):
        order.remove_line(order.lines[0].line_id)
    with pytest.raises(Conflict):
        order.set_taxes(eur("1.00"))
    assert len(order.lines) == 2


def test_a_pos_carry_out_sale_is_confirmed_only_when_paid_in_full() -> None:
    order = with_lines(new_order("pos", "carry_out"), "1", taxes="0.00")  # total 4.95
    payments = OrderPayments.for_order(order)

    with pytest.raises(Conflict) as unpaid:
        order.confirm()
    assert unpaid.value.code == "payment-incomplete"

    payments.add_cash(eur("2.00"))
    with pytest.raises(Conflict) as short:
        order.confirm(payments)
    assert short.value.code == "payment-incomplete"
    assert "2.95 EUR" in short.value.detail

    payments.add_cash(eur("5.00"))
    order.confirm(payments)
    assert order.state is OrderState.confirmed
    assert order.pending_events[-1].payload["amount_paid"] == {"amount": "4.95", "currency": "EUR"}


def test_payments_for_another_total_are_refused() -> None:
    order = with_lines(new_order("pos", "carry_out"), "1")
    stale = OrderPayments(order_id=order.order_id, total=eur("1.00"))
    stale.add_cash(eur("1.00"))
    with pytest.raises(ValidationFailed) as refused:
        order.confirm(stale)
    assert [p.field for p in refused.value.problems] == ["payments.total"]


def test_a_web_order_may_be_confirmed_unpaid() -> None:
    order = with_lines(new_order("web", "ship"))
    order.confirm()
    assert order.state is OrderState.confirmed


# -- fulfillment ------------------------------------------------------------------------------------


def test_partial_fulfillment_then_the_rest() -> None:
    order = order_in(OrderState.confirmed)
    first, second = order.lines

    order.fulfill({first.line_id: D("2")})
    assert order.state is OrderState.partially_fulfilled
    assert (first.fulfilled_quantity, first.open_quantity) == (D("2"), D("1"))

    order.fulfill({first.line_id: D("1"), second.line_id: D("1")})
    assert order.state is OrderState.fulfilled
    assert all(line.open_quantity == 0 for line in order.lines)


def test_over_fulfillment_is_refused_and_changes_nothing() -> None:
    order = order_in(OrderState.partially_fulfilled)  # line 0: 1 of 3 fulfilled
    first, second = order.lines
    events_before = len(order.pending_events)

    with pytest.raises(Conflict) as refused:
        order.fulfill({second.line_id: D("1"), first.line_id: D("2.0001")})

    assert refused.value.code == "over-fulfillment"
    assert [p.field for p in refused.value.problems] == [f"quantities.{first.line_id}"]
    assert "exceeds the open 2" in refused.value.problems[0].message
    assert (first.fulfilled_quantity, second.fulfilled_quantity) == (D("1"), D("0"))
    assert order.state is OrderState.partially_fulfilled
    assert len(order.pending_events) == events_before


@pytest.mark.parametrize(
    "quantities",
    [{}, {uuid.uuid4(): D("1")}, "line0:0", "line0:float"],
    ids=["nothing", "unknown-line", "zero", "float"],
)
def test_malformed_fulfillments_are_refused(quantities: object) -> None:
    order = order_in(OrderState.confirmed)
    line_id = order.lines[0].line_id
    if quantities == "line0:0":
        quantities = {line_id: D("0")}
    elif quantities == "line0:float":
        quantities = {line_id: 1.0}
    with pytest.raises(ValidationFailed) as refused:
        order.fulfill(quantities)  # type: ignore[arg-type]
    assert refused.value.code == "validation-failed"
    assert order.state is OrderState.confirmed


# -- cancellation -----------------------------------------------------------------------------------


def test_a_confirmed_order_cancels_whole_and_says_so() -> None:
    order = order_in(OrderState.confirmed)
    order.cancel("out of stock")
    assert order.state is OrderState.cancelled
    assert [line.cancelled_quantity for line in order.lines] == [D("3"), D("1")]
    event = order.pending_events[-1]
    assert event.type == "OrderCancelled"
    assert event.payload["reason"] == "out of stock"
    assert [line["quantity"] for line in event.payload["lines"]] == ["3", "1"]


def test_a_cancelled_draft_records_no_event() -> None:
    order = with_lines(new_order())
    order.cancel()
    assert order.state is OrderState.cancelled
    assert order.pending_events == []


def test_an_order_with_anything_fulfilled_cannot_be_cancelled_whole() -> None:
    order = order_in(OrderState.partially_fulfilled)
    with pytest.raises(Conflict) as refused:
        order.cancel()
    assert refused.value.code == INVALID_TRANSITION


def test_the_remainder_of_a_partially_fulfilled_order_can_be_cancelled() -> None:
    order = order_in(OrderState.partially_fulfilled)  # line 0: 1 of 3, line 1: 0 of 1
    order.cancel_remaining("backorder dropped")

    assert order.state is OrderState.fulfilled
    assert [(line.fulfilled_quantity, line.cancelled_quantity) for line in order.lines] == [
        (D("1"), D("2")),
        (D("0"), D("1")),
    ]
    event = order.pending_events[-1]
    assert event.type == "OrderRemainderCancelled"
    assert [(line["sku"], line["quantity"]) for line in event.payload["lines"]] == [
        ("SKU-0", "2"),
        ("SKU-1", "1"),
    ]
    order.invoice("INV-2")  # and it carries on like any fulfilled order
    order.close()
    assert order.state is OrderState.closed


def test_cancel_remaining_with_nothing_fulfilled_points_at_cancel() -> None:
    order = order_in(OrderState.confirmed)
    with pytest.raises(Conflict) as refused:
        order.cancel_remaining()
    assert refused.value.code == "nothing-fulfilled"
    assert order.state is OrderState.confirmed


@pytest.mark.parametrize("state", [OrderState.draft, OrderState.fulfilled, OrderState.cancelled])
def test_cancel_remaining_outside_fulfillment_is_an_invalid_transition(state: OrderState) -> None:
    order = order_in(state)
    with pytest.raises(Conflict) as refused:
        order.cancel_remaining()
    assert refused.value.code == INVALID_TRANSITION


# -- invoicing and closing --------------------------------------------------------------------------


def test_a_retail_order_is_invoiced_only_on_request() -> None:
    order = with_lines(new_order("web", "ship"))
    order.confirm()
    order.fulfill_remaining()
    with pytest.raises(Conflict) as refused:
        order.invoice("INV-3")
    assert refused.value.code == "invoice-not-requested"

    order.request_invoice()
    order.invoice("INV-3")
    assert (order.state, order.invoice_number) == (OrderState.invoiced, "INV-3")


def test_a_b2b_order_is_invoiced_before_it_closes() -> None:
    order = with_lines(new_order("b2b", "ship"), taxes="1.20")
    order.confirm()
    order.fulfill_remaining()
    with pytest.raises(Conflict) as refused:
        order.close()
    assert refused.value.code == "invoice-required"

    order.invoice("INV-4")
    order.close()
    assert order.state is OrderState.closed
    assert order.pending_events[-2].payload["total"] == {"amount": "21.00", "currency": "EUR"}


def test_an_invoice_needs_a_number() -> None:
    order = order_in(OrderState.fulfilled)
    with pytest.raises(ValidationFailed):
        order.invoice("  ")
    assert order.state is OrderState.fulfilled


def test_a_closed_order_takes_no_invoice_request() -> None:
    order = order_in(OrderState.closed)
    with pytest.raises(Conflict):
        order.request_invoice()


# -- events -----------------------------------------------------------------------------------------


def test_a_full_life_records_its_events_with_json_safe_payloads() -> None:
    order = with_lines(new_order("web", "click_and_collect"), "3", "1", taxes="3.16")
    order.confirm()
    order.fulfill({order.lines[0].line_id: D("1.5")})
    order.fulfill_remaining()
    order.close()

    assert [event.type for event in order.pending_events] == [
        "OrderConfirmed",
        "OrderFulfilled",
        "OrderFulfilled",
        "OrderClosed",
    ]
    confirmed, first, second, _ = (event.payload for event in order.pending_events)
    assert confirmed["order_id"] == str(order.order_id)
    assert confirmed["channel"] == "web" and confirmed["mode"] == "click_and_collect"
    assert confirmed["pickup_store_id"] == str(STORE)
    assert confirmed["subtotal"] == {"amount": "19.80", "currency": "EUR"}
    assert confirmed["total"] == {"amount": "22.96", "currency": "EUR"}
    assert confirmed["lines"][0]["unit_price"] == {"amount": "4.95", "currency": "EUR"}
    assert (first["complete"], second["complete"]) == (False, True)
    assert [(line["sku"], line["quantity"]) for line in first["lines"]] == [("SKU-0", "1.5")]
    assert [(line["sku"], line["quantity"]) for line in second["lines"]] == [("SKU-0", "1.5"), ("SKU-1", "1")]

    for event in order.pending_events:
        text = json.dumps(event.payload)  # JSON-safe as it stands
        assert json.loads(text, parse_float=lambda _: pytest.fail("a float in an event")) == event.payload


def test_json_safe_refuses_floats() -> None:
    with pytest.raises(TypeError):
        json_safe({"amount": 0.1})


# -- property: fulfillment never exceeds what was ordered -------------------------------------------

quantities = st.decimals(min_value=D("0.0001"), max_value=D("5"), places=4)


@settings(max_examples=200, deadline=None)
@given(
    ordered=st.lists(quantities, min_size=1, max_size=4),
    calls=st.lists(
        st.one_of(
            st.dictionaries(st.integers(0, 3), quantities, min_size=1, max_size=4),
            st.just("cancel_remaining"),
        ),
        max_size=12,
    ),
)
def test_any_fulfillment_sequence_stays_within_the_ordered_quantities(
    ordered: list[Decimal], calls: list[dict[int, Decimal] | str]
) -> None:
    order = new_order()
    for index, quantity in enumerate(ordered):
        order.add_line(
            product_id=uuid.uuid4(), sku=f"S{index}", quantity=quantity, unit_price=eur("1"), tax_category="s"
        )
    order.set_taxes(eur("0"))
    order.confirm()
    expected = [D(0)] * len(ordered)

    for call in calls:
        before = order.state
        if call == "cancel_remaining":
            try:
                order.cancel_remaining()
            except Conflict:
                assert order.state is before
            continue
        wanted = {order.lines[i].line_id: q for i, q in call.items() if i < len(ordered)}
        fits = before in (OrderState.confirmed, OrderState.partially_fulfilled) and all(
            q <= order.lines[i].open_quantity for i, q in call.items() if i < len(ordered)
        )
        try:
            order.fulfill(wanted)
        except (ValidationFailed, Conflict):
            assert not fits or not wanted
            assert order.state is before
        else:
            assert fits
            for i, q in call.items():
                if i < len(ordered):
                    expected[i] += q

        for line, fulfilled in zip(order.lines, expected, strict=True):
            assert line.fulfilled_quantity == fulfilled
            assert D(0) <= line.fulfilled_quantity + line.cancelled_quantity <= line.quantity
        total_fulfilled = sum(line.fulfilled_quantity for line in order.lines)
        if all(line.open_quantity == 0 for line in order.lines):
            assert order.state is OrderState.fulfilled
        elif total_fulfilled > 0:
            assert order.state is OrderState.partially_fulfilled
        else:
            assert order.state is OrderState.confirmed
