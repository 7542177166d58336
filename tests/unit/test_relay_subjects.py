"""Subjects of the events the relay publishes: ``<prefix>.<company code>.<context>.<EventType>``."""

from __future__ import annotations

from retailcore.eventlog.relay import OTHER_CONTEXT, context_of, subject_of, subject_token


def test_the_context_is_the_owner_of_the_aggregate_unless_the_type_says_otherwise():
    assert context_of("ProductCreated", "Product") == "masterdata"
    assert context_of("OrderConfirmed", "Order") == "orders"
    assert context_of("JournalEntryPosted", "JournalEntry") == "accounting"
    assert context_of("AvailabilityChanged", "Availability") == "inventory"
    assert context_of("PosSalesIngested", "PosSession") == "pos"
    assert context_of("ReturnRefundPaid", "Return") == "returns"
    # Recorded by payments about a company; stock moved on behalf of an order or a return.
    assert context_of("GiftCardPolicyChanged", "Company") == "payments"
    assert context_of("GoodsIssued", "Return") == "inventory"
    # A business event posted from outside (POST /ledger/operations) names its own aggregate.
    assert context_of("ShopifyPayout", "ShopifyPayout") == OTHER_CONTEXT


def test_a_subject_has_four_tokens_whatever_the_company_code():
    assert (
        subject_of("retailcore", "DEMO", "orders", "OrderConfirmed")
        == "retailcore.DEMO.orders.OrderConfirmed"
    )
    assert (
        subject_of("retailcore", "FR.PARIS", "pos", "PosSessionClosed")
        == "retailcore.FR_PARIS.pos.PosSessionClosed"
    )
    assert subject_token("a*b>c d") == "a_b_c_d"
    assert subject_token("") == "_"
