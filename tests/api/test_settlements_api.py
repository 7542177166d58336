"""Gateway settlements over HTTP with the published Stripe and Adyen samples (issue 17, decision 0035):
lines matched and posted, chargebacks won and lost, each mismatch class from a purpose-built file,
re-imports that change nothing, bad files refused with their line and nothing written."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from apitools import API
from settlement_shop import Shop
from sqlalchemy import func, select

from retailcore.eventlog.tables import Event
from retailcore.settlements.tables import Gateway, Mismatch, SettlementBatch, SettlementFile, SettlementLine

D = Decimal
EXTERNAL = Path(__file__).parents[1] / "fixtures" / "external"
STRIPE = (EXTERNAL / "stripe" / "balance_transactions_sample.csv").read_text()
ADYEN = (EXTERNAL / "adyen" / "settlement_detail_sample.csv").read_text()
STRIPE_HEADER = STRIPE.splitlines()[0]
PAYOUT = "po_1RbQx2Kx7aZ3LmN0pQrStUvW"
CH1, CH2, PI3 = "ch_3RZaA1Kx7aZ3LmN01XyZ0001", "ch_3RZaB2Kx7aZ3LmN02XyZ0002", "pi_3RZaC3Kx7aZ3LmN03AbC0003"


@pytest.fixture
def shop(runtime, client, admin):
    return Shop(runtime, client, admin)


@pytest.fixture
def finance(auth, shop):
    return auth("finance", company="SHOP")


def upload(client, headers, shop, gateway, content, **fields):
    body = {"company_id": shop.company["id"], "gateway": gateway, "content": content, **fields}
    return client.post(f"{API}/settlements", json=body, headers=headers)


def imported(client, headers, shop, gateway, content, **fields):
    done = upload(client, headers, shop, gateway, content, **fields)
    assert done.status_code == 201, done.text
    return done.json()


def mismatches(client, headers, **params):
    listed = client.get(f"{API}/mismatches", params=params, headers=headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def stripe_row(txn, category, gross, fee, source="", charge="", intent="", payout=PAYOUT, order="", day=None,
               currency="usd", facing=None):  # fmt: skip
    """One balance transaction in the sample's columns (net = gross - fee)."""
    day = day or dt.date.today().isoformat()
    net = D(gross) - D(fee)
    amount, facing_currency = facing or (gross, currency)
    at = f"{day} 10:00:00"
    fields = [txn, at, at, at, at, currency, gross, fee, f"{net:.2f}", category, source, "", amount]
    fields += [facing_currency, payout, at if payout else "", "", "", charge, intent, "card", "visa", order]
    return ",".join(fields)


def stripe_file(*rows):
    return "\n".join([STRIPE_HEADER, *rows]) + "\n"


def counts(runtime):
    with runtime.session_factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Gateway, SettlementFile, SettlementBatch, SettlementLine, Mismatch, Event)
        )


# -- Stripe: a payout of 3 charges, 1 refund, fees, a dispute won ---------------------------------------


