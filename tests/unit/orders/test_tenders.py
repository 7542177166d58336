"""Payments on an order: split tender, cash change, overpayment, the card payment state machine."""

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
from retailcore.orders.model import INVALID_TRANSITION, Order
from retailcore.orders.tenders import (
    CARD_TRANSITIONS,
    CardPayment,
    CardState,
    OrderPayments,
    TenderKind,
)

D = Decimal
CUSTOMER = uuid.UUID("00000000-0000-7000-8000-000000000002")


def eur(value: str) -> Money:
    return Money(D(value), "EUR")


def due(total: str) -> OrderPayments:
    return OrderPayments(order_id=uuid.uuid4(), total=eur(total))


# -- split tender and change ------------------------------------------------------------------------


def test_card_then_cash_gives_exact_change() -> None:
    payments = due("17.35")

    payments.authorize_card("adyen", "PSP-1", eur("10.00"))
    assert payments.amount_due == eur("7.35")

    cash = payments.add_cash(eur("20.00"))

    assert payments.change_due == eur("12.65")
    assert cash.change == eur("12.65")
    assert payments.amount_paid == eur("17.35")
    assert payments.amount_due == eur("0.00")
    assert payments.amount_tendered == eur("30.00")
    assert str(payments.change_due.amount) == "12.65"  # Decimal, exactly


def test_every_kind_on_one_order() -> None:
    payments = due("100.00")
    payments.add_gift_card("GC-123", eur("25.00"))
    payments.add_store_credit(CUSTOMER, eur("15.50"))
    payments.add_on_account(CUSTOMER, eur("30.00"))
    card = payments.authorize_card("stripe", "pi_1", eur("20.00"))
    payments.capture(card.tender_id)
    payments.add_cash(eur("10.00"))

    assert [t.kind for t in payments.tenders] == [
        TenderKind.gift_card,
        TenderKind.store_credit,
        TenderKind.on_account,
        TenderKind.card,
        TenderKind.cash,
    ]
    assert payments.amount_due == eur("0.00")
    assert payments.change_due == eur("0.50")
    assert payments.amount_paid == eur("100.00")


def test_tenths_add_up_exactly() -> None:
    payments = due("0.30")
    for _ in range(3):
        payments.add_gift_card("GC-1", eur("0.10"))
    assert payments.amount_due.is_zero() and payments.change_due.is_zero()


@pytest.mark.parametrize(
    "take",
    [
        lambda p: p.authorize_card("adyen", "PSP-9", eur("5.01")),
        lambda p: p.add_gift_card("GC-1", eur("5.01")),
        lambda p: p.add_store_credit(CUSTOMER, eur("5.01")),
        lambda p: p.add_on_account(CUSTOMER, eur("5.01")),
    ],
    ids=["card", "gift_card", "store_credit", "on_account"],
)
def test_only_cash_may_exceed_what_is_due(take: Callable[[OrderPayments], object]) -> None:
    payments = due("10.00")
    payments.add_cash(eur("5.00"))

    with pytest.raises(Conflict) as refused:
        take(payments)

    assert refused.value.code == "overpayment"
    assert "at most 5.00 EUR" in refused.value.problems[0].message
    assert payments.amount_due == eur("5.00") and len(payments.tenders) == 1


def test_nothing_more_is_taken_once_paid() -> None:
    payments = due("5.00")
    payments.add_cash(eur("10.00"))
    with pytest.raises(Conflict) as refused:
        payments.add_cash(eur("1.00"))
    assert refused.value.code == "overpayment"
    assert payments.change_due == eur("5.00")


@pytest.mark.parametrize(
    "amount",
    [eur("0"), eur("-1.00"), eur("1.005"), Money(D("1"), "USD"), D("1.00"), 1.0],
    ids=["zero", "negative", "unrounded", "other-currency", "bare-decimal", "float"],
)
def test_tender_amounts_are_positive_rounded_money_in_the_order_currency(amount: object) -> None:
    payments = due("10.00")
    with pytest.raises(ValidationFailed) as refused:
        payments.add_cash(amount)  # type: ignore[arg-type]
    assert [p.field for p in refused.value.problems] == ["amount"]
    assert payments.tenders == []


