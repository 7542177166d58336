"""The one exceptions console: each type produced by a purpose-built fault, counted not repeated,
listed by priority, worked over HTTP (acknowledge, assign, resolve), refused as problem+json, and
seen by a store's token only where it is that store's."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.connectors import links
from retailcore.connectors import services as connectors
from retailcore.connectors.tables import Connector
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.monitoring import queries, services
from retailcore.monitoring.tables import ExceptionCase

D = Decimal
API = "/api/v1"
PROBLEM = "application/problem+json"


def problem(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in {error["field"] for error in body.get("errors", [])}, body
    return body


# -- connectors: failed syncs, dead letters, duplicates, money -------------------------------------


def test_a_bad_sku_fails_then_dead_letters_on_one_row_and_a_replay_after_the_fix_resolves_it(
    shop, example, runtime
):
    for sku in ("IPOD2008GREEN", "IPOD2008RED"):
        shop.product(sku)  # IPOD2008BLACK does not exist: the order fails
    answer = shop.deliver(example(financial_status="paid"))
    assert answer["status"] == "failed"
    [failed] = shop.exceptions()
    assert (failed["type"], failed["severity"], failed["status"], failed["occurrences"]) == (
        "failed_sync",
        "medium",
        "open",
        1,
    )
    assert failed["sync_message_id"] == answer["message_id"]
    assert failed["connector_id"] == shop.connector["id"]
    assert "IPOD2008BLACK" in failed["message"] and failed["dedupe_key"] == f"sync:{answer['message_id']}"

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for _ in range(2):  # attempts 2 and 3 of 3
        with transaction(runtime.session_factory) as session:
            assert connectors.retry_due(session, later) == 1
        later += dt.timedelta(days=1)
    [dead] = shop.exceptions()
    assert dead["id"] == failed["id"]  # the same row, never a second one
    assert (dead["type"], dead["severity"], dead["occurrences"]) == ("dead_letter", "high", 3)
    assert dead["details"]["attempts"] == 3

    shop.product("IPOD2008BLACK")  # the fix
    with transaction(runtime.session_factory) as session:
        connector = session.get(Connector, uuid.UUID(shop.connector["id"]))
        replayed = connectors.replay(session, connector, connectors.c.Replay())
    assert [m.status for m in replayed.replayed] == ["processed"]
    [resolved] = shop.exceptions(type="dead_letter")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert "processed on attempt 1" in resolved["resolution"]
    assert len(shop.orders()) == 1


def test_the_same_order_under_two_webhook_ids_is_one_order_and_one_duplicate_counted_twice(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    first = shop.deliver(example(financial_status="paid"), webhook_id="hook-a")
    second = shop.deliver(example(financial_status="paid"), webhook_id="hook-b")
    assert first["message_id"] != second["message_id"]
    [order] = shop.orders()
    assert len(order["payments"]) == 1  # never posted twice
    [duplicate] = shop.exceptions(type="duplicate")
    assert duplicate["occurrences"] == 2
    assert duplicate["order_id"] == order["id"]
    assert duplicate["details"]["duplicate_of"] == f"order:{order['id']}"
    assert (duplicate["severity"], duplicate["amount_at_risk"]) == ("low", "0.00")

    shop.deliver(example(financial_status="paid"), webhook_id="hook-c")
    [counted] = shop.exceptions(type="duplicate")
    assert (counted["id"], counted["occurrences"]) == (duplicate["id"], 3)
    assert len(shop.orders()) == 1


def test_the_same_delivery_repeated_is_counted_on_one_duplicate(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    first = shop.deliver(example(financial_status="paid"), webhook_id="hook-1")
    again = shop.deliver(example(financial_status="paid"), webhook_id="hook-1")
    assert again["duplicate"] and again["message_id"] == first["message_id"]
    [duplicate] = shop.exceptions(type="duplicate")
    assert duplicate["occurrences"] == 2 and duplicate["dedupe_key"] == f"delivery:{first['message_id']}"
    shop.deliver(example(financial_status="paid"), webhook_id="hook-1")
    assert [d["occurrences"] for d in shop.exceptions(type="duplicate")] == [3]
    assert len(shop.orders()) == 1


def test_tax_and_payment_differing_from_ours_raise_mismatches_with_the_money_at_risk(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    # Shopify taxed 11.94, we tax 35.22; it collected 598.94 of our 622.22, and charged shipping.
    shop.deliver(example(financial_status="paid", shipping_lines=[{"title": "Standard", "price": "10.00"}]))
    [order] = shop.orders()
    [tax] = shop.exceptions(type="tax_mismatch")
    assert (tax["amount_at_risk"], tax["currency"], tax["severity"]) == ("23.28", "USD", "medium")
    assert (tax["details"]["shopify_tax"], tax["details"]["our_tax"]) == ("11.94", "35.22")
    assert tax["order_id"] == order["id"]
    [payment] = shop.exceptions(type="payment_mismatch")
    assert (payment["amount_at_risk"], payment["severity"]) == ("23.28", "high")
    assert (payment["details"]["shopify_paid"], payment["details"]["order_total"]) == ("598.94", "622.22")
    # The shipping Shopify charged has no line here: any other flag is a sync_flag.
    assert [f["details"]["kind"] for f in shop.exceptions(type="sync_flag")] == ["shipping-not-landed"]


def test_agreeing_taxes_and_payments_raise_nothing(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    shop.deliver(example(financial_status="paid", total_tax="35.22", total_price="622.22", shipping_lines=[]))
    assert shop.orders() and shop.exceptions() == []


def test_a_stock_mismatch_flag_of_any_connector_raises_stock_mismatch(shop, runtime, monkeypatch):
    """A connector that logs through connectors.services and flags ``stock-mismatch`` (the stock push
    finding Shopify's quantity differing from ours) gets its exception without code of its own."""
    product_id = shop.product("IPOD2008RED")

    def push(session, ctx, connector, message):
        return links.Outcome(
            flags=[
                {
                    "kind": "stock-mismatch",
                    "key": f"IPOD2008RED@{message.external_id}",
                    "product_id": product_id,
                    "theirs": "7",
                    "ours": "5",
                    "amount_at_risk": "200.00",
                }
            ]
        )

    monkeypatch.setitem(connectors.HANDLERS, "shopify", push)
    now = dt.datetime.now(dt.UTC)
    for attempt in range(2):
        with transaction(runtime.session_factory) as session:
            connector = session.get(Connector, uuid.UUID(shop.connector["id"]))
            delivery = connectors.Delivery(
                topic="inventory_levels/update",
                body="{}",
                webhook_id=f"push-{attempt}",
                external_id="905684977",
            )
            connectors.process(session, connector, connectors.store(session, connector, delivery, now), now)
    [mismatch] = shop.exceptions()
    assert (mismatch["type"], mismatch["status"], mismatch["occurrences"]) == ("stock_mismatch", "open", 2)
    assert (mismatch["amount_at_risk"], mismatch["product_id"]) == ("200.00", product_id)
    assert (mismatch["details"]["theirs"], mismatch["details"]["ours"]) == ("7", "5")


# -- stock: oversold, negative ---------------------------------------------------------------------


def test_an_oversold_sale_raises_oversold_with_the_shortfall_at_cost(chain, client, admin):
    reserved = client.post(
        f"{API}/reservations",
        json={
            "company_id": str(chain.company_id),
            "product_id": chain.tee,
            "location_id": str(chain.location("stock")),
            "quantity": "10",
            "channel": "web",
            "order_ref": "WEB-1",
            "order_line_ref": "1",
        },
        headers=admin,
    )
    assert reserved.status_code == 201, reserved.text
    chain.sell("2")  # 8 on hand, 10 promised
    [oversold] = chain.exceptions(type="oversold")
    assert (oversold["severity"], oversold["amount_at_risk"], oversold["currency"]) == ("high", "8.00", "EUR")
    assert oversold["details"]["shortfall"] == "2.00" and oversold["store_id"] == chain.store_ids["S1"]
    chain.sell("1")  # short by 3 now: the same row, brought up to date
    [again] = chain.exceptions(type="oversold")
    assert (again["id"], again["occurrences"], again["amount_at_risk"]) == (oversold["id"], 2, "12.00")


def test_sales_below_zero_at_one_place_are_one_negative_stock_counted(chain):
    chain.sell("11")  # 10 on hand
    chain.sell("2")
    [negative] = chain.exceptions(type="negative_stock")
    assert (negative["occurrences"], negative["amount_at_risk"], negative["status"]) == (2, "12.00", "open")
    assert D(negative["details"]["quantity"]) == D(-3)


# -- priority ---------------------------------------------------------------------------------------


def test_priority_is_severity_times_money_times_age_and_pages_keep_one_instant(runtime, company):
    start = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    ctx = CommandContext(system_principal())
    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, uuid.UUID(company["id"]))
        made = {
            name: services.record(
                session, ctx, acme.id, type=kind, key=name, message=name, amount_at_risk=D(money), now=at
            )
            for name, kind, money, at in (
                ("fresh-dead-letter", "dead_letter", "0", start),  # high, no money, new
                ("big-payment", "payment_mismatch", "9999", start),  # high, 9,999.00
                ("old-duplicate", "duplicate", "0", start - dt.timedelta(days=30)),  # low, a month old
                ("small-tax", "tax_mismatch", "9", start),  # medium, 9.00
            )
        }
        session.flush()
        ids = {name: row.id for name, row in made.items()}
    with runtime.session_factory() as session:
        acme = session.get(Company, uuid.UUID(company["id"]))
        page = queries.list_exceptions(session, acme, sort="priority", now=start)
        # high x (1 + log10(10000)) = 20; low x 1 x 31 days = 31; medium x 2 = 4; high x 1 = 4
        assert [(str(item.id), item.priority) for item in page.items] == [
            (str(ids["old-duplicate"]), D("31.00")),
            (str(ids["big-payment"]), D("20.00")),
            (str(ids["fresh-dead-letter"]), D("4.00")),
            (str(ids["small-tax"]), D("4.00")),
        ]
        assert page.items[0].age_seconds == 30 * 86_400
        # A day later everything is older: the fresh ones double, the old one gains 1/31.
        later = queries.list_exceptions(session, acme, sort="priority", now=start + dt.timedelta(days=1))
        assert [(str(item.id), item.priority) for item in later.items] == [
            (str(ids["big-payment"]), D("40.00")),
            (str(ids["old-duplicate"]), D("32.00")),
            (str(ids["fresh-dead-letter"]), D("8.00")),
            (str(ids["small-tax"]), D("8.00")),
        ]
        # Pages of one: the same order, each counted from the first page's instant.
        seen, cursor = [], None
        while True:
            one = queries.list_exceptions(session, acme, sort="priority", limit=1, cursor=cursor, now=start)
            seen += [item.id for item in one.items]
            cursor = one.next_cursor
            if cursor is None:
                break
        assert seen == [item.id for item in page.items]