def test_a_stripe_payout_is_matched_to_our_captures_and_posted(client, admin, finance, shop, runtime):
    first = shop.order("59.99", "stripe", CH1)
    shop.order("120.00", "stripe", CH2)
    shop.order("24.50", "stripe", PI3)  # our reference is the payment intent: matched by reference2
    card = first["payments"][0]
    refunded = client.post(
        f"{API}/orders/{first['id']}/payments/{card['id']}/refund", json={"amount": "20.00"}, headers=admin
    )
    assert refunded.status_code == 200, refunded.text
    clearing = shop.code_of("card_clearing")
    assert shop.balance(clearing) == D("184.49")  # 59.99 + 120.00 + 24.50 - 20.00 captured, not yet settled

    result = imported(client, finance, shop, "stripe", STRIPE, filename="balance_transactions_sample.csv")

    assert (result["replayed"], result["lines_read"], result["lines_new"]) == (False, 7, 7)
    assert result["batches"] == [PAYOUT]
    # 3 charges, the refund, the dispute and its reversal are about our payments; Radar's fee is not.
    assert result["matched"] == 6
    [entry_id] = result["entries"]
    entry = client.get(f"{API}/journal-entries/{entry_id}", headers=finance).json()
    fees, transit, chargebacks = (
        shop.code_of("gateway_fees"),
        shop.code_of("cash_in_transit"),
        shop.code_of("dispute_receivable"),
    )
    posted = sorted((line["account_code"], line["debit"], line["credit"]) for line in entry["lines"])
    assert posted == sorted(
        [
            (clearing, "0.00", "184.49"),  # gross of 3 charges less the refund
            (fees, "6.83", "0.00"),  # 2.04 + 3.78 + 1.01
            (transit, "177.66", "0.00"),  # their net
            (chargebacks, "120.00", "0.00"),  # disputed
            (fees, "15.00", "0.00"),  # the dispute fee
            (transit, "0.00", "135.00"),
            (transit, "120.00", "0.00"),  # the dispute won
            (chargebacks, "0.00", "120.00"),
            (fees, "2.00", "0.00"),  # Radar, billed apart
            (transit, "0.00", "2.00"),
        ]
    )
    assert shop.balance(clearing) == D(0)  # every capture explained
    assert shop.balance(transit) == D("160.66")  # the payout on its way: the sum of the nets
    assert shop.balance(fees) == D("23.83")
    assert shop.balance(chargebacks) == D(0)
    assert shop.unbalanced_entries() == []

    matches = client.get(f"{API}/settlements/matches", headers=finance).json()["items"]
    by_key = {line["line_key"]: line for line in matches}
    assert by_key["txn_3RZaC3Kx7aZ3LmN03c4d5e6f"]["match"] == "gateway_reference"
    assert by_key["txn_3RZbD4Kx7aZ3LmN04d5e6f7g"]["order_number"] == first["number"]
    [batch] = client.get(f"{API}/settlements", headers=finance).json()["items"]
    assert (batch["reference"], batch["lines"], batch["net"], batch["payout"]) == (PAYOUT, 7, "160.66", None)
    # The dispute raised a chargeback, closed as won by its reversal in the same payout.
    [chargeback] = mismatches(client, finance)
    assert (chargeback["kind"], chargeback["amount_at_risk"], chargeback["state"]) == (
        "chargeback",
        "135.00",
        "resolved",
    )


def test_reimporting_a_file_changes_nothing_and_a_known_line_is_skipped(client, finance, shop, runtime):
    shop.order("59.99", "stripe", CH1)
    first = imported(client, finance, shop, "stripe", STRIPE)
    before = counts(runtime)

    again = imported(client, finance, shop, "stripe", STRIPE)

    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert counts(runtime) == before
    # Another file with one known line and one new: only the new line goes in.
    lines = STRIPE.splitlines()
    other = imported(
        client, finance, shop, "stripe", stripe_file(lines[1], stripe_row("txn_new", "fee", "-1.00", "0.00"))
    )
    assert (other["replayed"], other["lines_read"], other["lines_new"]) == (False, 2, 1)
    assert counts(runtime)[3] == before[3] + 1


# -- Adyen: a batch with a chargeback, paid out --------------------------------------------------------


def test_an_adyen_batch_with_a_chargeback_is_posted_and_paid_out(client, admin, auth, runtime):
    shop = Shop(runtime, client, admin, currency="EUR")
    finance = auth("finance", company="SHOP")
    one = shop.order("59.99", "adyen", "8815938472610001")
    shop.order("120.00", "adyen", "8815938472610003")
    shop.order("24.50", "adyen", "8815938472610005")  # GBP 21.00 at 1.1666667 settles as EUR 24.50
    card = one["payments"][0]
    assert (
        client.post(
            f"{API}/orders/{one['id']}/payments/{card['id']}/refund", json={"amount": "20.00"}, headers=admin
        ).status_code
        == 200
    )

    result = imported(client, finance, shop, "adyen", ADYEN)

    assert (result["lines_new"], result["matched"], result["batches"]) == (8, 6, ["42"])
    clearing, transit, bank = (
        shop.code_of("card_clearing"),
        shop.code_of("cash_in_transit"),
        shop.code_of("bank"),
    )
    assert shop.balance(clearing) == D(0)
    assert shop.balance(transit) == D(0)  # the MerchantPayout line took the batch's net to the bank
    assert shop.balance(bank) == D("165.83")
    assert shop.balance(shop.code_of("gateway_fees")) == D("0.36") + D("0.06") + D("0.12") + D("0.72") + D(
        "0.13"
    ) + D("0.24") + D("0.15") + D("0.03") + D("0.05") + D("15.00") + D("1.80")
    [batch] = client.get(f"{API}/settlements", headers=finance).json()["items"]
    assert (batch["payout"], batch["paid_on"]) == ("165.83", "2025-06-05")
    [chargeback] = mismatches(client, finance, kind="chargeback")
    assert (chargeback["amount_at_risk"], chargeback["state"]) == ("135.00", "resolved")
    assert shop.unbalanced_entries() == []


