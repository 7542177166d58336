"""Mismatch triage (decision 0076): each rule class from its producer's details, the classifier beating
the majority class on held-out rows, a person's class winning as an event, the list ordered by the
documented priority, and the API and CLI shapes and refusals."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.analytics.triage import samples as triage_samples
from retailcore.analytics.triage import services as triage
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.monitoring import classes as triage_rules
from retailcore.monitoring import queries, services
from retailcore.monitoring.tables import ExceptionCase
from retailcore.settlements.services import CONSOLE_SEVERITY, SUGGESTIONS

D = Decimal
API = "/api/v1"
runner = CliRunner()


def settlement_details(kind: str) -> dict:
    """What settlements.services.refresh_console writes on its payment_mismatch row."""
    return {"gateway": "adyen", "mismatch_kind": kind, "open": 3, "see": "/mismatches"}


def raise_one(runtime, company_id, *, type, details, key=None, amount="99", severity=None, now=None):
    with transaction(runtime.session_factory) as session:
        row = services.record(
            session,
            CommandContext(system_principal()),
            company_id,
            type=type,
            key=key or str(uuid.uuid4()),
            message=type,
            amount_at_risk=D(amount),
            severity=severity,
            details=details,
            now=now,
        )
        session.flush()
        return row.id


# -- rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [*triage_rules.SETTLEMENT_KINDS.items(), ("unmatched", None)],
)
def test_each_settlement_mismatch_kind_has_its_rule_class(kind, expected):
    assert kind in SUGGESTIONS  # a kind the settlements really raise
    assert triage_rules.rule_class("payment_mismatch", settlement_details(kind)) == expected


@pytest.mark.parametrize(
    ("type", "details", "expected"),
    [
        ("payment_mismatch", {"kind": "refund-mismatch", "shopify_refunded": "10", "our_refund": "5"},
         "refund_mismatch"),
        ("payment_mismatch", {"kind": "payment-mismatch", "shopify_paid": "50.00", "order_total": "25.00"},
         "duplicate"),
        ("payment_mismatch", {"kind": "payment-mismatch", "shopify_paid": "24.00", "order_total": "25.00"},
         None),
        ("bill_mismatch", {"mismatches": [{"line": 0, "kind": "price", "difference": "1.00"}]},
         "price_difference"),
        ("bill_mismatch", {"mismatches": [{"line": 0, "kind": "quantity", "difference": "2"}]},
         "receiving_error"),
        ("bill_mismatch", {"mismatches": [{"kind": "quantity"}, {"kind": "price"}]}, None),
        ("bank_unmatched", {"amount": "-12.00", "remittance": "?"}, None),
        ("negative_stock", {"quantity": "-3"}, None),
        ("tax_mismatch", {"kind": "tax-mismatch"}, None),
    ],
)  # fmt: skip
def test_rules_decide_what_the_details_prove_and_nothing_else(type, details, expected):
    assert triage_rules.rule_class(type, details) == expected


def test_a_real_sale_below_stock_is_oversold_by_rule_and_negative_stock_is_left_to_the_model(
    chain, client, admin
):
    reservation = {
        "company_id": str(chain.company_id),
        "product_id": chain.tee,
        "location_id": str(chain.location("stock", "S1")),
        "quantity": "10",
        "channel": "web",
        "order_ref": "WEB-9",
        "order_line_ref": "1",
    }
    assert client.post(f"{API}/reservations", json=reservation, headers=admin).status_code == 201
    chain.sell("11")  # TEE: 10 in S1, all promised to WEB-9
    found = {e["type"]: e for e in chain.exceptions()}
    oversold, negative = found["oversold"], found["negative_stock"]
    assert (oversold["exception_class"], oversold["class_source"], oversold["class_confidence"]) == (
        "oversold", "rule", "1.00")  # fmt: skip
    assert (negative["exception_class"], negative["class_source"]) == (None, None)


def test_a_real_shopify_payment_flag_is_left_to_the_model(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    shop.deliver(example(financial_status="paid", shipping_lines=[{"title": "Standard", "price": "10.00"}]))
    [payment] = shop.exceptions(type="payment_mismatch")
    assert payment["details"]["kind"] == "payment-mismatch"
    assert payment["exception_class"] is None


def test_a_settlement_mismatch_is_classed_when_raised_and_when_raised_again(runtime, company):
    company_id = uuid.UUID(company["id"])
    key = "settlement:adyen:unmatched"
    first = raise_one(
        runtime, company_id, type="payment_mismatch", key=key, details=settlement_details("unmatched")
    )
    with runtime.session_factory() as session:
        assert session.get(ExceptionCase, first).exception_class is None
    again = raise_one(
        runtime,
        company_id,
        type="payment_mismatch",
        key="settlement:adyen:chargeback",
        details=settlement_details("chargeback"),
        severity=CONSOLE_SEVERITY["chargeback"],
    )
    with runtime.session_factory() as session:
        row = session.get(ExceptionCase, again)
        assert (row.exception_class, row.class_confidence, row.class_source) == ("chargeback", D(1), "rule")


# -- priority ----------------------------------------------------------------------------------------


def test_the_list_is_ordered_by_severity_x_class_weight_x_money_x_age(runtime, company):
    start = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    company_id = uuid.UUID(company["id"])
    made = {
        kind: raise_one(runtime, company_id, type=type, details=details, severity="medium", now=start)
        for kind, type, details in (
            ("timing", "payment_mismatch", settlement_details("timing")),  # weight 0.25
            ("none", "bank_unmatched", {"amount": "99"}),  # no class: weight 1
            ("duplicate", "payment_mismatch", settlement_details("duplicate")),  # weight 2
        )
    }
    with runtime.session_factory() as session:
        acme = session.get(Company, company_id)
        page = queries.list_exceptions(session, acme, sort="priority", now=start + dt.timedelta(days=1))
    # medium (2) x weight x (1 + log10(1 + 99)) = 2 x w x 3, doubled by one day of age
    assert [(item.id, item.exception_class, item.priority) for item in page.items] == [
        (made["duplicate"], "duplicate", D("24.00")),
        (made["none"], None, D("12.00")),
        (made["timing"], "timing", D("3.00")),
    ]


# -- the classifier ----------------------------------------------------------------------------------


def _vectors(samples):
    return [
        triage.features(s.type, s.amount_at_risk, s.details, currency_matches=s.currency_matches,
                        age_days=s.age_days)
        for s in samples
    ]  # fmt: skip


def test_the_classifier_beats_the_majority_class_on_held_out_rows():
    samples = triage_samples.labelled(180, seed=7)
    train, test = samples[:120], samples[120:]
    classifier = triage.Classifier.train(_vectors(train), [s.label for s in train])
    assert classifier is not None
    predicted = classifier.predict(_vectors(test))
    accuracy = sum(p == s.label for p, s in zip(predicted, test, strict=True)) / len(test)
    majority = max(sum(s.label == c for s in test) for c in triage_samples.CAUSES) / len(test)
    assert accuracy > majority + 0.4, (accuracy, majority)


def test_too_few_labels_or_one_class_is_no_model():
    samples = triage_samples.labelled(triage.MIN_LABELS - 1)
    assert triage.Classifier.train(_vectors(samples), [s.label for s in samples]) is None
    samples = triage_samples.labelled(triage.MIN_LABELS * 2)
    assert triage.Classifier.train(_vectors(samples), ["timing"] * len(samples)) is None


def test_triage_suggests_a_class_with_its_confidence_only_where_the_rules_cannot(runtime, company):
    company_id = uuid.UUID(company["id"])
    labelled = triage_samples.labelled(60, seed=1)
    for sample in labelled:  # the people's labels of earlier mismatches
        row_id = raise_one(runtime, company_id, type=sample.type, details=sample.details,
                           amount=str(sample.amount_at_risk))  # fmt: skip
        with transaction(runtime.session_factory) as session:
            acme = session.get(Company, company_id)
            triage.set_class(session, CommandContext(system_principal()), acme, row_id,
                             exception_class=sample.label)  # fmt: skip
            services.resolve(session, CommandContext(system_principal()), acme, row_id)
    undecided = raise_one(
        runtime, company_id, type="payment_mismatch", amount="80",
        details={"kind": "payment-mismatch", "shopify_paid": "0.00", "order_total": "80.00",
                 "days_since_capture": 30, "gateway": "stripe"},
    )  # fmt: skip
    ruled = raise_one(runtime, company_id, type="payment_mismatch", details=settlement_details("timing"))
    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, company_id)
        result = triage.triage(session, CommandContext(system_principal()), acme)
    # 60 people's labels and the rules' own class of the timing row
    assert result == {"examined": 2, "by_rule": 1, "by_model": 1, "by_person": 0, "undecided": 0,
                      "training_rows": 61, "model_used": True}  # fmt: skip
    with runtime.session_factory() as session:
        suggested, rule = session.get(ExceptionCase, undecided), session.get(ExceptionCase, ruled)
        assert (suggested.exception_class, suggested.class_source) == ("chargeback", "model")
        assert D("0.5") < suggested.class_confidence <= 1
        assert (rule.exception_class, rule.class_source) == ("timing", "rule")
        assert suggested.stake == services.stake("high", D("80"), "chargeback")


def test_without_labels_triage_is_rules_only(runtime, company):
    company_id = uuid.UUID(company["id"])
    row_id = raise_one(runtime, company_id, type="bank_unmatched", details={"amount": "-5"})
    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, company_id)
        result = triage.triage(session, CommandContext(system_principal()), acme)
    assert (result["model_used"], result["undecided"], result["examined"]) == (False, 1, 1)
    with runtime.session_factory() as session:
        assert session.get(ExceptionCase, row_id).exception_class is None


# -- a person's class, the API and the CLI -----------------------------------------------------------


def test_a_persons_class_wins_over_rules_and_model_and_is_an_event(runtime, company, client, admin):
    company_id = uuid.UUID(company["id"])
    key = "settlement:stripe:timing"
    row_id = raise_one(
        runtime, company_id, type="payment_mismatch", key=key, details=settlement_details("timing")
    )
    url = f"{API}/exceptions/{row_id}/class"
    response = client.post(url, json={"exception_class": "missing_settlement"}, headers=admin)
    assert response.status_code == 422 and response.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert "exception_class" in {e["field"] for e in response.json()["errors"]}
    assert (
        client.post(url, json={"exception_class": "fee_difference", "extra": 1}, headers=admin).status_code
        == 422
    )
    assert client.post(url, json={}, headers=admin).status_code == 422
    shrink = client.post(url, json={"exception_class": "shrink"}, headers=admin)  # a stock class
    assert shrink.status_code == 422, shrink.text

    given = client.post(url, json={"exception_class": "chargeback", "note": "dispute letter"}, headers=admin)
    assert given.status_code == 200, given.text
    view = given.json()
    assert (view["exception_class"], view["class_source"], view["class_confidence"]) == (
        "chargeback",
        "person",
        "1.00",
    )
    # The producer raising it again, and a triage run, leave the person's class.
    raise_one(runtime, company_id, type="payment_mismatch", key=key, details=settlement_details("timing"))
    triaged = client.post(f"{API}/exceptions/triage", params={"company_id": company["id"]}, headers=admin)
    assert triaged.status_code == 200, triaged.text
    assert triaged.json()["by_person"] == 1
    again = client.get(f"{API}/exceptions/{row_id}", headers=admin).json()
    assert (again["exception_class"], again["class_source"]) == ("chargeback", "person")
    with runtime.session_factory() as session:
        [(payload)] = session.scalars(
            select(Event.payload).where(Event.aggregate_id == row_id, Event.type == "ExceptionClassified")
        )
    assert (payload["exception_class"], payload["previous_class"], payload["previous_source"]) == (
        "chargeback", "timing", "rule")  # fmt: skip
    assert payload["note"] == "dispute letter"


def test_triage_api_refuses_unknown_fields_and_other_companies(client, admin, company):
    bad = client.post(f"{API}/exceptions/triage", json={"retrain": True, "x": 1}, headers=admin)
    assert bad.status_code == 422
    missing = client.post(f"{API}/exceptions/triage", params={"company_id": "NOPE"}, headers=admin)
    assert missing.status_code in (404, 422), missing.text
    unknown = client.post(
        f"{API}/exceptions/{uuid.uuid4()}/class", json={"exception_class": "timing"}, headers=admin
    )
    assert unknown.status_code == 404


def test_cli_triage_classify_and_list_show_the_class(runtime, company):
    company_id = uuid.UUID(company["id"])
    row_id = raise_one(runtime, company_id, type="bank_unmatched", details={"amount": "-5"})
    raise_one(runtime, company_id, type="payment_mismatch", details=settlement_details("fee_difference"))
    done = runner.invoke(app, ["exceptions", "triage", "--company", "ACME", "-o", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["by_rule"] == 1
    refused = runner.invoke(app, ["exceptions", "classify", str(row_id), "--class", "oversold"])
    assert refused.exit_code == 1 and "not a class of bank_unmatched" in refused.output
    given = runner.invoke(app, ["exceptions", "classify", str(row_id), "--class", "refund_mismatch"])
    assert given.exit_code == 0, given.output
    listed = json.loads(runner.invoke(app, ["exceptions", "list", "--priority", "-o", "json"]).stdout)
    assert {(item["type"], item["exception_class"], item["class_source"]) for item in listed} == {
        ("bank_unmatched", "refund_mismatch", "person"),
        ("payment_mismatch", "fee_difference", "rule"),
    }
    table = runner.invoke(app, ["exceptions", "list", "--company", "ACME"])
    assert "refund_mismatch" in table.output and "class" in table.output


def test_the_back_office_shows_the_class_and_a_person_sets_it(
    runtime, client, admin, auth, company, store_factory
):
    from webtools import build_shop, csrf_of, sign_in

    shop = build_shop(runtime, client, admin, auth, company, store_factory)
    sign_in(client, "manager1")
    page = client.get("/exceptions").text
    assert '<th scope="col">Class</th>' in page and f'id="class-{shop["exception_id"]}"' in page
    wrong = client.post(
        f"/exceptions/{shop['exception_id']}/class",
        data={"csrf_token": csrf_of(page), "exception_class": "fee_difference", "status": "unresolved"},
        follow_redirects=False,
    )
    assert wrong.status_code in (400, 422), wrong.text  # a payment class for a stock exception
    given = client.post(
        f"/exceptions/{shop['exception_id']}/class",
        data={"csrf_token": csrf_of(page), "exception_class": "miscount", "status": "unresolved"},
        follow_redirects=False,
    )
    assert given.status_code == 303, given.text
    with runtime.session_factory() as session:
        row = session.get(ExceptionCase, shop["exception_id"])
        assert (row.exception_class, row.class_source) == ("miscount", "person")
    assert "miscount <small>(by a person)</small>" in client.get("/exceptions").text


def test_a_stores_token_cannot_triage_the_company(chain, client, auth):
    s1 = auth("store_manager", company="ACME", store="S1")
    refused = client.post(f"{API}/exceptions/triage", headers=s1)
    assert refused.status_code == 403, refused.text
    assert "store-scoped token cannot triage" in refused.json()["detail"]
