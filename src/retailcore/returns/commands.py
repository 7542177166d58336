"""What can be asked of the returns context, and what it answers (requests and views)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import text
from retailcore.masterdata.commands import CompanyScoped, Request, StoreRef

QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
AmountIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Condition = Literal["resaleable", "damaged", "defective"]
Reason = Literal["changed_mind", "wrong_size", "damaged_in_transit", "defective", "not_as_described", "other"]
Status = Literal["requested", "received", "inspected", "refunded", "cancelled"]


class ReturnLineIn(Request):
    order_line_id: uuid.UUID | None = Field(None, description="The original order line (with a receipt).")
    product_id: uuid.UUID | None = Field(None, description="No-receipt returns: the product brought back.")
    quantity: QuantityIn
    condition: Condition = Field("resaleable", description="As declared; inspection may change it.")
    unit_price: MoneyIn | None = Field(
        None, description="No-receipt returns: the price refunded per unit, on the tax rule's basis."
    )


class RequestReturn(CompanyScoped):
    order_id: uuid.UUID | None = Field(
        None, description="The original order; omitted for a no-receipt return."
    )
    store_id: StoreRef = Field(description="The receiving store or warehouse (code or id).")
    customer_id: uuid.UUID | None = Field(None, description="Defaults to the original order's customer.")
    reason: Reason
    note: text(max_length=500) = ""
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=500)


class ReceivedLine(Request):
    return_line_id: uuid.UUID
    quantity: QuantityIn
    condition: Condition | None = None


class ReceiveReturn(Request):
    lines: list[ReceivedLine] | None = Field(
        None, max_length=500, description="What arrived; every outstanding quantity when omitted."
    )


class InspectedLine(Request):
    return_line_id: uuid.UUID
    condition: Condition


class InspectReturn(Request):
    lines: list[InspectedLine] = Field(default_factory=list, max_length=500)


class RefundTenderIn(Request):
    kind: Literal["card", "cash", "store_credit", "on_account", "exchange"] = Field(
        description="on_account: what the customer still owes on the original order is reduced instead;"
        " exchange: the amount pays the new order `order_id` (the customer pays, or gets back by the other"
        " tenders, only the difference)."
    )
    order_id: uuid.UUID | None = Field(
        None, description="exchange: the new order (same customer) the returned goods' value pays."
    )
    tender_id: uuid.UUID | None = Field(
        None,
        description="card: a captured card payment of the original order (refunded through its gateway).",
    )
    gateway: text(min_length=1, max_length=64) | None = Field(
        None, description="card without tender_id: a digital refund to this gateway and card reference."
    )
    reference: text(min_length=1, max_length=200) | None = None
    amount: AmountIn


class RefundLine(Request):
    return_line_id: uuid.UUID
    quantity: QuantityIn


class RefundReturn(Request):
    lines: list[RefundLine] | None = Field(
        None, max_length=500, description="What to refund; every received, unrefunded quantity when omitted."
    )
    restocking_fee: MoneyIn = Field(Decimal(0), description="Kept from the refund, booked as income.")
    tenders: list[RefundTenderIn] | None = Field(
        None,
        max_length=20,
        description="Where the money goes; by default first what the customer still owes on the order"
        " (on_account), then the original cards (up to what they captured and have not refunded), then cash"
        " for what was paid in cash (or by policy), then store credit.",
    )


class CancelReturn(Request):
    reason: text(max_length=500) = ""


class ReturnPolicyIn(CompanyScoped):
    no_receipt_allowed: bool = False
    no_receipt_roles: list[Literal["admin", "store_manager", "cashier", "integration"]] = Field(
        default_factory=lambda: ["admin", "store_manager"]
    )
    cash_refunds_allowed: bool = False
    card_refunds_await_confirmation: bool = Field(
        False,
        description="Refunds to cards stay payable (pending) until the gateway confirms them"
        " (`POST /returns/{id}/card-refunds/{refund_id}/confirm`); off: paid when approved.",
    )
    restocking_fee_taxable: bool = Field(
        True, description="A restocking fee carries output tax at the refunded lines' tax rates."
    )


class FailCardRefund(Request):
    reason: text(max_length=500) = ""
    tenders: list[RefundTenderIn] | None = Field(
        None,
        max_length=20,
        description="Pay the refused amount at once to these tenders (adding up to it); omitted: the"
        " refund stays owed (`failed`) until it is reissued.",
    )


class ReissueCardRefund(Request):
    tenders: list[RefundTenderIn] = Field(
        min_length=1, max_length=20, description="Where the refused amount goes now, adding up to it."
    )


DispositionKind = Literal["stock", "backroom", "damaged"]


class DispositionIn(Request):
    condition: Condition
    location_kind: DispositionKind = Field(description="The kind of location at the receiving store.")
    location_code: text(min_length=1, max_length=64) | None = Field(
        None,
        description="A location of that kind coded so (or ending in `-CODE`) at the receiving store,"
        " else its first location of that kind.",
    )


class SetDispositions(CompanyScoped):
    rules: list[DispositionIn] = Field(
        max_length=3, description="The company's rules; a condition left out goes back to the default."
    )


class DispositionView(BaseModel):
    condition: Condition
    location_kind: DispositionKind
    location_code: str | None
    valuation_role: str = Field(description="The account role the goods are valued on there.")
    default: bool = Field(description="True when the company has no rule of its own for the condition.")


class DispositionsView(BaseModel):
    company_id: uuid.UUID
    rules: list[DispositionView]


CardRefundStatus = Literal["pending", "confirmed", "failed", "reissued"]


class CardRefundView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    return_id: uuid.UUID
    return_number: str
    store_id: uuid.UUID
    order_id: uuid.UUID | None
    tender_id: uuid.UUID | None
    gateway: str
    reference: str
    amount: DecimalStr
    currency: str
    status: CardRefundStatus
    failure_reason: str
    created_at: dt.datetime
    created_by: str
    resolved_at: dt.datetime | None
    resolved_by: str | None
    age_days: int = Field(0, description="Whole days since the refund was asked (today, UTC).")


class ReturnLineView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int
    order_line_id: uuid.UUID | None
    product_id: uuid.UUID
    sku: str
    product_category: str
    quantity: DecimalStr
    received_quantity: DecimalStr
    refunded_quantity: DecimalStr
    condition: str
    location_id: uuid.UUID | None
    unit_price: DecimalStr | None
    cost: DecimalStr
    refunded_net: DecimalStr
    refunded_tax: DecimalStr


class ReturnView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    order_id: uuid.UUID | None
    order_number: str | None
    channel: str
    store_id: uuid.UUID
    customer_id: uuid.UUID | None
    reason: str
    note: str
    status: Status
    no_receipt: bool
    currency: str
    refunded_total: DecimalStr
    restocking_fee: DecimalStr
    credit_note_number: str | None = None
    lines: list[ReturnLineView]
    card_refunds: list[CardRefundView] = Field(
        default_factory=list, description="Refunds to cards that awaited (or await) the gateway."
    )
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class CreditNoteView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    invoice_id: uuid.UUID
    invoice_number: str
    return_id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID
    date: dt.date
    currency: str
    net_total: DecimalStr
    tax_total: DecimalStr
    gross_total: DecimalStr
    lines: list[dict[str, str]]
    created_at: dt.datetime
    created_by: str
