"""Payments on one order, as a pure model: which tenders cover the total, and what change is due.

:class:`OrderPayments` is taken for a fixed order total (usually :meth:`OrderPayments.for_order`)
and collects tenders, several kinds on one order if need be (split tender):

* ``cash``: the only tender that may exceed what is still due; the excess is :attr:`change_due`.
* ``card``: a :class:`CardPayment` with its own small state machine (:data:`CARD_TRANSITIONS`):
  authorized -> captured -> refunded (in parts if need be), or authorized -> voided. A capture never
  exceeds the authorization, a refund never exceeds what was captured and not yet refunded.
* ``gift_card``, ``store_credit``, ``loyalty``, ``on_account``: redeemed or charged for the amount given.

A non-cash tender larger than what is still due is refused (``409 overpayment``): a card or a gift card
cannot "give change", and a gift card overcharged would shift liability for nothing. Balances of
gift cards and store credit live in the payments context (``retailcore.payments``), which the
order services call for each tender taken or given back; this model only checks that tenders fit the
order. Malformed input (an amount that is not positive, rounded Money in
the order's currency; an empty reference) is ``validation-failed``; amounts that collide with what
stands (``overpayment``, ``capture-exceeds-authorized``, ``refund-exceeds-captured``) and refused
state changes (``invalid-state-transition``) are conflicts.

No I/O: the gateway call happens in a service; this model records its outcome and the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from retailcore.core.errors import Conflict, FieldProblem, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.core.money import Money
from retailcore.orders.model import INVALID_TRANSITION, DomainEvent, json_safe

if TYPE_CHECKING:
    from retailcore.orders.model import Order

__all__ = [
    "CARD_TRANSITIONS",
    "CardPayment",
    "CardState",
    "OrderPayments",
    "Tender",
    "TenderKind",
]


class TenderKind(StrEnum):
    """How (part of) an order is paid."""

    cash = "cash"  # notes and coins in the drawer; may exceed what is due, the excess is change
    card = "card"  # a card through a payment gateway; see CardPayment
    gift_card = "gift_card"  # redeems a gift card's balance (a liability, not revenue)
    store_credit = "store_credit"  # redeems a customer's store credit (a liability too)
    on_account = "on_account"  # charged to the customer's account: a receivable
    loyalty = "loyalty"  # burns the customer's loyalty points worth the amount (a liability too)


class CardState(StrEnum):
    """Where one card payment stands. Exactly the transitions in :data:`CARD_TRANSITIONS` are possible."""

    authorized = "authorized"  # the gateway holds the amount on the card; no money taken yet
    captured = "captured"  # money taken: all or part of the authorization, the rest released
    partially_refunded = "partially_refunded"  # part of the captured amount given back
    refunded = "refunded"  # everything captured given back; final
    voided = "voided"  # authorization released without capture; final


CARD_TRANSITIONS: Final[Mapping[CardState, frozenset[CardState]]] = {
    CardState.authorized: frozenset({CardState.captured, CardState.voided}),
    # Once money is taken, it can only be given back by a refund: a void would lose track of it.
    CardState.captured: frozenset({CardState.partially_refunded, CardState.refunded}),
    # -> itself is a further partial refund.
    CardState.partially_refunded: frozenset({CardState.partially_refunded, CardState.refunded}),
    CardState.refunded: frozenset(),
    CardState.voided: frozenset(),
}
"""Allowed card payment state changes, from -> targets. Documented in docs/orders.md."""


@dataclass
class Tender:
    """A cash, gift card, store credit or on-account tender: taken once, for its amount.

    kind
        Any :class:`TenderKind` except ``card`` (cards are :class:`CardPayment`).
    amount
        What was handed over or redeemed; for cash it may be more than was due.
    reference
        What the tender draws on: the gift card number, or the customer id for store credit and
        on account; ``None`` for cash.
    change
        The part of a cash tender given back as change when it was taken (zero for the others).
    tender_id
        Identifies the tender within the order's payments.
    """

    kind: TenderKind
    amount: Money
    reference: str | None = None
    change: Money | None = None
    tender_id: uuid.UUID = field(default_factory=new_id)

    @property
    def covered(self) -> Money:
        """How much of the order this tender pays (before change)."""
        return self.amount


@dataclass
class CardPayment:
    """One card payment through a gateway, from authorization to capture and refunds.

    gateway
        The payment gateway (``stripe``, ``adyen``, a terminal provider); settlements are matched
        per gateway.
    reference
        The gateway's reference for this payment (PSP reference), unique per gateway.
    authorized
        Amount the gateway authorized.
    captured
        Amount taken; at most :attr:`authorized`. Zero until captured.
    refunded
        Amount given back so far; at most :attr:`captured`.
    state
        A :class:`CardState`, changed only through :meth:`_transition`.
    tender_id
        Identifies the payment within the order's payments.
    """

    gateway: str
    reference: str
    authorized: Money
    captured: Money
    refunded: Money
    state: CardState = CardState.authorized
    tender_id: uuid.UUID = field(default_factory=new_id)

    @property
    def kind(self) -> TenderKind:
        return TenderKind.card

    @property
    def covered(self) -> Money:
        """How much of the order this payment stands for: the authorization until captured (the
        gateway has promised it), then what was captured and not refunded; nothing once voided."""
        if self.state is CardState.authorized:
            return self.authorized
        return self.captured - self.refunded

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded

    def _transition(self, target: CardState, action: str) -> None:
        """The one place the card state changes: refuse what :data:`CARD_TRANSITIONS` does not allow."""
        if target not in CARD_TRANSITIONS[self.state]:
            allowed = ", ".join(sorted(CARD_TRANSITIONS[self.state])) or "none"
            raise Conflict(
                f"card payment {self.gateway}/{self.reference} is {self.state} and cannot be {action}"
                f" (allowed from {self.state}: {allowed})",
                code=INVALID_TRANSITION,
                problems=[FieldProblem("state", f"{self.state} -> {target} is not allowed")],
            )
        self.state = target


def _positive_amount(amount: object, currency: str, field_name: str = "amount") -> None:
    """Refuse anything but a positive amount in ``currency`` rounded to its minor unit."""
    problem: str | None = None
    if not isinstance(amount, Money):
        problem = f"must be Money, not {type(amount).__name__}"
    elif amount.currency != currency:
        problem = f"must be in {currency}, not {amount.currency}"
    elif amount.is_negative() or amount.is_zero():
        problem = "must be positive"
    elif not amount.is_rounded():
        # A tender is real money changing hands: it cannot carry fractions of a cent.
        problem = f"must be rounded to {amount.minor_unit} decimals"
    if problem is not None:
        raise ValidationFailed(f"{field_name} {problem}", problems=[FieldProblem(field_name, problem)])


def _reference(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            f"{field_name} must not be empty", problems=[FieldProblem(field_name, "must not be empty")]
        )
    return value.strip()


@dataclass
class OrderPayments:
    """The tenders that pay one order's total.

    order_id
        The order paid.
    total
        What the order asks for; fixed when payments are taken (a changed order needs new ones).
    tenders
        Tenders in the order they were taken.
    pending_events
        Events recorded since loading (``TenderAccepted``, ``PaymentAuthorized``,
        ``PaymentCaptured``, ``PaymentRefunded``, ``PaymentVoided``), for the service to append.
    """

    order_id: uuid.UUID
    total: Money
    tenders: list[Tender | CardPayment] = field(default_factory=list)
    pending_events: list[DomainEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.total, Money) or self.total.is_negative() or not self.total.is_rounded():
            raise ValidationFailed(
                "payments need a non-negative, rounded total",
                problems=[FieldProblem("total", f"got {self.total}")],
            )

    @classmethod
    def for_order(cls, order: Order) -> OrderPayments:
        """Payments for ``order``'s total as it stands; its taxes must be computed, or the total
        would be short of them."""
        if order.taxes is None:
            raise Conflict(
                f"order {order.order_id} has no taxes computed, so its total is not final",
                code="taxes-not-computed",
                problems=[FieldProblem("taxes", "set them with the tax module's result first")],
            )
        return cls(order_id=order.order_id, total=order.total)

    # -- what stands -------------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self.total.currency

    @property
    def amount_tendered(self) -> Money:
        """Everything the tenders cover, change included."""
        return Money.sum((tender.covered for tender in self.tenders), self.currency)

    @property
    def change_due(self) -> Money:
        """Cash handed over beyond the total, to be given back."""
        excess = self.amount_tendered - self.total
        return excess if excess.amount > 0 else Money.zero(self.currency)

    @property
    def amount_paid(self) -> Money:
        """What the tenders pay towards the total, net of change (never more than the total)."""
        return self.amount_tendered - self.change_due

    @property
    def amount_due(self) -> Money:
        """What is still to be paid."""
        return self.total - self.amount_paid

    @property
    def on_account(self) -> Money:
        """What the on-account tenders promise (paid later, against the receivable)."""
        return Money.sum((t.amount for t in self._on_account_tenders()), self.currency)

    def _on_account_tenders(self) -> list[Tender]:
        return [t for t in self.tenders if isinstance(t, Tender) and t.kind is TenderKind.on_account]

    def tender(self, tender_id: uuid.UUID) -> Tender | CardPayment:
        for tender in self.tenders:
            if tender.tender_id == tender_id:
                return tender
        raise ValidationFailed(
            f"no tender {tender_id} on order {self.order_id}",
            problems=[FieldProblem("tender_id", f"no tender {tender_id} on this order")],
        )

    def card(self, tender_id: uuid.UUID) -> CardPayment:
        tender = self.tender(tender_id)
        if not isinstance(tender, CardPayment):
            raise ValidationFailed(
                f"tender {tender_id} is {tender.kind}, not a card payment",
                problems=[FieldProblem("tender_id", f"is a {tender.kind} tender")],
            )
        return tender

    def _record(self, event_type: str, **payload: Any) -> None:
        body = {"order_id": self.order_id, **payload}
        self.pending_events.append(DomainEvent(event_type, json_safe(body)))

    def _refuse_overpayment(self, amount: Money, kind: TenderKind) -> None:
        due = self.amount_due
        if due.is_zero():
            problem = "nothing is due on this order"
        elif kind is not TenderKind.cash and amount > due:
            problem = f"at most {due} by {kind}: only cash may exceed what is due"
        else:
            return
        raise Conflict(
            f"{kind} tender of {amount} refused: {problem}",
            code="overpayment",
            problems=[FieldProblem("amount", problem)],
        )

    # -- simple tenders ----------------------------------------------------------------------------

    def _take(self, kind: TenderKind, amount: Money, reference: str | None) -> Tender:
        _positive_amount(amount, self.currency)
        self._refuse_overpayment(amount, kind)
        due = self.amount_due
        change = amount - due if amount > due else Money.zero(self.currency)
        tender = Tender(kind=kind, amount=amount, reference=reference, change=change)
        self.tenders.append(tender)
        self._record(
            "TenderAccepted",
            tender_id=tender.tender_id,
            kind=kind,
            amount=amount,
            change=change,
            reference=reference,
        )
        return tender

    def add_cash(self, amount: Money) -> Tender:
        """Cash handed over; more than is due is allowed and gives change."""
        return self._take(TenderKind.cash, amount, None)

    def add_gift_card(self, card_number: str, amount: Money) -> Tender:
        """Redeem ``amount`` from a gift card (the services name it by its id in the payments context, which
        checks and moves its balance)."""
        return self._take(TenderKind.gift_card, amount, _reference(card_number, "card_number"))

    def add_store_credit(self, customer_id: uuid.UUID, amount: Money) -> Tender:
        """Redeem ``amount`` of the customer's store credit."""
        return self._take(TenderKind.store_credit, amount, str(self._customer(customer_id)))

    def add_loyalty(self, customer_id: uuid.UUID, amount: Money) -> Tender:
        """Burn the customer's loyalty points worth ``amount`` (the loyalty context checks and moves them)."""
        return self._take(TenderKind.loyalty, amount, str(self._customer(customer_id)))

    def add_on_account(self, customer_id: uuid.UUID, amount: Money) -> Tender:
        """Charge ``amount`` to the customer's account (credit limit checked by the payments context)."""
        return self._take(TenderKind.on_account, amount, str(self._customer(customer_id)))

    @staticmethod
    def _customer(customer_id: object) -> uuid.UUID:
        if not isinstance(customer_id, uuid.UUID):
            raise ValidationFailed(
                "a customer is needed", problems=[FieldProblem("customer_id", "must be a UUID")]
            )
        return customer_id

    # -- card payments -----------------------------------------------------------------------------

    def authorize_card(self, gateway: str, reference: str, amount: Money) -> CardPayment:
        """Record an authorization the gateway granted; it counts towards the total from now on."""
        gateway = _reference(gateway, "gateway")
        reference = _reference(reference, "reference")
        _positive_amount(amount, self.currency)
        for tender in self.tenders:
            if isinstance(tender, CardPayment) and (tender.gateway, tender.reference) == (gateway, reference):
                raise Conflict(
                    f"payment {gateway}/{reference} is already on order {self.order_id}",
                    code="duplicate-payment-reference",
                    problems=[FieldProblem("reference", "already recorded")],
                )
        self._refuse_overpayment(amount, TenderKind.card)
        zero = Money.zero(self.currency)
        payment = CardPayment(
            gateway=gateway, reference=reference, authorized=amount, captured=zero, refunded=zero
        )
        self.tenders.append(payment)
        self._record(
            "PaymentAuthorized",
            tender_id=payment.tender_id,
            gateway=gateway,
            reference=reference,
            amount=amount,
        )
        return payment

    def capture(self, tender_id: uuid.UUID, amount: Money | None = None) -> CardPayment:
        """Take ``amount`` (the whole authorization when omitted); the rest is released."""
        payment = self.card(tender_id)
        if CardState.captured not in CARD_TRANSITIONS[payment.state]:
            payment._transition(CardState.captured, "captured")  # raises with the allowed targets
        amount = payment.authorized if amount is None else amount
        _positive_amount(amount, self.currency)
        if amount > payment.authorized:
            raise Conflict(
                f"cannot capture {amount}: only {payment.authorized} was authorized",
                code="capture-exceeds-authorized",
                problems=[FieldProblem("amount", f"at most {payment.authorized}")],
            )
        payment._transition(CardState.captured, "captured")
        payment.captured = amount
        self._record(
            "PaymentCaptured",
            tender_id=payment.tender_id,
            gateway=payment.gateway,
            reference=payment.reference,
            amount=amount,
            released=payment.authorized - amount,
        )
        return payment

    def refund(self, tender_id: uuid.UUID, amount: Money) -> CardPayment:
        """Give back ``amount`` of what was captured, in one go or in parts."""
        payment = self.card(tender_id)
        if not CARD_TRANSITIONS[payment.state] & {CardState.refunded, CardState.partially_refunded}:
            payment._transition(CardState.refunded, "refunded")  # raises with the allowed targets
        _positive_amount(amount, self.currency)
        if amount > payment.refundable:
            raise Conflict(
                f"cannot refund {amount}: only {payment.refundable} is captured and not yet refunded",
                code="refund-exceeds-captured",
                problems=[FieldProblem("amount", f"at most {payment.refundable}")],
            )
        refunded = payment.refunded + amount
        target = CardState.refunded if refunded == payment.captured else CardState.partially_refunded
        payment._transition(target, "refunded")
        payment.refunded = refunded
        self._record(
            "PaymentRefunded",
            tender_id=payment.tender_id,
            gateway=payment.gateway,
            reference=payment.reference,
            amount=amount,
            refunded_total=refunded,
        )
        return payment

    def refund_failed(self, tender_id: uuid.UUID, amount: Money) -> CardPayment:
        """The gateway refused a refund recorded before its answer (a return's card refund awaiting
        confirmation): ``amount`` was never given back, so the card's refunded amount shrinks and its
        state is what it would be without that refund. Not a transition of :data:`CARD_TRANSITIONS`:
        the refund it undoes never happened."""
        payment = self.card(tender_id)
        _positive_amount(amount, self.currency)
        if amount > payment.refunded:
            raise Conflict(
                f"cannot release {amount}: only {payment.refunded} is refunded",
                code="refund-exceeds-refunded",
                problems=[FieldProblem("amount", f"at most {payment.refunded}")],
            )
        payment.refunded = payment.refunded - amount
        payment.state = CardState.partially_refunded if payment.refunded else CardState.captured
        self._record(
            "PaymentRefundFailed",
            tender_id=payment.tender_id,
            gateway=payment.gateway,
            reference=payment.reference,
            amount=amount,
            refunded_total=payment.refunded,
        )
        return payment

    def settle_on_account(self, amount: Money) -> None:
        """Part of what was put on account is paid now: the promise shrinks by ``amount`` (the last
        on-account tender first), leaving room for the tender that pays it."""
        _positive_amount(amount, self.currency)
        promised = self._on_account_tenders()
        open_total = self.on_account
        if amount > open_total:
            raise Conflict(
                f"only {open_total} is on account",
                code="overpayment",
                problems=[FieldProblem("amount", f"at most {open_total} is on account")],
            )
        left = amount
        for tender in reversed(promised):
            taken = min(left, tender.amount)
            tender.amount -= taken
            left -= taken
            if left.is_zero():
                break
        self._record("OnAccountSettled", amount=amount)

    def give_back(self, tender_id: uuid.UUID, amount: Money) -> Tender:
        """Return ``amount`` of a gift card or store credit tender to where it came from (the order, or
        what is left of it, was cancelled)."""
        tender = self.tender(tender_id)
        if isinstance(tender, CardPayment) or tender.kind not in (
            TenderKind.gift_card,
            TenderKind.store_credit,
            TenderKind.loyalty,
        ):
            raise Conflict(
                "only gift cards and store credit are given back; cards are refunded",
                code="not-returnable",
                problems=[FieldProblem("tender_id", "not a gift card or store credit")],
            )
        _positive_amount(amount, self.currency)
        if amount > tender.amount:
            raise Conflict(
                f"cannot give back {amount}: the tender was {tender.amount}",
                code="return-exceeds-tender",
                problems=[FieldProblem("amount", f"at most {tender.amount}")],
            )
        self._record(
            "TenderReturned",
            tender_id=tender.tender_id,
            kind=tender.kind,
            amount=amount,
            reference=tender.reference,
        )
        return tender

    def void(self, tender_id: uuid.UUID) -> CardPayment:
        """Release an authorization that was never captured."""
        payment = self.card(tender_id)
        payment._transition(CardState.voided, "voided")
        self._record(
            "PaymentVoided",
            tender_id=payment.tender_id,
            gateway=payment.gateway,
            reference=payment.reference,
            amount=payment.authorized,
        )
        return payment
