"""Gift cards and store credit over HTTP: issue, balance, redeem on the web and at the till, reload,
expire with breakage; goodwill store credit, spending it, statements. Each test checks the balances
the payments context keeps and the ledger by account role.

ACME sells in France (EUR) with VAT 20 % included; MUG sells at 12.00 and costs 4.00.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select, update

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.payments.tables import GiftCard, GiftCardMovement

D = Decimal
SOLD_AT = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    store = store_factory("S1")
    company_id = company["id"]

    def send(path, body, status=201, headers=admin, **kwargs):
        response = client.post(f"{API}/{path}", json=body, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    send(
        "tax-rules",
        {
            "company_id": company_id,
            "jurisdiction": "FR",
            "tax_category": "standard",
            "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20", "price_included": True}],
        },
    )
    for code, kind, gateway in (
        ("CASH", "cash", None),
        ("CARD", "card", "stripe"),
        ("GIFT", "gift_card", None),
        ("CREDIT", "store_credit", None),
    ):
        send(
            "payment-methods",
            {"company_id": company_id, "code": code, "name": code, "kind": kind, "gateway": gateway},
        )
    mug = send(
        "products",
        {
            "company_id": company_id,
            "sku": "MUG",
            "name": "Mug",
            "category": "Home",
            "list_price": "12.00",
            "cost_method": "average",
            "channels": ["pos", "web"],
        },
    )["id"]
    customer = send("customers", {"company_id": company_id, "code": "ANNA", "name": "Anna"})["id"]
    with transaction(runtime.session_factory) as session:
        row = session.get(Company, uuid.UUID(company_id))
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == row.id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            row,
            kind="receipt",
            lines=[MoveLine(uuid.UUID(mug), D(20), supplier, stock, D("4.00"))],
            date=dt.date(2026, 3, 1),
        )

    class Shop:
        def __init__(self) -> None:
            self.company_id = company_id
            self.store = store
            self.mug = mug
            self.customer = customer

        post = staticmethod(send)

        def get(self, path, status=200, **params):
            response = client.get(f"{API}/{path}", params=params, headers=admin)
            assert response.status_code == status, response.text
            return response.json()

        def issue(self, amount, **fields):
            return send("gift-cards", {"amount": amount, **fields})

        def card(self, code):
            return self.get(f"gift-cards/{code}")

        def web_order(self, quantity="1"):
            return send(
                "orders",
                {"lines": [{"product_id": mug, "quantity": quantity}], "customer_id": customer},
            )

        def pay(self, order, kind, amount, reference=None, status=200):
            body = {"kind": kind, "amount": amount}
            if reference is not None:
                body["reference"] = reference
            response = client.post(f"{API}/orders/{order['id']}/payments", json=body, headers=admin)
            assert response.status_code == status, response.text
            return response

        def balance(self, role) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == uuid.UUID(company_id), Account.role == role)
                )
                return total if total is not None else D(0)

        def entry(self, event_type) -> dict[str, Decimal]:
            """The last event of a type's journal lines: role -> debit - credit."""
            with runtime.session_factory() as session:
                event_id = session.scalars(
                    select(Event.id).where(Event.type == event_type).order_by(Event.position.desc())
                ).first()
                assert event_id is not None, event_type
                rows = session.execute(
                    select(Account.role, a.JournalLine.debit - a.JournalLine.credit)
                    .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(a.JournalEntry.event_id == event_id)
                )
                result: dict[str, Decimal] = {}
                for role, amount in rows:
                    result[role] = result.get(role, D(0)) + amount
                return result

        def time_passes(self, code, days):
            """The card's last day moves ``days`` back, as if they had passed."""
            card = self.card(code)
            with transaction(runtime.session_factory) as session:
                last = dt.date.fromisoformat(card["expires_on"])
                session.execute(
                    update(GiftCard)
                    .where(GiftCard.id == uuid.UUID(card["id"]))
                    .values(expires_on=last - dt.timedelta(days=days))
                )

        def movements_in_db(self) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(GiftCardMovement))

        def till(self):
            terminal = send("pos/terminals", {"store_id": store["id"], "code": "T1", "name": "Till"})
            return send("pos/sessions", {"terminal_id": terminal["id"], "opening_float": "0.00"})

        def batch(self, pos_session, sales, status=200):
            response = client.post(
                f"{API}/pos/sessions/{pos_session['id']}/sales:batch", json={"sales": sales}, headers=admin
            )
            assert response.status_code == status, response.text
            return response

    return Shop()


