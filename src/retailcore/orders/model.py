"""One order model for every channel: a pure aggregate with a written-down state machine.

An :class:`Order` is what a customer asked for, whichever edge it came through: a POS basket, a web
checkout, a marketplace file, a b2b order keyed in the back office. The aggregate enforces its own
rules and records what happened as :class:`DomainEvent` objects in :attr:`Order.pending_events`;
it does no I/O. A service (later) loads it, calls one method, saves it and appends the pending
events to the event log in the same transaction.

The rules, each written down next to the code that enforces it (and in ``docs/orders.md``):

* :data:`MODES_BY_CHANNEL` says which fulfillment modes each channel may use.
* :data:`TRANSITIONS` says which state changes are allowed; every change goes through
  :meth:`Order._transition`, which refuses anything else with ``409 invalid-state-transition``.
* Lines, taxes and the invoice flag are edited in ``draft`` only: once confirmed, the order is a
  promise, and changing it is a cancellation (or, after handover, a return).
* Amounts are :class:`~retailcore.core.money.Money`. A line's amount is unit price times quantity
  rounded half-up to the currency's minor unit (the receipt rule), so the order's totals are exact
  sums of the amounts a receipt or invoice prints.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from retailcore.core.currencies import UnknownCurrency, minor_unit
from retailcore.core.errors import Conflict, FieldProblem, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.core.money import Money

if TYPE_CHECKING:  # tenders imports this module at run time; the reverse is only needed for types
    from retailcore.orders.tenders import OrderPayments

__all__ = [
    "INVALID_TRANSITION",
    "MODES_BY_CHANNEL",
    "QUANTITY_PLACES",
    "TRANSITIONS",
    "Channel",
    "DomainEvent",
    "FulfillmentMode",
    "Order",
    "OrderLine",
    "OrderState",
    "json_safe",
]

INVALID_TRANSITION: Final[str] = "invalid-state-transition"
"""Error code of a state change the transition table does not allow."""

QUANTITY_PLACES: Final[int] = 4
"""Decimals a quantity may have: the same bound inventory uses for stock moves."""


# -- channels and fulfillment modes ------------------------------------------------------------------


class Channel(StrEnum):
    """Where the order came from. It decides the fulfillment modes and, later, the posting point."""

    pos = "pos"  # a till in a store; posts in batch at session close
    web = "web"  # our own web shop; revenue at fulfillment, payments held as deposits until then
    marketplace = "marketplace"  # an order imported from a marketplace (file or API)
    b2b = "b2b"  # a business customer, usually on account; always invoiced


class FulfillmentMode(StrEnum):
    """How the goods reach the customer."""

    carry_out = "carry_out"  # handed over at the counter of ``store_id``
    ship = "ship"  # shipped from a warehouse to the customer's address
    click_and_collect = "click_and_collect"  # reserved in ``pickup_store_id``, collected there
    ship_from_store = "ship_from_store"  # picked and shipped from the stock of ``store_id``


MODES_BY_CHANNEL: Final[Mapping[Channel, frozenset[FulfillmentMode]]] = {
    # A till hands goods over; "ship" covers the endless aisle (sold in store, shipped from stock
    # elsewhere). Click-and-collect starts on the web, so a till never creates one.
    Channel.pos: frozenset({FulfillmentMode.carry_out, FulfillmentMode.ship}),
    # Nobody carries goods out of a web shop.
    Channel.web: frozenset(
        {FulfillmentMode.ship, FulfillmentMode.click_and_collect, FulfillmentMode.ship_from_store}
    ),
    # Marketplaces deliver to the buyer's address; pickup is not something they pass on to us.
    Channel.marketplace: frozenset({FulfillmentMode.ship, FulfillmentMode.ship_from_store}),
    # Business customers get deliveries (from a store when the warehouse is short) or collect at a
    # trade counter.
    Channel.b2b: frozenset(
        {FulfillmentMode.ship, FulfillmentMode.ship_from_store, FulfillmentMode.carry_out}
    ),
}
"""Fulfillment modes each channel may use; anything else is refused when the order is built."""

# Modes that happen in (or from) one store need to know which one.
_MODES_NEEDING_STORE: Final = frozenset({FulfillmentMode.carry_out, FulfillmentMode.ship_from_store})


# -- the state machine -------------------------------------------------------------------------------


class OrderState(StrEnum):
    """Where an order stands. Exactly the transitions in :data:`TRANSITIONS` are possible."""

    draft = "draft"  # being built: lines, taxes and invoice flag may change; nothing promised yet
    confirmed = "confirmed"  # accepted: lines frozen, stock may be reserved, nothing handed over yet
    partially_fulfilled = "partially_fulfilled"  # some quantity handed over or shipped, some still open
    fulfilled = "fulfilled"  # every quantity not cancelled has been handed over or shipped
    invoiced = "invoiced"  # an invoice was issued for the fulfilled order (b2b, or on request)
    cancelled = "cancelled"  # called off before anything was fulfilled; final
    closed = "closed"  # done: nothing more happens to it; later changes are returns; final


TRANSITIONS: Final[Mapping[OrderState, frozenset[OrderState]]] = {
    OrderState.draft: frozenset({OrderState.confirmed, OrderState.cancelled}),
    OrderState.confirmed: frozenset(
        {OrderState.partially_fulfilled, OrderState.fulfilled, OrderState.cancelled}
    ),
    # -> itself is a further partial fulfillment; -> fulfilled also when the remainder is cancelled.
    OrderState.partially_fulfilled: frozenset({OrderState.partially_fulfilled, OrderState.fulfilled}),
    OrderState.fulfilled: frozenset({OrderState.invoiced, OrderState.closed}),
    OrderState.invoiced: frozenset({OrderState.closed}),
    OrderState.cancelled: frozenset(),
    OrderState.closed: frozenset(),
}
"""Allowed order state changes, from -> targets. Documented in docs/orders.md."""

# Fulfillment is allowed exactly where the table allows one of its two targets.
_FULFILLMENT_TARGETS: Final = frozenset({OrderState.partially_fulfilled, OrderState.fulfilled})


# -- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainEvent:
    """A fact the aggregate recorded, waiting to be appended to the event log by a service.

    type
        The event name, e.g. ``OrderConfirmed``; the event log and posting rules key on it.
    payload
        JSON-safe values only (str, int, bool, None, lists, dicts): Decimals and amounts as strings,
        ids as text, so no consumer can ever read a price as a binary float.
    """

    type: str
    payload: dict[str, Any]


def json_safe(value: Any) -> Any:
    """Copy ``value`` with Decimals as strings, ids as text and Money as ``{"amount", "currency"}``."""
    if isinstance(value, Money):
        return value.to_dict()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"not JSON-safe: {type(value).__name__}")  # a float lands here on purpose


# -- validation helpers ------------------------------------------------------------------------------


def _quantity_problem(value: object, field_name: str) -> FieldProblem | None:
    """Why ``value`` is not a usable positive quantity, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        return FieldProblem(field_name, f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        return FieldProblem(field_name, "must be a positive number")
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > QUANTITY_PLACES:
        return FieldProblem(field_name, f"at most {QUANTITY_PLACES} decimals")
    return None


def _amount_problem(value: object, currency: str, field_name: str) -> FieldProblem | None:
    """Why ``value`` is not a usable non-negative, rounded amount in ``currency``, or None."""
    if not isinstance(value, Money):
        return FieldProblem(field_name, f"must be Money, not {type(value).__name__}")
    if value.currency != currency:
        return FieldProblem(field_name, f"must be in {currency}, not {value.currency}")
    if value.is_negative():
        return FieldProblem(field_name, "must not be negative")
    if not value.is_rounded():
        return FieldProblem(field_name, f"must be rounded to {value.minor_unit} decimals")
    return None


def _refuse(problems: list[FieldProblem], detail: str) -> None:
    if problems:
        raise ValidationFailed(detail, problems=problems)


# -- the aggregate -----------------------------------------------------------------------------------


@dataclass
class OrderLine:
    """One product on an order. Quantities only grow through :meth:`Order.fulfill` and the cancel
    methods, so ``fulfilled_quantity + cancelled_quantity <= quantity`` always holds.

    line_id
        Identifies the line within the order; fulfillments and events refer to it (the same
        product may sit on two lines, e.g. at two prices).
    product_id
        The product in master data.
    sku
        The product's SKU when ordered, kept so events and documents read without a lookup.
    quantity
        Ordered quantity: positive Decimal, at most :data:`QUANTITY_PLACES` decimals.
    unit_price
        Price of one unit in the order's currency, as the price list gave it (tax included or not,
        per :attr:`Order.prices_include_tax`).
    discount
        Discount on the whole line (not per unit), rounded, at most the line's :attr:`amount`.
    tax_category
        The product's tax category; the tax module turns it into taxes for the order.
    fulfilled_quantity
        Quantity handed over or shipped so far.
    cancelled_quantity
        Quantity that will not be fulfilled (whole order or remainder cancelled).
    """

    line_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    quantity: Decimal
    unit_price: Money
    discount: Money
    tax_category: str
    fulfilled_quantity: Decimal = Decimal(0)
    cancelled_quantity: Decimal = Decimal(0)

    @property
    def open_quantity(self) -> Decimal:
        """What is still to be fulfilled."""
        return self.quantity - self.fulfilled_quantity - self.cancelled_quantity

    @property
    def amount(self) -> Money:
        """Unit price times quantity, rounded half-up: the line amount a receipt prints."""
        return (self.unit_price * self.quantity).round(ROUND_HALF_UP)

    @property
    def net_amount(self) -> Money:
        """Line amount after the line's discount."""
        return self.amount - self.discount

    def to_payload(self, quantity: Decimal | None = None) -> dict[str, Any]:
        """JSON-safe description of the line; ``quantity`` replaces the ordered one (for events
        about part of it, e.g. the quantity just fulfilled)."""
        return json_safe(
            {
                "line_id": self.line_id,
                "product_id": self.product_id,
                "sku": self.sku,
                "quantity": self.quantity if quantity is None else quantity,
                "unit_price": self.unit_price,
                "discount": self.discount,
                "tax_category": self.tax_category,
            }
        )


@dataclass
class Order:
    """The order aggregate, the same for every channel and fulfillment mode.

    currency
        ISO 4217 code; every amount on the order is in it.
    channel
        A :class:`Channel`; fixes the allowed modes (:data:`MODES_BY_CHANNEL`).
    mode
        A :class:`FulfillmentMode` allowed for the channel.
    store_id
        The selling or fulfilling store. Required for the ``pos`` channel and for ``carry_out`` and
        ``ship_from_store`` (the store whose stock leaves); optional otherwise.
    pickup_store_id
        Where the customer collects: required for ``click_and_collect``, refused for other modes.
    customer_id
        The customer; required for ``b2b`` (credit limit, invoices), optional elsewhere (a walk-in
        POS sale or a guest web checkout has none).
    order_id
        Minted offline when not given (UUIDv7), so a terminal can create orders without a server.
    state
        An :class:`OrderState`; changed only through :meth:`_transition`.
    lines
        The :class:`OrderLine` objects, in the order they were added.
    taxes
        Tax hook: the amount computed by the tax module and set with :meth:`set_taxes`. ``None``
        means not computed yet; editing lines resets it, and :meth:`confirm` refuses without it,
        so no order is ever confirmed with a stale or missing tax amount.
    prices_include_tax
        Whether unit prices already contain tax (typical for consumer prices in Europe). Then
        :attr:`total` does not add :attr:`taxes` on top; they are the part of it that is tax.
    shipping
        The shipping charged after its discounts (decision 0057), on the prices' basis like the lines;
        ``None`` for an order without shipping. Part of :attr:`total`; its tax is part of :attr:`taxes`.
    invoice_requested
        The customer asked for an invoice; ``b2b`` orders are always invoiced.
    invoice_number
        Set by :meth:`invoice`.
    pending_events
        Events recorded since the aggregate was loaded; the service appends them to the event log
        and clears the list after commit.
    """

    currency: str
    channel: Channel
    mode: FulfillmentMode
    store_id: uuid.UUID | None = None
    pickup_store_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    order_id: uuid.UUID = field(default_factory=new_id)
    state: OrderState = OrderState.draft
    lines: list[OrderLine] = field(default_factory=list)
    taxes: Money | None = None
    prices_include_tax: bool = False
    shipping: Money | None = None
    invoice_requested: bool = False
    invoice_number: str | None = None
    pending_events: list[DomainEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        problems: list[FieldProblem] = []
        try:
            minor_unit(self.currency)
        except (UnknownCurrency, TypeError) as error:
            problems.append(FieldProblem("currency", str(error)))
        # Plain strings are accepted (they come from requests and rows) and turned into the enums.
        try:
            self.channel = Channel(self.channel)
        except ValueError:
            problems.append(FieldProblem("channel", f"must be one of {', '.join(Channel)}"))
        try:
            self.mode = FulfillmentMode(self.mode)
        except ValueError:
            problems.append(FieldProblem("mode", f"must be one of {', '.join(FulfillmentMode)}"))
        try:
            self.state = OrderState(self.state)
        except ValueError:
            problems.append(FieldProblem("state", f"must be one of {', '.join(OrderState)}"))
        _refuse(problems, "the order cannot be built as given")

        allowed = MODES_BY_CHANNEL[self.channel]
        if self.mode not in allowed:
            modes = ", ".join(sorted(allowed))
            problems.append(FieldProblem("mode", f"{self.channel} orders allow {modes}, not {self.mode}"))
        if self.store_id is None and (self.channel is Channel.pos or self.mode in _MODES_NEEDING_STORE):
            problems.append(FieldProblem("store_id", f"required for {self.channel} {self.mode} orders"))
        if self.mode is FulfillmentMode.click_and_collect and self.pickup_store_id is None:
            problems.append(FieldProblem("pickup_store_id", "required for click_and_collect"))
        if self.mode is not FulfillmentMode.click_and_collect and self.pickup_store_id is not None:
            problems.append(FieldProblem("pickup_store_id", "only click_and_collect orders are picked up"))
        if self.channel is Channel.b2b and self.customer_id is None:
            problems.append(FieldProblem("customer_id", "b2b orders need a customer"))
        _refuse(problems, "the order cannot be built as given")

    # -- state machine -------------------------------------------------------------------------------

    def _refusal(self, target: str, action: str) -> Conflict:
        allowed = ", ".join(sorted(TRANSITIONS[self.state])) or "none"
        return Conflict(
            f"order {self.order_id} is {self.state} and cannot be {action}"
            f" (allowed from {self.state}: {allowed})",
            code=INVALID_TRANSITION,
            problems=[FieldProblem("state", f"{self.state} -> {target} is not allowed")],
        )

    def _transition(self, target: OrderState, action: str) -> None:
        """The one place the state changes: refuse what :data:`TRANSITIONS` does not allow."""
        if target not in TRANSITIONS[self.state]:
            raise self._refusal(target, action)
        self.state = target

    def _require_draft(self, action: str) -> None:
        if self.state is not OrderState.draft:
            raise Conflict(
                f"order {self.order_id} is {self.state}: {action} is possible in draft only",
                code="order-not-editable",
                problems=[FieldProblem("state", f"is {self.state}, must be draft")],
            )

    def _record(self, event_type: str, **payload: Any) -> None:
        body = {"order_id": self.order_id, "channel": self.channel, "mode": self.mode, **payload}
        self.pending_events.append(DomainEvent(event_type, json_safe(body)))

    # -- totals --------------------------------------------------------------------------------------

    @property
    def subtotal(self) -> Money:
        """Sum of line amounts before discounts."""
        return Money.sum((line.amount for line in self.lines), self.currency)

    @property
    def discount_total(self) -> Money:
        """Sum of line discounts."""
        return Money.sum((line.discount for line in self.lines), self.currency)

    @property
    def net_total(self) -> Money:
        """Subtotal minus discounts."""
        return self.subtotal - self.discount_total

    @property
    def total(self) -> Money:
        """What the customer pays: net total (and shipping) plus taxes, unless prices already include
        them.

        Taxes not computed yet count as zero here; :meth:`confirm` makes sure they are computed.
        """
        base = self.net_total if self.shipping is None else self.net_total + self.shipping
        if self.taxes is None or self.prices_include_tax:
            return base
        return base + self.taxes

    def line(self, line_id: uuid.UUID) -> OrderLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise ValidationFailed(
            f"order {self.order_id} has no line {line_id}",
            problems=[FieldProblem("line_id", f"no line {line_id} on this order")],
        )

    @property
    def fulfilled_anything(self) -> bool:
        return any(line.fulfilled_quantity > 0 for line in self.lines)

    # -- draft editing -------------------------------------------------------------------------------

    def add_line(
        self,
        *,
        product_id: uuid.UUID,
        sku: str,
        quantity: Decimal,
        unit_price: Money,
        tax_category: str,
        discount: Money | None = None,
        line_id: uuid.UUID | None = None,
    ) -> OrderLine:
        """Add a line (draft only). All problems with the input are reported at once."""
        self._require_draft("adding a line")
        if discount is None:
            discount = Money.zero(self.currency)
        problems: list[FieldProblem] = []
        if not isinstance(product_id, uuid.UUID):
            problems.append(FieldProblem("product_id", "must be a UUID"))
        if not isinstance(sku, str) or not sku.strip():
            problems.append(FieldProblem("sku", "must not be empty"))
        if not isinstance(tax_category, str) or not tax_category.strip():
            problems.append(FieldProblem("tax_category", "must not be empty"))
        if (problem := _quantity_problem(quantity, "quantity")) is not None:
            problems.append(problem)
        if not isinstance(unit_price, Money) or unit_price.currency != self.currency:
            problems.append(FieldProblem("unit_price", f"must be Money in {self.currency}"))
        elif unit_price.is_negative():
            problems.append(FieldProblem("unit_price", "must not be negative"))
        if (problem := _amount_problem(discount, self.currency, "discount")) is not None:
            problems.append(problem)
        if line_id is not None and any(existing.line_id == line_id for existing in self.lines):
            problems.append(FieldProblem("line_id", f"line {line_id} is already on the order"))
        _refuse(problems, "the line cannot be added as given")

        line = OrderLine(
            line_id=line_id or new_id(),
            product_id=product_id,
            sku=sku.strip(),
            quantity=quantity,
            unit_price=unit_price,
            discount=discount,
            tax_category=tax_category.strip(),
        )
        if line.discount > line.amount:
            raise ValidationFailed(
                "a discount cannot exceed the line amount",
                problems=[FieldProblem("discount", f"at most {line.amount}, got {line.discount}")],
            )
        self.lines.append(line)
        self.taxes = None  # the old taxes no longer describe these lines
        return line

    def remove_line(self, line_id: uuid.UUID) -> None:
        """Remove a line (draft only)."""
        self._require_draft("removing a line")
        self.lines.remove(self.line(line_id))
        self.taxes = None

    def set_taxes(self, taxes: Money) -> None:
        """Record the taxes the tax module computed for the current lines (draft only)."""
        self._require_draft("setting taxes")
        if (problem := _amount_problem(taxes, self.currency, "taxes")) is not None:
            raise ValidationFailed("taxes cannot be set as given", problems=[problem])
        self.taxes = taxes

    def request_invoice(self) -> None:
        """Note that the customer wants an invoice; possible until the order is invoiced or over."""
        if self.state in (OrderState.invoiced, OrderState.cancelled, OrderState.closed):
            raise Conflict(
                f"order {self.order_id} is {self.state}: too late to request an invoice",
                code="order-not-editable",
                problems=[FieldProblem("state", f"is {self.state}")],
            )
        self.invoice_requested = True

    # -- lifecycle -----------------------------------------------------------------------------------

    def confirm(self, payments: OrderPayments | None = None) -> None:
        """draft -> confirmed: the order becomes a promise.

        Needs at least one line and computed taxes. A ``pos`` ``carry_out`` sale hands the goods
        over on the spot, so it must also be paid in full: ``payments`` for this order's total with
        nothing left due. Other orders may be confirmed unpaid (web orders are usually only
        authorized, b2b orders go on account); when ``payments`` is given it must still belong to
        this order and total.
        """
        if OrderState.confirmed not in TRANSITIONS[self.state]:
            raise self._refusal(OrderState.confirmed, "confirmed")
        if not self.lines:
            raise Conflict(
                f"order {self.order_id} has no lines",
                code="order-empty",
                problems=[FieldProblem("lines", "at least one line is needed")],
            )
        if self.taxes is None:
            raise Conflict(
                f"order {self.order_id} has no taxes computed for its lines",
                code="taxes-not-computed",
                problems=[FieldProblem("taxes", "set them with the tax module's result first")],
            )
        pays_on_the_spot = self.channel is Channel.pos and self.mode is FulfillmentMode.carry_out
        if payments is not None:
            self._check_payments_belong(payments)
        if pays_on_the_spot and (payments is None or not payments.amount_due.is_zero()):
            due = self.total if payments is None else payments.amount_due
            raise Conflict(
                f"a pos carry_out sale is paid in full before it is confirmed; {due} is still due",
                code="payment-incomplete",
                problems=[FieldProblem("payments", f"{due} still due")],
            )
        self._transition(OrderState.confirmed, "confirmed")
        self._record(
            "OrderConfirmed",
            currency=self.currency,
            store_id=self.store_id,
            pickup_store_id=self.pickup_store_id,
            customer_id=self.customer_id,
            lines=[line.to_payload() for line in self.lines],
            subtotal=self.subtotal,
            discount_total=self.discount_total,
            taxes=self.taxes,
            prices_include_tax=self.prices_include_tax,
            **({} if self.shipping is None else {"shipping": self.shipping}),
            total=self.total,
            amount_paid=None if payments is None else payments.amount_paid,
        )

    def _check_payments_belong(self, payments: OrderPayments) -> None:
        problems: list[FieldProblem] = []
        if payments.order_id != self.order_id:
            problems.append(FieldProblem("payments.order_id", f"belongs to order {payments.order_id}"))
        if payments.currency != self.currency:
            problems.append(FieldProblem("payments.currency", f"is {payments.currency}, not {self.currency}"))
        elif payments.total != self.total:
            # Payments are taken for a total; if the order changed since, they describe another sale.
            problems.append(FieldProblem("payments.total", f"is {payments.total}, order total {self.total}"))
        _refuse(problems, "the payments do not belong to this order as it stands")

    def fulfill(self, quantities: Mapping[uuid.UUID, Decimal]) -> None:
        """Record goods handed over or shipped: ``{line_id: quantity}``, partial quantities allowed.

        Refused as a whole (nothing changes) if any quantity is malformed (``validation-failed``)
        or exceeds what is still open on its line (``409 over-fulfillment``). The order becomes
        ``fulfilled`` when nothing is open any more, ``partially_fulfilled`` otherwise.
        """
        if not TRANSITIONS[self.state] & _FULFILLMENT_TARGETS:
            # Which of the two targets it would have been depends on quantities not checked yet.
            raise self._refusal("partially_fulfilled or fulfilled", "fulfilled")
        if not isinstance(quantities, Mapping) or not quantities:
            raise ValidationFailed(
                "nothing to fulfill", problems=[FieldProblem("quantities", "name at least one line")]
            )
        problems: list[FieldProblem] = []
        over: list[FieldProblem] = []
        planned: list[tuple[OrderLine, Decimal]] = []
        lines = {line.line_id: line for line in self.lines}
        for line_id, quantity in quantities.items():
            where = f"quantities.{line_id}"
            line = lines.get(line_id)
            if line is None:
                problems.append(FieldProblem(where, "no such line on this order"))
            elif (problem := _quantity_problem(quantity, where)) is not None:
                problems.append(problem)
            elif quantity > line.open_quantity:
                over.append(FieldProblem(where, f"{quantity} exceeds the open {line.open_quantity}"))
            else:
                planned.append((line, quantity))
        _refuse(problems, "the fulfillment cannot be recorded as given")
        if over:
            # Well-formed input that collides with what is already fulfilled or cancelled: a 409,
            # like purchasing's over-receipt, not a 422.
            raise Conflict(
                "more than the open quantity cannot be fulfilled", code="over-fulfillment", problems=over
            )

        for line, quantity in planned:
            line.fulfilled_quantity += quantity
        complete = all(line.open_quantity == 0 for line in self.lines)
        target = OrderState.fulfilled if complete else OrderState.partially_fulfilled
        self._transition(target, "fulfilled")
        self._record(
            "OrderFulfilled",
            store_id=self.store_id,
            pickup_store_id=self.pickup_store_id,
            lines=[line.to_payload(quantity) for line, quantity in planned],
            complete=complete,
        )

    def fulfill_remaining(self) -> None:
        """Fulfill every open quantity at once (a POS carry-out handover, a single shipment)."""
        self.fulfill({line.line_id: line.open_quantity for line in self.lines if line.open_quantity > 0})

    def cancel(self, reason: str = "") -> None:
        """Cancel the whole order: only while nothing has been fulfilled (draft or confirmed).

        Once goods have left, the order cannot be undone by a cancellation: the open remainder can
        be cancelled with :meth:`cancel_remaining`, and what was delivered comes back as a return.
        """
        if OrderState.cancelled not in TRANSITIONS[self.state]:
            raise self._refusal(OrderState.cancelled, "cancelled")
        was_confirmed = self.state is OrderState.confirmed
        cancelled = [(line, line.open_quantity) for line in self.lines]
        for line, quantity in cancelled:
            line.cancelled_quantity += quantity
        self._transition(OrderState.cancelled, "cancelled")
        # A draft promised nothing, so nobody downstream (reservations, deposits) needs to hear of it.
        if was_confirmed:
            self._record(
                "OrderCancelled",
                reason=reason,
                lines=[line.to_payload(quantity) for line, quantity in cancelled],
            )

    def cancel_remaining(self, reason: str = "") -> None:
        """partially_fulfilled -> fulfilled: give up the open quantities, keep what was delivered.

        The order is then complete for what it still covers (nothing is open), so it goes on to be
        invoiced or closed like any fulfilled order; the cancelled quantities are refunded by the
        payments side.
        """
        if OrderState.fulfilled not in TRANSITIONS[self.state]:
            raise self._refusal(OrderState.fulfilled, "cancelled in part")
        if not self.fulfilled_anything:
            # From confirmed the table would allow -> fulfilled, but with nothing delivered that is
            # a whole cancellation, which has its own method and event.
            raise Conflict(
                f"order {self.order_id} has nothing fulfilled: cancel the whole order instead",
                code="nothing-fulfilled",
                problems=[FieldProblem("state", f"is {self.state} with nothing fulfilled")],
            )
        cancelled = [(line, line.open_quantity) for line in self.lines if line.open_quantity > 0]
        for line, quantity in cancelled:
            line.cancelled_quantity += quantity
        self._transition(OrderState.fulfilled, "cancelled in part")
        self._record(
            "OrderRemainderCancelled",
            reason=reason,
            lines=[line.to_payload(quantity) for line, quantity in cancelled],
        )

    def invoice(self, invoice_number: str) -> None:
        """fulfilled -> invoiced: for b2b orders, and for others when the customer asked."""
        if OrderState.invoiced not in TRANSITIONS[self.state]:
            raise self._refusal(OrderState.invoiced, "invoiced")
        if self.channel is not Channel.b2b and not self.invoice_requested:
            raise Conflict(
                f"order {self.order_id} is a {self.channel} order without an invoice request",
                code="invoice-not-requested",
                problems=[FieldProblem("invoice_requested", "request an invoice first")],
            )
        if not isinstance(invoice_number, str) or not invoice_number.strip():
            raise ValidationFailed(
                "an invoice needs a number", problems=[FieldProblem("invoice_number", "must not be empty")]
            )
        self.invoice_number = invoice_number.strip()
        self._transition(OrderState.invoiced, "invoiced")
        self._record("OrderInvoiced", invoice_number=self.invoice_number, total=self.total)

    def close(self) -> None:
        """fulfilled or invoiced -> closed. A b2b order is invoiced first: its receivable needs one."""
        if OrderState.closed not in TRANSITIONS[self.state]:
            raise self._refusal(OrderState.closed, "closed")
        if self.channel is Channel.b2b and self.state is not OrderState.invoiced:
            raise Conflict(
                f"b2b order {self.order_id} is closed after it is invoiced",
                code="invoice-required",
                problems=[FieldProblem("state", f"is {self.state}, must be invoiced")],
            )
        self._transition(OrderState.closed, "closed")
        self._record("OrderClosed")