def test_gift_cards_and_accounts_need_what_they_draw_on() -> None:
    payments = due("10.00")
    with pytest.raises(ValidationFailed):
        payments.add_gift_card(" ", eur("1.00"))
    with pytest.raises(ValidationFailed):
        payments.add_on_account("someone", eur("1.00"))  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        payments.authorize_card("", "PSP-1", eur("1.00"))
    assert payments.tenders == []


def test_payments_for_an_order_need_its_taxes() -> None:
    order = Order(currency="EUR", channel="web", mode="ship")  # type: ignore[arg-type]
    order.add_line(
        product_id=uuid.uuid4(), sku="A", quantity=D("2"), unit_price=eur("3.00"), tax_category="s"
    )
    with pytest.raises(Conflict) as refused:
        OrderPayments.for_order(order)
    assert refused.value.code == "taxes-not-computed"

    order.set_taxes(eur("1.14"))
    payments = OrderPayments.for_order(order)
    assert (payments.order_id, payments.total) == (order.order_id, eur("7.14"))


# -- card payments ----------------------------------------------------------------------------------


def test_the_card_transition_table_is_the_documented_one() -> None:
    assert {state.value: sorted(targets) for state, targets in CARD_TRANSITIONS.items()} == {
        "authorized": ["captured", "voided"],
        "captured": ["partially_refunded", "refunded"],
        "partially_refunded": ["partially_refunded", "refunded"],
        "refunded": [],
        "voided": [],
    }


def card_in(state: CardState) -> tuple[OrderPayments, CardPayment]:
    """A 50.00 authorization, captured at 40.00 and refunded as ``state`` needs."""
    payments = due("50.00")
    card = payments.authorize_card("adyen", "PSP-1", eur("50.00"))
    if state is CardState.voided:
        payments.void(card.tender_id)
    elif state is not CardState.authorized:
        payments.capture(card.tender_id, eur("40.00"))
        if state is CardState.partially_refunded:
            payments.refund(card.tender_id, eur("10.00"))
        elif state is CardState.refunded:
            payments.refund(card.tender_id, eur("40.00"))
    assert card.state is state
    return payments, card


CARD_ACTIONS: dict[str, tuple[CardState, Callable[[OrderPayments, CardPayment], object]]] = {
    "capture": (CardState.captured, lambda p, c: p.capture(c.tender_id, eur("1.00"))),
    "refund_part": (CardState.partially_refunded, lambda p, c: p.refund(c.tender_id, eur("1.00"))),
    "refund_rest": (CardState.refunded, lambda p, c: p.refund(c.tender_id, c.refundable)),
    "void": (CardState.voided, lambda p, c: p.void(c.tender_id)),
}
CARD_CASES = [(state, action) for state in CardState for action in CARD_ACTIONS]


@pytest.mark.parametrize(("state", "action"), CARD_CASES, ids=[f"{s}-{a}" for s, a in CARD_CASES])
def test_card_actions_follow_the_table(state: CardState, action: str) -> None:
    payments, card = card_in(state)
    target, act = CARD_ACTIONS[action]
    if target in CARD_TRANSITIONS[state]:
        act(payments, card)
        assert card.state is target
    else:
        events_before = len(payments.pending_events)
        with pytest.raises(Conflict) as refused:
            act(payments, card)
        assert refused.value.code == INVALID_TRANSITION
        assert f"is {state}" in refused.value.detail
        assert card.state is state and len(payments.pending_events) == events_before


def test_capture_cannot_exceed_the_authorization() -> None:
    payments = due("50.00")
    card = payments.authorize_card("adyen", "PSP-1", eur("30.00"))
    with pytest.raises(Conflict) as refused:
        payments.capture(card.tender_id, eur("30.01"))
    assert refused.value.code == "capture-exceeds-authorized"
    assert card.state is CardState.authorized

    payments.capture(card.tender_id, eur("25.00"))  # the other 5.00 is released
    assert (card.captured, card.covered, payments.amount_due) == (eur("25.00"), eur("25.00"), eur("25.00"))
    assert payments.pending_events[-1].payload["released"] == {"amount": "5.00", "currency": "EUR"}