def test_priority_over_http_ranks_money_and_severity(shop, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    shop.deliver(example(financial_status="paid", shipping_lines=[{"title": "Standard", "price": "10.00"}]))
    ranked = [e["type"] for e in shop.exceptions(sort="priority")]
    # payment (high, 23.28) > tax (medium, 23.28) > the shipping flag (low, no money)
    assert ranked == ["payment_mismatch", "tax_mismatch", "sync_flag"]
    priorities = [D(e["priority"]) for e in shop.exceptions(sort="priority")]
    assert priorities == sorted(priorities, reverse=True)


# -- working them over HTTP -------------------------------------------------------------------------


def test_acknowledge_assign_resolve_over_http_are_audited_and_replays_are_answered_once(
    chain, client, admin, runtime
):
    chain.sell("11")
    [negative] = chain.exceptions()
    path = f"{API}/exceptions/{negative['id']}"
    assert client.get(path, headers=admin).json()["id"] == negative["id"]

    once = {**admin, "Idempotency-Key": "ack-1"}
    acknowledged = client.post(f"{path}/acknowledge", json={"note": "counting"}, headers=once)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged" and acknowledged.json()["acknowledged_at"]
    replayed = client.post(f"{path}/acknowledge", json={"note": "counting"}, headers=once)
    assert replayed.status_code == 200 and replayed.json() == acknowledged.json()

    assigned = client.post(f"{path}/assign", json={"owner": "ann@acme.test", "note": "yours"}, headers=admin)
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["owner"], assigned.json()["status"]) == ("ann@acme.test", "acknowledged")
    assert [e["id"] for e in chain.exceptions(owner="ann@acme.test")] == [negative["id"]]
    assert chain.exceptions(owner="bob") == []

    resolved = client.post(f"{path}/resolve", json={"note": "found 1 in the back"}, headers=admin)
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["status"], body["resolution"]) == ("resolved", "found 1 in the back")
    assert body["details"]["resolved"]["note"] == "found 1 in the back"
    problem(client.post(f"{path}/resolve", headers=admin), 409, "exception-resolved")
    problem(client.post(f"{path}/assign", json={"owner": "bob"}, headers=admin), 409, "exception-resolved")
    problem(client.post(f"{path}/acknowledge", headers=admin), 409, "exception-not-open")

    with runtime.session_factory() as session:
        trail = session.execute(
            select(Event.type, Event.payload)
            .where(Event.aggregate_id == uuid.UUID(negative["id"]))
            .order_by(Event.position)
        ).all()
    assert [t for t, _ in trail] == ["ExceptionAcknowledged", "ExceptionAssigned", "ExceptionResolved"]
    assert trail[1][1]["owner"] == "ann@acme.test" and trail[1][1]["previous_owner"] is None

    # Resolved, the same problem found again opens a new row.
    chain.sell("1")
    assert [e["status"] for e in chain.exceptions(type="negative_stock")] == ["resolved", "open"]