def test_an_adyen_chargeback_lost_posts_the_loss(client, admin, auth, runtime):
    shop = Shop(runtime, client, admin, currency="EUR")
    finance = auth("finance", company="SHOP")
    shop.order("349.99", "adyen", "1313642467023511")
    docs_lines = (EXTERNAL / "adyen" / "settlement_detail_docs_example_lines.csv").read_text().splitlines()
    result = imported(client, finance, shop, "adyen", "\n".join([docs_lines[0], docs_lines[2]]) + "\n")
    assert result["matched"] == 1
    chargeback_account = shop.code_of("dispute_receivable")
    assert shop.balance(chargeback_account) == D("349.99")
    [open_one] = mismatches(client, finance, state="open", kind="chargeback")
    assert open_one["amount_at_risk"] == "357.49"  # disputed 349.99 and the fee 7.50

    refused = client.post(f"{API}/mismatches/{open_one['id']}/resolve", json={"note": "lost"}, headers=admin)
    assert refused.status_code == 403  # resolving is finance's
    lost = client.post(
        f"{API}/mismatches/{open_one['id']}/resolve",
        json={"note": "lost: no evidence", "adjustment": "dispute_lost"},
        headers=finance,
    )
    assert lost.status_code == 200, lost.text
    assert lost.json()["entry_id"] is not None
    assert shop.balance(chargeback_account) == D(0)
    assert shop.balance(shop.code_of("chargebacks")) == D("349.99")
    assert shop.unbalanced_entries() == []


# -- each mismatch class from a purpose-built file ------------------------------------------------------