def _sale(product, payments, customer=None):
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": SOLD_AT,
        "lines": [{"product_id": product, "quantity": "1", "unit_price": "12.00"}],
        "payments": payments,
    }
    if customer:
        sale["customer_id"] = customer
    return sale


# -- issue and balance -------------------------------------------------------------------------------


def test_a_sold_card_is_a_liability_not_revenue_and_its_code_is_shown_once(shop, runtime):
    issued = shop.issue("50.00", paid_by="card")
    code = issued["code"]
    assert len(code) == 19 and code.count("-") == 3
    assert (issued["balance"], issued["currency"], issued["state"], issued["origin"]) == (
        "50.00",
        "EUR",
        "active",
        "sold",
    )
    assert issued["last4"] == code[-4:]
    # Expiry per the default policy: 24 months after the issue.
    assert issued["expires_on"] > (dt.date.today() + dt.timedelta(days=700)).isoformat()
    assert shop.entry("GiftCardSold") == {"card_clearing": D("50.00"), "gift_card_liability": D("-50.00")}
    assert shop.balance("sales_revenue") == D(0) and shop.balance("output_tax") == D(0)
    # The database keeps the hash and the last four characters, never the code.
    with runtime.session_factory() as session:
        card = session.get(GiftCard, uuid.UUID(issued["id"]))
        assert card.code_hash != code and code.replace("-", "") not in card.code_hash
        payloads = [str(e.payload) for e in session.scalars(select(Event))]
        assert not any(code in payload or code.replace("-", "") in payload for payload in payloads)
    # Balance enquiry with the code as typed: case, spaces and dashes do not matter.
    typed = code.replace("-", " ").lower()
    enquiry = shop.card(typed)
    assert enquiry["balance"] == "50.00"
    assert [(m["kind"], m["amount"], m["balance_after"]) for m in enquiry["movements"]] == [
        ("issue", "50.00", "50.00")
    ]
    assert shop.get("gift-cards/XXXX-XXXX-XXXX-XXXX", status=404)["code"] == "not-found"


def test_a_given_card_is_a_goodwill_cost(shop):
    shop.issue("20.00", origin="given")
    assert shop.entry("GiftCardGiven") == {
        "customer_goodwill": D("20.00"),
        "gift_card_liability": D("-20.00"),
    }