def test_bad_input_is_refused_as_problem_json_and_writes_nothing(chain, client, admin, runtime):
    chain.sell("11")
    [negative] = chain.exceptions()
    path = f"{API}/exceptions/{negative['id']}"
    problem(client.post(f"{path}/assign", json={"owner": ""}, headers=admin), 422, field="owner")
    problem(client.post(f"{path}/assign", json={}, headers=admin), 422, field="owner")
    problem(client.post(f"{path}/acknowledge", json={"nope": 1}, headers=admin), 422)
    problem(client.post(f"{path}/acknowledge", json={"note": "x" * 501}, headers=admin), 422, field="note")
    problem(client.post(f"{API}/exceptions/{uuid.uuid4()}/resolve", headers=admin), 404)
    problem(client.get(f"{API}/exceptions/not-an-id", headers=admin), 422)
    problem(client.get(f"{API}/exceptions", params={"type": "nonsense"}, headers=admin), 422, field="type")
    problem(client.get(f"{API}/exceptions", params={"sort": "size"}, headers=admin), 422, field="sort")
    params = {"company_id": str(chain.company_id), "sort": "priority", "cursor": "garbage"}
    problem(client.get(f"{API}/exceptions", params=params, headers=admin), 422, field="cursor")
    params["cursor"] = f"1.{10**30}.{uuid.uuid4()}"  # beyond what a score can be
    problem(client.get(f"{API}/exceptions", params=params, headers=admin), 422, field="cursor")
    by_age = {"company_id": str(chain.company_id), "cursor": "not-an-id"}
    problem(client.get(f"{API}/exceptions", params=by_age, headers=admin), 422, field="cursor")
    with runtime.session_factory() as session:
        row = session.get(ExceptionCase, uuid.UUID(negative["id"]))
        assert (row.status, row.owner) == ("open", None)