def test_each_mismatch_class_is_raised_with_its_amount_at_risk(client, admin, finance, shop):
    made = client.post(
        f"{API}/gateways",
        json={"company_id": shop.company["id"], "code": "stripe", "format": "stripe", "fee_rate": "0.029",
              "fee_fixed": "0.30"},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    shop.order("100.00", "stripe", "ch_fee")  # expected fee 3.20, charged 3.50
    shop.order("50.00", "stripe", "ch_partial")  # settled 40.00 of 50.00
    shop.order("30.00", "stripe", "ch_norefund")  # refunded by the gateway, not in our books
    shop.order("80.00", "stripe", "ch_dispute")
    shop.order("10.00", "stripe", "ch_timing")
    shop.order("24.50", "stripe", "ch_fx")  # settled 24.40 after conversion from EUR 22.00
    shop.order("60.00", "stripe", "ch_auth", pay=False)
    never = shop.order("70.00", pay=False)  # the order exists, nothing captured
    client.post(
        f"{API}/orders/{shop.order('15.00', pay=False)['id']}/payments",
        json={"gateway": "stripe", "reference": "ch_uncaptured", "amount": "15.00", "capture": False},
        headers=admin,
    )
    shop.order("12.00", "stripe", "ch_twice")
    content = stripe_file(
        stripe_row("t1", "charge", "100.00", "3.50", charge="ch_fee"),
        stripe_row("t2", "charge", "40.00", "1.46", charge="ch_partial"),
        stripe_row("t3", "charge", "30.00", "1.17", charge="ch_norefund"),
        stripe_row("t4", "refund", "-30.00", "0.00", charge="ch_norefund"),
        stripe_row("t5", "charge", "80.00", "2.62", charge="ch_dispute"),
        stripe_row("t6", "dispute", "-80.00", "15.00", charge="ch_dispute"),
        stripe_row("t7", "charge", "10.00", "0.59", charge="ch_timing", payout=""),
        stripe_row("t8", "charge", "24.40", "1.01", charge="ch_fx", facing=("22.00", "eur")),
        stripe_row("t9", "charge", "70.00", "2.33", charge="ch_gone", order=never["number"]),
        stripe_row("t10", "charge", "15.00", "0.74", charge="ch_uncaptured"),
        stripe_row("t11", "charge", "12.00", "0.65", charge="ch_twice"),
        stripe_row("t12", "charge", "12.00", "0.65", charge="ch_twice"),
        stripe_row("t13", "charge", "5.00", "0.45", charge="ch_nobody"),
        stripe_row("t14", "refund_failure", "30.00", "0.00", charge="ch_norefund"),
    )
    result = imported(client, finance, shop, "stripe", content)

    found = {(m["kind"], m["line_key"]): m for m in mismatches(client, finance)}
    assert {(kind, key): found[(kind, key)]["amount_at_risk"] for kind, key in found} == {
        ("fee_difference", "t1"): "0.30",
        ("partial_capture", "t2"): "10.00",
        ("refund_unknown", "t4"): "30.00",
        ("chargeback", "t6"): "95.00",
        ("timing", "t7"): "9.41",
        ("currency_conversion", "t8"): "0.10",
        ("missing_capture", "t9"): "70.00",
        ("missing_capture", "t10"): "15.00",
        ("duplicate", "t12"): "12.00",
        ("unmatched", "t13"): "5.00",
        ("unmatched", "t14"): "30.00",
    }
    assert result["mismatches"] == 11
    assert all(m["state"] == "open" and m["suggestion"] for m in found.values())
    assert found[("fee_difference", "t1")]["details"] == {"fee": "3.50", "expected": "3.20"}
    assert found[("timing", "t7")]["age_days"] == 0
    assert shop.unbalanced_entries() == []

    def console() -> dict[str, dict]:
        """The exceptions console's settlement rows, by mismatch class."""
        rows = {}
        for status in ("open", "resolved"):
            listed = client.get(
                f"{API}/exceptions",
                params={"company_id": shop.company["id"], "type": "payment_mismatch", "status": status},
                headers=admin,
            )
            assert listed.status_code == 200, listed.text
            rows |= {row["details"]["mismatch_kind"]: row for row in listed.json()["items"]}
        return rows

    # One console row per class, with its count and the money at risk of the open ones.
    rows = console()
    assert {
        kind: (row["occurrences"], row["amount_at_risk"], row["status"]) for kind, row in rows.items()
    } == {
        "fee_difference": (1, "0.30", "open"),
        "partial_capture": (1, "10.00", "open"),
        "refund_unknown": (1, "30.00", "open"),
        "chargeback": (1, "95.00", "open"),
        "timing": (1, "9.41", "open"),
        "currency_conversion": (1, "0.10", "open"),
        "missing_capture": (2, "85.00", "open"),
        "duplicate": (1, "12.00", "open"),
        "unmatched": (2, "35.00", "open"),
    }
    assert rows["chargeback"]["severity"] == "high" and rows["fee_difference"]["severity"] == "medium"

    # The timing line comes with the next payout: it is placed in its batch and its mismatch resolved.
    paid = stripe_file(stripe_row("t7", "charge", "10.00", "0.59", charge="ch_timing", payout="po_next"))
    later = imported(client, finance, shop, "stripe", paid)
    assert (later["lines_new"], later["batches"]) == (0, ["po_next"])
    [timing] = mismatches(client, finance, kind="timing")
    assert timing["state"] == "resolved"
    assert console()["timing"]["status"] == "resolved"

    # Resolving: the exchange difference is posted; a lost dispute moves its amount to the loss.
    fx = found[("currency_conversion", "t8")]
    resolution = {"note": "EUR card", "adjustment": "exchange_difference"}
    done = client.post(f"{API}/mismatches/{fx['id']}/resolve", json=resolution, headers=finance)
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["note"]) == ("resolved", "EUR card")
    assert shop.balance(shop.code_of("fx_realized_loss")) == D("0.10")
    lost = client.post(
        f"{API}/mismatches/{found[('chargeback', 't6')]['id']}/resolve",
        json={"note": "no evidence", "adjustment": "dispute_lost"},
        headers=finance,
    )
    assert lost.status_code == 200, lost.text
    assert shop.balance(shop.code_of("dispute_receivable")) == D(0)
    assert shop.balance(shop.code_of("chargebacks")) == D("80.00")
    again = client.post(f"{API}/mismatches/{fx['id']}/resolve", json={"note": "again"}, headers=finance)
    assert again.status_code == 409
    rows = console()
    assert (rows["currency_conversion"]["status"], rows["chargeback"]["status"]) == ("resolved", "resolved")
    assert rows["missing_capture"]["status"] == "open"
    assert shop.unbalanced_entries() == []