def test_refunds_cannot_exceed_what_was_captured() -> None:
    payments, card = card_in(CardState.captured)  # 40.00 captured
    payments.refund(card.tender_id, eur("15.00"))
    payments.refund(card.tender_id, eur("15.00"))
    assert card.state is CardState.partially_refunded

    with pytest.raises(Conflict) as refused:
        payments.refund(card.tender_id, eur("10.01"))
    assert refused.value.code == "refund-exceeds-captured"
    assert refused.value.problems[0].message == "at most 10.00 EUR"

    payments.refund(card.tender_id, eur("10.00"))
    assert card.state is CardState.refunded
    assert card.refunded == eur("40.00") and card.covered.is_zero()
    assert payments.amount_due == eur("50.00")


def test_a_voided_authorization_pays_nothing() -> None:
    payments, card = card_in(CardState.voided)
    assert card.covered.is_zero() and payments.amount_due == eur("50.00")
    payments.authorize_card("adyen", "PSP-2", eur("50.00"))  # a retry is welcome
    assert payments.amount_due.is_zero()


def test_the_same_gateway_reference_is_recorded_once() -> None:
    payments = due("50.00")
    payments.authorize_card("adyen", "PSP-1", eur("10.00"))
    with pytest.raises(Conflict) as refused:
        payments.authorize_card("adyen", "PSP-1", eur("10.00"))
    assert refused.value.code == "duplicate-payment-reference"
    payments.authorize_card("stripe", "PSP-1", eur("10.00"))  # another gateway, another payment


def test_card_actions_need_a_card_tender() -> None:
    payments = due("50.00")
    cash = payments.add_cash(eur("5.00"))
    with pytest.raises(ValidationFailed):
        payments.capture(cash.tender_id)
    with pytest.raises(ValidationFailed):
        payments.void(uuid.uuid4())


def test_payment_events_are_json_safe() -> None:
    payments = due("17.35")
    card = payments.authorize_card("adyen", "PSP-1", eur("10.00"))
    payments.capture(card.tender_id)
    payments.add_cash(eur("20.00"))
    payments.refund(card.tender_id, eur("2.50"))

    assert [e.type for e in payments.pending_events] == [
        "PaymentAuthorized",
        "PaymentCaptured",
        "TenderAccepted",
        "PaymentRefunded",
    ]
    cash_event = payments.pending_events[2].payload
    assert cash_event["kind"] == "cash"
    assert cash_event["amount"] == {"amount": "20.00", "currency": "EUR"}
    assert cash_event["change"] == {"amount": "12.65", "currency": "EUR"}
    assert cash_event["order_id"] == str(payments.order_id)
    for event in payments.pending_events:
        assert json.loads(json.dumps(event.payload)) == event.payload


# -- property: the books of one checkout balance ----------------------------------------------------

cents = st.integers(min_value=1, max_value=100_000).map(lambda n: Money(D(n) / 100, "EUR"))


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=100_000).map(lambda n: Money(D(n) / 100, "EUR")),
    attempts=st.lists(st.tuples(st.sampled_from(list(TenderKind)), cents), max_size=8),
)
def test_paid_plus_due_is_the_total_and_only_cash_makes_change(
    total: Money, attempts: list[tuple[TenderKind, Money]]
) -> None:
    payments = OrderPayments(order_id=uuid.uuid4(), total=total)
    for number, (kind, amount) in enumerate(attempts):
        try:
            if kind is TenderKind.cash:
                payments.add_cash(amount)
            elif kind is TenderKind.card:
                payments.authorize_card("gw", f"ref-{number}", amount)
            elif kind is TenderKind.gift_card:
                payments.add_gift_card("GC", amount)
            elif kind is TenderKind.store_credit:
                payments.add_store_credit(CUSTOMER, amount)
            else:
                payments.add_on_account(CUSTOMER, amount)
        except Conflict as refused:
            assert refused.code == "overpayment"

        assert payments.amount_paid + payments.amount_due == total
        assert not payments.amount_due.is_negative() and not payments.change_due.is_negative()
        cash = Money.sum((t.covered for t in payments.tenders if t.kind is TenderKind.cash), "EUR")
        assert payments.change_due <= cash