def test_a_store_token_sees_and_works_its_own_stores_exceptions_only(chain, shop, auth, client, example):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        shop.product(sku)
    shop.deliver(example(financial_status="paid"))  # company-level exceptions of SHOP
    chain.sell("11")  # S1
    chain.sell("4", store="S2")  # S2
    s1 = auth("store_manager", company="ACME", store="S1")
    s2 = auth("store_manager", company="ACME", store="S2")
    [own] = chain.exceptions(headers=s1)
    assert own["store_id"] == chain.store_ids["S1"]
    [other] = chain.exceptions(headers=s2)
    assert other["store_id"] == chain.store_ids["S2"]
    problem(client.get(f"{API}/exceptions/{other['id']}", headers=s1), 404)
    problem(client.post(f"{API}/exceptions/{other['id']}/acknowledge", headers=s1), 404)
    assert client.post(f"{API}/exceptions/{own['id']}/acknowledge", headers=s1).status_code == 200
    # Another company's token sees none of SHOP's.
    [connector_exception, *_] = shop.exceptions()
    problem(client.get(f"{API}/exceptions/{connector_exception['id']}", headers=s1), 404)
    problem(client.get(f"{API}/exceptions", headers=auth("cashier", company="ACME", store="S1")), 403)
    integration = auth("integration", company="ACME")
    assert client.get(f"{API}/exceptions", headers=integration).status_code == 200
    problem(client.post(f"{API}/exceptions/{own['id']}/resolve", headers=integration), 403)


@pytest.mark.parametrize("kind", ["kind", "type"])
def test_old_clients_filter_by_kind_and_read_kind(chain, kind):
    chain.sell("11")
    [row] = chain.exceptions(**{kind: "negative_stock"})
    assert row["kind"] == row["type"] == "negative_stock"
    assert chain.exceptions(**{kind: "bill_mismatch"}) == []


@pytest.mark.skipif(
    not os.environ.get("RETAILCORE_TEST_DATABASE_URL"),
    reason="two writers at once need PostgreSQL; SQLite has a single writer",
)
@pytest.mark.parametrize("round_", range(3))
def test_two_transactions_raising_one_problem_at_once_make_one_row_counted_twice(runtime, company, round_):
    barrier = threading.Barrier(2, timeout=10)
    failures: list[BaseException] = []

    def raise_it() -> None:
        try:
            with transaction(runtime.session_factory) as session:
                acme = session.get(Company, uuid.UUID(company["id"]))
                barrier.wait()  # both transactions have begun; neither has raised it yet
                services.record(
                    session,
                    CommandContext(system_principal()),
                    acme.id,
                    type="failed_sync",
                    key="race",
                    message="x",
                )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=raise_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    with runtime.session_factory() as session:
        rows = session.scalars(select(ExceptionCase).where(ExceptionCase.dedupe_key == "race")).all()
    assert [(row.occurrences, row.status) for row in rows] == [(2, "open")]