def test_a_line_without_our_reference_is_matched_by_order_number_amount_and_date(client, finance, shop):
    order = shop.order("45.00", "stripe", "pi_ours")
    content = stripe_file(
        stripe_row("t1", "charge", "45.00", "1.61", charge="ch_theirs", order=order["number"])
    )
    result = imported(client, finance, shop, "stripe", content)
    assert result["matched"] == 1
    [line] = client.get(f"{API}/settlements/lines", headers=finance).json()["items"]
    assert (line["match"], line["order_number"]) == ("order_reference", order["number"])
    assert mismatches(client, finance) == []
    # Outside the date window the same line would not be matched.
    old = stripe_file(
        stripe_row("t2", "charge", "45.00", "1.61", charge="ch_x", order=order["number"], day="2020-01-01")
    )
    assert imported(client, finance, shop, "stripe", old)["matched"] == 0


# -- bad files: refused with their line, nothing written -----------------------------------------------


def _without_column(text, column):
    rows = [line.split(",") for line in text.splitlines()]
    at = rows[0].index(column)
    return "\n".join(",".join(row[:at] + row[at + 1 :]) for row in rows) + "\n"


def _replace_on_line(text, number, old, new):
    lines = text.splitlines()
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    return "\n".join(lines) + "\n"


BAD_FILES = {
    "wrong header": ("stripe", _without_column(STRIPE, "net"), 1, "wrong header: no column net"),
    "truncated row": ("stripe", "\n".join([*STRIPE.splitlines()[:4], STRIPE.splitlines()[4][:60]]) + "\n", 5,
                      "the row has"),
    "unknown currency": ("stripe", _replace_on_line(STRIPE, 3, ",usd,", ",usx,"), 3, "unknown currency"),
    "negative fee": ("stripe", _replace_on_line(STRIPE, 2, ",59.99,2.04,57.95,", ",59.99,-2.04,62.03,"), 2,
                     "fee: -2.04 is negative on a charge line"),
    "net not gross minus fee": ("stripe", _replace_on_line(STRIPE, 4, ",23.49,", ",23.50,"), 4, "net 23.50"),
    "inexact amount": ("stripe", _replace_on_line(STRIPE, 6, ",-135.00,", ",-135.001,"), 6, "more decimals"),
    "adyen negative commission": ("adyen", _replace_on_line(ADYEN, 3, ",,0.72,", ",-1,0.72,"), 3, "negative"),
    "adyen unknown currency": ("adyen", _replace_on_line(ADYEN, 8, ",EUR,1.80,", ",XYZ,1.80,"), 8,
                               "unknown currency 'XYZ'"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_with_its_line_and_nothing_is_written(client, finance, shop, runtime, case):
    gateway, content, line, message = BAD_FILES[case]
    before = counts(runtime)

    refused = upload(client, finance, shop, gateway, content)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "settlement-file-refused"
    assert problem["detail"].startswith(f"line {line}: ")
    [error] = problem["errors"]
    assert error["field"] == f"file.line.{line}"
    assert message in error["detail"]
    assert counts(runtime) == before  # not even the gateway, created on a first good import


def test_the_generic_csv_is_read_through_its_mapping(client, admin, finance, shop):
    made = client.post(
        f"{API}/gateways",
        json={"company_id": shop.company["id"], "code": "paypal", "format": "csv", "name": "PayPal"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["clearing_account"] == shop.code_of("card_clearing")
    shop.order("33.00", "paypal", "PP-1")
    mapping = {
        "columns": {"line_id": "Txn", "date": "Date", "type": "Type", "currency": "Cur", "gross": "Gross",
                    "fee": "Fee", "reference": "Payment", "batch": "Payout"},
        "types": {"Sale": "charge", "Withdrawal": "payout"},
    }  # fmt: skip
    today = dt.date.today().isoformat()
    content = f"Txn,Date,Type,Cur,Gross,Fee,Payment,Payout\nA1,{today},Sale,USD,33.00,1.20,PP-1,W9\n"
    content += f"A2,{today},Withdrawal,USD,-31.80,0.00,,W9\n"
    result = imported(client, finance, shop, "paypal", content, mapping=mapping)
    assert (result["lines_new"], result["matched"], result["mismatches"]) == (2, 1, 0)
    assert shop.balance(shop.code_of("bank")) == D("31.80")
    assert shop.balance(shop.code_of("card_clearing")) == D(0)
    bad = upload(client, finance, shop, "paypal", content + "x", mapping={"columns": {"line_id": "Txn"}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"mapping.columns.date", "mapping.columns.gross"}


def test_gateways_are_listed_and_changed_with_an_audit_trail(client, admin, shop, runtime):
    made = client.post(
        f"{API}/gateways",
        json={"company_id": shop.company["id"], "code": "adyen", "format": "adyen"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    bank = shop.code_of("bank")
    changed = client.patch(
        f"{API}/gateways/adyen",
        json={"company_id": shop.company["id"], "fee_rate": "0.015", "transit_account": bank},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["fee_rate"], changed.json()["transit_account"]) == ("0.015", bank)
    listed = client.get(f"{API}/gateways", params={"company_id": "SHOP"}, headers=admin).json()["items"]
    assert [g["code"] for g in listed] == ["adyen"]
    unknown = client.patch(
        f"{API}/gateways/adyen",
        json={"company_id": shop.company["id"], "bank_account": "9999"},
        headers=admin,
    )
    assert unknown.status_code == 422
    with runtime.session_factory() as session:
        types = list(
            session.scalars(select(Event.type).where(Event.type.like("Gateway%")).order_by(Event.recorded_at))
        )
        change = session.scalar(select(Event).where(Event.type == "GatewayChanged"))
    assert types == ["GatewayCreated", "GatewayChanged"]
    assert (change.payload["before"]["fee_rate"], change.payload["after"]["fee_rate"]) == (None, "0.015")


def test_settlement_postings_are_refused_at_the_ledger_events_door(client, finance, shop):
    body = {
        "company_id": shop.company["id"],
        "type": "GatewaySettlementPosted",
        "payload": {"gateway": "stripe", "batch": "x", "payout": "10.00", "bank_account": "1000"},
    }
    refused = client.post(f"{API}/ledger/events", json=body, headers=finance)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "balance-event-needs-its-flow"


def test_the_settlement_lag_report_counts_days_to_settle_and_to_payout_and_what_is_in_flight(
    client, admin, finance, shop, runtime
):
    from retailcore.orders.tables import OrderRow

    today = dt.date.today()
    early = shop.order("40.00", "stripe", "ch_lag4")  # ordered 4 days before its settlement
    shop.order("60.00", "stripe", "ch_lag0")  # settled the day it was ordered
    waiting = shop.order("25.00", "stripe", "ch_waiting")  # captured, not in any file: in flight
    with runtime.session_factory() as session:
        for order_id, days in ((early["id"], 4), (waiting["id"], 6)):
            row = session.get(OrderRow, uuid.UUID(order_id))
            row.ordered_at = row.ordered_at - dt.timedelta(days=days)
        session.commit()
    imported(
        client,
        finance,
        shop,
        "stripe",
        stripe_file(
            stripe_row("l1", "charge", "40.00", "1.46", charge="ch_lag4"),
            stripe_row("l2", "charge", "60.00", "2.04", charge="ch_lag0"),
        ),
    )
    answer = client.get(f"{API}/reports/settlement-lag", params={"company_id": "SHOP"}, headers=finance)
    assert answer.status_code == 200, answer.text
    [stripe] = [row for row in answer.json()["rows"] if row["gateway"] == "stripe"]
    assert (stripe["settled_lines"], stripe["settled_gross"]) == (2, "100.00")
    assert (stripe["days_to_settle_avg"], stripe["days_to_settle_p90"], stripe["days_to_settle_max"]) == (
        "2.00",
        4,
        4,
    )
    assert (stripe["in_flight_payments"], stripe["in_flight_amount"], stripe["oldest_in_flight_days"]) == (
        1,
        "25.00",
        6,
    )
    as_csv = client.get(
        f"{API}/reports/settlement-lag",
        params={
            "company_id": "SHOP",
            "format": "csv",
            "date_from": (today - dt.timedelta(days=1)).isoformat(),
        },
        headers=finance,
    )
    assert as_csv.status_code == 200 and as_csv.text.splitlines()[0].startswith("gateway,currency,")
    backwards = client.get(
        f"{API}/reports/settlement-lag",
        params={"company_id": "SHOP", "date_from": today.isoformat(), "date_to": "2026-01-01"},
        headers=finance,
    )
    assert backwards.status_code == 422 and "date_from" in backwards.text
    blank = client.get(f"{API}/reports/settlement-lag", params={"date_to": ""}, headers=finance)
    assert blank.status_code == 422 and "date_to" in blank.text


def test_a_list_filtered_by_an_unknown_gateway_is_a_bad_request_naming_it(client, finance, shop):
    answer = client.get(
        f"{API}/settlements", params={"company_id": "SHOP", "gateway": "nope"}, headers=finance
    )
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["gateway"]