def test_an_idempotent_replay_does_not_issue_twice_and_does_not_show_the_code_again(shop, client, admin):
    headers = {**admin, "Idempotency-Key": "gc-1"}
    first = client.post(f"{API}/gift-cards", json={"amount": "30.00"}, headers=headers)
    again = client.post(f"{API}/gift-cards", json={"amount": "30.00"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["code"] and again.json()["code"] is None
    assert len(shop.get("gift-cards")["items"]) == 1
    assert shop.balance("gift_card_liability") == D("-30.00")


def test_issue_refuses_bad_input_and_writes_nothing(shop, client, admin, snapshot):
    before = snapshot()
    for body, field in (
        ({"amount": "0"}, "amount"),
        ({"amount": "10.001"}, "amount"),
        ({"amount": "10.00", "customer_id": str(uuid.uuid4())}, "customer_id"),
        ({"amount": "10.00", "expires_on": "2020-01-01"}, "expires_on"),
        ({"amount": "10.00", "paid_by": "gift_card"}, "paid_by"),
        ({"amount": "10.00", "currency": "XYZ"}, "currency"),
        ({"amount": "10.00", "origin": "found"}, "origin"),
    ):
        response = client.post(f"{API}/gift-cards", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text
    assert snapshot() == before


def test_list_is_an_envelope_filtered_by_state(shop):
    for amount in ("10.00", "20.00", "30.00"):
        shop.issue(amount)
    page = shop.get("gift-cards", limit=2)
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = shop.get("gift-cards", limit=2, cursor=page["next_cursor"])
    assert [c["balance"] for c in page["items"] + rest["items"]] == ["10.00", "20.00", "30.00"]
    assert rest["next_cursor"] is None
    assert shop.get("gift-cards", state="expired")["items"] == []


# -- redemption on the web ---------------------------------------------------------------------------


def test_a_web_order_redeems_part_of_a_card_and_over_redemption_writes_nothing(shop, client, admin, snapshot):
    code = shop.issue("20.00")["code"]
    order = shop.web_order("2")  # 24.00
    paid = shop.pay(order, "gift_card", "15.00", code).json()
    assert paid["paid_amount"] == "15.00"
    # The order names the card by its id, never by its code.
    assert code not in str(paid)
    assert shop.card(code)["balance"] == "5.00"
    assert shop.entry("TenderAccepted") == {
        "gift_card_liability": D("15.00"),
        "customer_deposits": D("-15.00"),
    }

    before = snapshot()
    refused = shop.pay(order, "gift_card", "9.00", code, status=409)
    body = assert_problem(refused, 409, code="insufficient-balance", fields=("amount",))
    assert "5.00" in body["detail"]
    assert snapshot() == before
    assert shop.card(code)["balance"] == "5.00"

    shop.pay(order, "gift_card", "5.00", code)
    assert shop.card(code)["balance"] == "0.00"
    assert shop.balance("gift_card_liability") == D(0)


def test_an_unknown_card_is_refused(shop, snapshot):
    order = shop.web_order()
    before = snapshot()
    unknown = shop.pay(order, "gift_card", "5.00", "ABCD-EFGH-JKLM-NPQR", status=422)
    assert_problem(unknown, 422, code="invalid-reference", fields=("reference",))
    assert snapshot() == before
    missing = shop.pay(order, "gift_card", "5.00", status=422)
    assert_problem(missing, 422, fields=("reference",))


def test_an_expired_card_is_refused_and_a_foreign_one_too(shop, runtime, snapshot):
    code = shop.issue("20.00")["code"]
    shop.time_passes(code, days=800)
    order = shop.web_order()
    before = snapshot()
    expired = shop.pay(order, "gift_card", "5.00", code, status=409)
    assert_problem(expired, 409, code="gift-card-expired", fields=("reference",))
    assert snapshot() == before
    with transaction(runtime.session_factory) as session:  # a card in another currency
        other = session.scalar(select(GiftCard).where(GiftCard.state == "active"))
        assert other is not None
        other.currency = "USD"
        other.expires_on = None
    foreign = shop.pay(order, "gift_card", "5.00", code, status=409)
    assert_problem(foreign, 409, code="gift-card-currency", fields=("reference",))


def test_cancelling_an_order_credits_the_card_back(shop):
    code = shop.issue("30.00")["code"]
    order = shop.web_order()
    shop.pay(order, "gift_card", "12.00", code)
    assert shop.card(code)["balance"] == "18.00"
    shop.post(f"orders/{order['id']}/cancel", {"reason": "changed mind"}, status=200)
    card = shop.card(code)
    assert card["balance"] == "30.00"
    assert [(m["kind"], m["amount"]) for m in card["movements"]] == [
        ("issue", "30.00"),
        ("redeem", "-12.00"),
        ("refund", "12.00"),
    ]
    assert shop.balance("gift_card_liability") == D("-30.00")
    assert shop.balance("customer_deposits") == D(0)


# -- reload, expiry, breakage ------------------------------------------------------------------------


def test_reload_adds_to_the_balance_and_the_liability(shop):
    code = shop.issue("10.00", paid_by="cash")["code"]
    reloaded = shop.post(f"gift-cards/{code}/reload", {"amount": "15.00", "paid_by": "card"}, status=200)
    assert reloaded["balance"] == "25.00"
    assert [m["kind"] for m in reloaded["movements"]] == ["issue", "reload"]
    assert shop.entry("GiftCardReloaded") == {"card_clearing": D("15.00"), "gift_card_liability": D("-15.00")}
    assert shop.balance("gift_card_liability") == D("-25.00")
    shop.post("gift-cards/NOPE-NOPE/reload", {"amount": "1.00"}, status=404)


def test_expiry_recognises_breakage_per_policy(shop):
    kept = shop.issue("40.00")["code"]
    used = shop.issue("50.00")["code"]
    order = shop.web_order()
    shop.pay(order, "gift_card", "12.00", used)
    shop.time_passes(used, days=800)
    swept = shop.post("gift-cards/expire", {}, status=200)["expired"]
    assert [(c["last4"], c["breakage"]) for c in swept] == [(used[-4:], "38.00")]
    assert shop.entry("GiftCardExpired") == {
        "gift_card_liability": D("38.00"),
        "gift_card_breakage": D("-38.00"),
    }
    card = shop.card(used)
    assert (card["state"], card["balance"]) == ("expired", "0.00")
    assert card["movements"][-1]["kind"] == "expire"
    assert shop.card(kept)["state"] == "active"
    # Nothing left to sweep: a second sweep changes nothing.
    assert shop.post("gift-cards/expire", {}, status=200)["expired"] == []
    # What the ledger owes on gift cards is what the cards hold: the kept card's 40.00.
    assert shop.balance("gift_card_liability") == D("-40.00")
    refused = shop.post(f"gift-cards/{used}/reload", {"amount": "5.00"}, status=409)
    assert refused["code"] == "gift-card-expired"


def test_without_breakage_the_card_expires_and_the_liability_stays(shop, client, auth):
    policy = client.put(
        f"{API}/gift-cards/policy",
        json={"months_to_expiry": 12, "breakage": "never"},
        headers=auth("finance", company="ACME"),
    )
    assert policy.status_code == 200, policy.text
    assert shop.get("gift-cards/policy") == {
        "company_id": shop.company_id,
        "months_to_expiry": 12,
        "breakage": "never",
    }
    code = shop.issue("10.00")["code"]
    assert shop.card(code)["expires_on"] < (dt.date.today() + dt.timedelta(days=370)).isoformat()
    shop.time_passes(code, days=400)
    swept = shop.post("gift-cards/expire", {}, status=200)["expired"]
    assert [c["breakage"] for c in swept] == ["0.00"]
    assert (shop.card(code)["state"], shop.card(code)["balance"]) == ("expired", "10.00")
    assert shop.balance("gift_card_breakage") == D(0)
    assert shop.balance("gift_card_liability") == D("-10.00")


def test_cashiers_issue_cards_but_do_not_sweep_or_give_goodwill(shop, client, auth):
    cashier = auth("cashier", company="ACME")
    issued = client.post(f"{API}/gift-cards", json={"amount": "5.00"}, headers=cashier)
    assert issued.status_code == 201, issued.text
    assert client.post(f"{API}/gift-cards/expire", json={}, headers=cashier).status_code == 403
    body = {"customer_id": shop.customer, "amount": "5.00", "reason": "sorry"}
    assert client.post(f"{API}/store-credits", json=body, headers=cashier).status_code == 403


# -- at the till -------------------------------------------------------------------------------------


def test_a_pos_batch_redeems_gift_cards_and_refuses_the_batch_when_one_is_short(shop, snapshot):
    code = shop.issue("20.00", paid_by="cash")["code"]
    pos_session = shop.till()
    paid = _sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00", "reference": code}])
    cash = _sale(shop.mug, [{"payment_method_code": "CASH", "amount": "12.00"}])
    assert shop.batch(pos_session, [cash, paid]).json()["accepted"] == 2
    card = shop.card(code)
    assert card["balance"] == "8.00"
    assert card["movements"][-1]["reference"].startswith("T1-")

    before = snapshot()
    short = _sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00", "reference": code}])
    fine = _sale(shop.mug, [{"payment_method_code": "CASH", "amount": "12.00"}])
    refused = shop.batch(pos_session, [fine, short], status=409)
    body = assert_problem(refused, 409, code="insufficient-balance", fields=("sales.1.payments.0.amount",))
    assert body["detail"].startswith("sale 1 of the batch was refused")
    assert snapshot() == before
    unknown = _sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00", "reference": "NOPE"}])
    assert_problem(
        shop.batch(pos_session, [unknown], status=422),
        422,
        code="invalid-reference",
        fields=("sales.0.payments.0.reference",),
    )
    no_code = _sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00"}])
    assert_problem(
        shop.batch(pos_session, [no_code], status=422), 422, fields=("sales.0.payments.0.reference",)
    )
    assert snapshot() == before

    # The close moves the liability with the other tenders.
    shop.post(f"pos/sessions/{pos_session['id']}/close", {"counted": {"CASH": "12.00"}}, status=200)
    assert shop.balance("gift_card_liability") == D("-8.00")


# -- store credit ------------------------------------------------------------------------------------


def test_goodwill_store_credit_is_spent_on_orders_and_at_the_till_with_a_statement(shop, snapshot):
    statement = shop.post(
        "store-credits", {"customer_id": shop.customer, "amount": "30.00", "reason": "late delivery"}
    )
    assert (statement["balance"], statement["customer_code"]) == ("30.00", "ANNA")
    assert shop.entry("StoreCreditIssued") == {
        "customer_goodwill": D("30.00"),
        "store_credit_liability": D("-30.00"),
    }
    order = shop.web_order()
    shop.pay(order, "store_credit", "12.00")
    before = snapshot()
    refused = shop.pay(shop.web_order("2"), "store_credit", "24.00", status=409)
    assert_problem(refused, 409, code="insufficient-balance", fields=("amount",))
    pos_session = shop.till()
    shop.batch(
        pos_session, [_sale(shop.mug, [{"payment_method_code": "CREDIT", "amount": "12.00"}], shop.customer)]
    )
    assert snapshot() != before
    statement = shop.get(f"store-credits/{shop.customer}")
    assert statement["balance"] == "6.00"
    assert [(m["kind"], m["source"], m["amount"], m["balance_after"]) for m in statement["movements"]] == [
        ("issue", "goodwill", "30.00", "30.00"),
        ("spend", "order", "-12.00", "18.00"),
        ("spend", "order", "-12.00", "6.00"),
    ]
    assert shop.get("store-credits")["items"] == [
        {"customer_id": shop.customer, "customer_code": "ANNA", "currency": "EUR", "balance": "6.00"}
    ]
    # Spent on the web: the liability pays the deposit; at the till it moves when the session closes.
    assert shop.balance("store_credit_liability") == D("-18.00")
    shop.post(f"orders/{order['id']}/cancel", {"reason": "changed mind"}, status=200)
    statement = shop.get(f"store-credits/{shop.customer}")
    assert statement["balance"] == "18.00" and statement["movements"][-1]["kind"] == "refund"
    no_customer = _sale(shop.mug, [{"payment_method_code": "CREDIT", "amount": "12.00"}])
    assert_problem(shop.batch(pos_session, [no_customer], status=422), 422)


def test_goodwill_needs_a_known_customer_and_a_replay_does_not_give_twice(shop, client, admin, snapshot):
    before = snapshot()
    unknown = client.post(
        f"{API}/store-credits",
        json={"customer_id": str(uuid.uuid4()), "amount": "5.00", "reason": "x"},
        headers=admin,
    )
    assert_problem(unknown, 422, code="invalid-reference", fields=("customer_id",))
    assert snapshot() == before
    headers = {**admin, "Idempotency-Key": "sc-1"}
    body = {"customer_id": shop.customer, "amount": "5.00", "reason": "sorry"}
    for _ in range(2):
        assert client.post(f"{API}/store-credits", json=body, headers=headers).status_code == 201
    assert shop.get(f"store-credits/{shop.customer}")["balance"] == "5.00"
    assert shop.get(f"store-credits/{uuid.uuid4()}", status=404)["code"] == "not-found"


# -- the worked example of docs/gift-cards-and-store-credit.md ---------------------------------------


def test_the_worked_example_of_the_docs(shop):
    # 1. Sold for 50.00, paid by card: a liability, no revenue.
    code = shop.issue("50.00", paid_by="card")["code"]
    assert shop.entry("GiftCardSold") == {"card_clearing": D("50.00"), "gift_card_liability": D("-50.00")}
    # 2. A web order of two mugs (24.00): 20.00 from the card, 4.00 by card.
    order = shop.web_order("2")
    shop.pay(order, "gift_card", "20.00", code)
    assert shop.entry("TenderAccepted") == {
        "gift_card_liability": D("20.00"),
        "customer_deposits": D("-20.00"),
    }
    assert shop.card(code)["balance"] == "30.00"
    # 3. At the till: a mug (12.00), 10.00 from the card and 2.00 cash.
    pos_session = shop.till()
    shop.batch(
        pos_session,
        [
            _sale(
                shop.mug,
                [
                    {"payment_method_code": "GIFT", "amount": "10.00", "reference": code},
                    {"payment_method_code": "CASH", "amount": "2.00"},
                ],
            )
        ],
    )
    assert shop.card(code)["balance"] == "20.00"
    shop.post(f"pos/sessions/{pos_session['id']}/close", {"counted": {"CASH": "2.00"}}, status=200)
    closing = shop.entry("PosSessionClosed")
    assert closing["gift_card_liability"] == D("10.00")
    assert shop.balance("gift_card_liability") == D("-20.00")
    # 4. Reloaded with 15.00, paid by card.
    shop.post(f"gift-cards/{code}/reload", {"amount": "15.00"}, status=200)
    assert shop.card(code)["balance"] == "35.00"
    assert shop.balance("gift_card_liability") == D("-35.00")
    # 5. Its last day passes: 35.00 of breakage.
    shop.time_passes(code, days=800)
    assert [c["breakage"] for c in shop.post("gift-cards/expire", {}, status=200)["expired"]] == ["35.00"]
    assert shop.entry("GiftCardExpired") == {
        "gift_card_liability": D("35.00"),
        "gift_card_breakage": D("-35.00"),
    }
    assert shop.balance("gift_card_liability") == D(0)
    assert shop.balance("gift_card_breakage") == D("-35.00")
    assert [(m["kind"], m["amount"], m["balance_after"]) for m in shop.card(code)["movements"]] == [
        ("issue", "50.00", "50.00"),
        ("redeem", "-20.00", "30.00"),
        ("redeem", "-10.00", "20.00"),
        ("reload", "15.00", "35.00"),
        ("expire", "-35.00", "0.00"),
    ]


@pytest.mark.parametrize(
    "event_type", ["GiftCardGiven", "GiftCardReloaded", "GiftCardExpired", "StoreCreditIssued"]
)
def test_balance_events_are_refused_from_outside_with_the_flow_that_makes_them(
    shop, client, auth, snapshot, event_type
):
    finance = auth("finance", company="ACME")
    before = snapshot()
    response = client.post(
        f"{API}/ledger/events",
        json={"type": event_type, "payload": {"amount": "10.00", "source": "goodwill", "post": True}},
        headers=finance,
    )
    problem = assert_problem(response, 422, "balance-event-needs-its-flow", fields=("type",))
    assert "POST /" in problem["detail"]
    assert snapshot() == before


def test_replays_do_not_redeem_or_reload_twice(shop, client, admin):
    code = shop.issue("30.00", paid_by="cash")["code"]
    headers = {**admin, "Idempotency-Key": "reload-1"}
    for _ in range(2):
        response = client.post(f"{API}/gift-cards/{code}/reload", json={"amount": "5.00"}, headers=headers)
        assert response.status_code == 200, response.text
    assert shop.card(code)["balance"] == "35.00"
    pos_session = shop.till()
    sale = _sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00", "reference": code}])
    assert shop.batch(pos_session, [sale]).json()["accepted"] == 1
    again = shop.batch(pos_session, [sale]).json()  # the terminal resends: a duplicate
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    card = shop.card(code)
    assert card["balance"] == "23.00"
    assert [m["kind"] for m in card["movements"]] == ["issue", "reload", "redeem"]
