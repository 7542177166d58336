"""The back office's returns, settlements and mismatches pages and the printable close report (issue 18):
their numbers are the API's for the same data, a store's user sees its store's returns only and no
settlements, a mismatch is resolved from its page with the CSRF token (refused without, nothing
written), and the close report page shows the checklist with its CSV the API's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import select

from retailcore.eventlog.tables import Event
from retailcore.settlements.tables import Mismatch
from webtools import API, PAYOUT, build_shop, csrf_of, settle_unknown_charges, sign_in


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory):
    shop = build_shop(runtime, client, admin, auth, company, store_factory)
    shop["returns"] = {}
    for code in ("S1", "S2"):
        manager = auth("store_manager", company="ACME", store=code)
        order = shop["orders"][code][0]
        made = client.post(
            f"{API}/returns",
            json={
                "order_id": order["id"],
                "store_id": code,
                "reason": "changed_mind",
                "lines": [
                    {"order_line_id": order["lines"][0]["id"], "quantity": "1", "condition": "damaged"}
                ],
            },
            headers=manager,
        )
        assert made.status_code == 201, made.text
        received = client.post(f"{API}/returns/{made.json()['id']}/receive", headers=manager)
        assert received.status_code == 200, received.text
        shop["returns"][code] = received.json()
    shop["finance_token"] = settle_unknown_charges(client, admin, auth, company)
    return shop


def table(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_returns_list_and_a_returns_page_show_the_apis_numbers(runtime, client, shop):
    api = client.get(f"{API}/returns", headers=shop["finance_token"]).json()["items"]
    sign_in(client, "finance")
    page = client.get("/returns")
    assert page.status_code == 200
    rows = table(client.get("/returns?csv=returns"))
    assert [(r["number"], r["status"], r["refunded_total"], r["store"]) for r in rows] == [
        (x["number"], x["status"], x["refunded_total"], "S1" if x["store_id"] == shop["S1"]["id"] else "S2")
        for x in api
    ]
    assert len(rows) == 2
    only_s2 = table(client.get("/returns?store=S2&status=received&channel=pos&csv=returns"))
    assert [r["number"] for r in only_s2] == [shop["returns"]["S2"]["number"]]

    returned = shop["returns"]["S1"]
    detail = client.get(f"/returns/{returned['id']}")
    assert detail.status_code == 200
    lines = table(client.get(f"/returns/{returned['id']}?csv=lines"))
    api_line = returned["lines"][0]
    assert lines == [
        {
            "sku": "COFFEE",
            "quantity": api_line["quantity"],
            "received": api_line["received_quantity"],
            "refunded": api_line["refunded_quantity"],
            "condition": "damaged",
            "disposition": lines[0]["disposition"],
            "unit_price": api_line["unit_price"] or "",
            "cost": api_line["cost"],
            "refunded_net": api_line["refunded_net"],
            "refunded_tax": api_line["refunded_tax"],
        }
    ]
    assert lines[0]["disposition"] == "S1/DAMAGED (damaged)"  # where the default disposition rule sends it
    assert "<td>customer_return</td>" in detail.text  # the goods back in, at the sale's cost
    assert "/accounting/entries/" in detail.text
    with runtime.session_factory() as session:
        kinds = session.scalars(select(Event.type).where(Event.aggregate_id == uuid.UUID(returned["id"])))
        positions = [detail.text.index(f"<td>{kind}</td>") for kind in kinds]
    assert len(positions) >= 2 and positions == sorted(positions)


def test_a_store_user_sees_its_stores_returns_and_no_settlements(client, shop):
    sign_in(client, "cashier1")
    listed = client.get("/returns").text
    own, other = shop["returns"]["S1"], shop["returns"]["S2"]
    assert own["number"] in listed and other["number"] not in listed
    assert client.get(f"/returns/{own['id']}").status_code == 200
    assert client.get(f"/returns/{other['id']}").status_code == 404
    assert client.get("/returns?store=S2").status_code == 404
    assert client.get("/returns?status=lost").status_code == 422
    for path in ("/settlements", "/settlements/mismatches", "/close/report"):
        assert client.get(path).status_code == 403, path


def test_settlement_batches_lines_and_mismatches_show_the_apis_numbers(client, shop):
    token = shop["finance_token"]
    batches = client.get(f"{API}/settlements", headers=token).json()["items"]
    mismatches = client.get(f"{API}/mismatches", headers=token).json()["items"]
    sign_in(client, "finance")
    assert client.get("/settlements").status_code == 200
    rows = table(client.get("/settlements?gateway=stripe&csv=batches"))
    assert [(r["reference"], r["lines"], r["gross"], r["fees"], r["net"], r["payout"]) for r in rows] == [
        (b["reference"], str(b["lines"]), b["gross"], b["fees"], b["net"], b["payout"] or "") for b in batches
    ]
    assert rows[0]["reference"] == PAYOUT and rows[0]["gross"] == "13.00" and rows[0]["fees"] == "0.98"
    assert client.get("/settlements?gateway=nope").status_code == 404
    batch = client.get(f"/settlements/batches/{batches[0]['id']}")
    assert batch.status_code == 200
    lines = table(client.get(f"/settlements/batches/{batches[0]['id']}?csv=lines"))
    charges = [r for r in lines if r["kind"] != "payout"]
    assert [(r["key"], r["gross"], r["match"]) for r in charges] == [
        ("t1", "5.00", "unmatched"),
        ("t2", "8.00", "unmatched"),
    ]
    listed = table(client.get("/settlements/mismatches?csv=mismatches"))
    assert [
        (r["line_key"], r["class"], r["amount_at_risk"], r["age_days"], r["suggestion"]) for r in listed
    ] == [
        (m["line_key"], m["kind"], m["amount_at_risk"], str(m["age_days"]), m["suggestion"])
        for m in mismatches
    ]
    assert {r["line_key"] for r in listed} == {"t1", "t2"}


def test_a_mismatch_is_resolved_from_its_page_with_the_csrf_token_only(runtime, client, shop):
    def state() -> tuple[str, str | None, int]:
        with runtime.session_factory() as session:
            row = session.get(Mismatch, mismatch_id)
            count = len(list(session.scalars(select(Event).where(Event.aggregate_id == mismatch_id))))
            return row.state, row.resolved_by, count

    sign_in(client, "finance")
    page = client.get("/settlements/mismatches").text
    mismatch_id = uuid.UUID(
        client.get(f"{API}/mismatches", headers=shop["finance_token"]).json()["items"][0]["id"]
    )
    assert f'id="mismatch-{mismatch_id}"' in page
    path = f"/settlements/mismatches/{mismatch_id}/resolve"
    before = state()
    refused = client.post(
        path, data={"note": "written off", "adjustment": "write_off"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert state() == before == ("open", None, before[2])
    empty = client.post(path, data={"csrf_token": csrf_of(page), "note": ""}, follow_redirects=False)
    assert empty.status_code == 422 and "note" in empty.text
    assert state() == before
    done = client.post(
        path,
        data={"csrf_token": csrf_of(page), "note": "written off", "adjustment": "write_off", "state": "open"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    after = state()
    assert after[:2] == ("resolved", "user:finance") and after[2] == before[2] + 2
    api = client.get(f"{API}/mismatches?state=resolved", headers=shop["finance_token"]).json()["items"]
    assert [(m["id"], m["note"], m["entry_id"] is not None) for m in api] == [
        (str(mismatch_id), "written off", True)
    ]
    assert f'id="mismatch-{mismatch_id}"' not in client.get("/settlements/mismatches").text
    again = client.post(path, data={"csrf_token": csrf_of(page), "note": "again"}, follow_redirects=False)
    assert again.status_code == 409


def test_an_admin_reads_mismatches_but_only_finance_resolves_them(runtime, client, shop):
    sign_in(client, "boss")
    page = client.get("/settlements/mismatches")
    assert page.status_code == 200 and "Resolve</button>" not in page.text
    mismatch_id = client.get(f"{API}/mismatches", headers=shop["finance_token"]).json()["items"][0]["id"]
    refused = client.post(
        f"/settlements/mismatches/{mismatch_id}/resolve",
        data={"csrf_token": csrf_of(page.text), "note": "mine"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    with runtime.session_factory() as session:
        assert session.get(Mismatch, uuid.UUID(mismatch_id)).state == "open"


def test_the_printable_close_report_is_the_checklist_with_the_apis_csv(client, shop):
    period = dt.date.today().strftime("%Y-%m")
    token = shop["finance_token"]
    checklist = client.get(f"{API}/periods/{period}/close-checklist", headers=token).json()
    api_csv = client.get(f"{API}/periods/{period}/close-report?format=csv", headers=token).text
    sign_in(client, "finance")
    assert f'href="/close/report?period={period}"' in client.get(f"/close?period={period}").text
    report = client.get(f"/close/report?period={period}")
    assert report.status_code == 200
    assert "<nav" not in report.text and "print.css" in report.text
    for item in checklist["items"]:
        assert f'id="check-{item["code"]}"' in report.text
        assert item["title"].replace("'", "&#39;") in report.text
    downloaded = client.get(f"/close/report?period={period}&csv=close-report")
    assert downloaded.status_code == 200 and downloaded.text == api_csv
    assert client.get("/close/report?period=2026-13").status_code == 422


def test_a_store_manager_inspects_and_refunds_a_return_from_its_page_with_the_csrf_token_only(
    runtime, client, shop
):
    returned = shop["returns"]["S1"]
    line_id = returned["lines"][0]["id"]

    def state() -> tuple[str, str, str, list[tuple[str, str]]]:
        api = client.get(f"{API}/returns/{returned['id']}", headers=shop["finance_token"]).json()
        with runtime.session_factory() as session:
            trail = [
                (event.type, event.actor)
                for event in session.scalars(
                    select(Event)
                    .where(Event.aggregate_id == uuid.UUID(returned["id"]))
                    .order_by(Event.position)
                )
            ]
        return api["status"], api["lines"][0]["condition"], api["refunded_total"], trail

    sign_in(client, "manager1")
    page = client.get(f"/returns/{returned['id']}").text
    assert "Record the inspection" in page and "Refund" in page and "Receive the goods" not in page
    before = state()
    assert before[:3] == ("received", "damaged", "0.00")
    path = f"/returns/{returned['id']}"
    refused = client.post(
        f"{path}/inspect", data={f"condition.{line_id}": "resaleable"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert state() == before
    token = csrf_of(page)
    inspected = client.post(
        f"{path}/inspect",
        data={"csrf_token": token, f"condition.{line_id}": "resaleable"},
        follow_redirects=False,
    )
    assert inspected.status_code == 303 and inspected.headers["location"] == path, inspected.text
    after_inspection = state()
    assert after_inspection[:3] == ("inspected", "resaleable", "0.00")
    assert after_inspection[3][-1][1] == "user:manager1"
    bad_fee = client.post(
        f"{path}/refund", data={"csrf_token": token, "restocking_fee": "a lot"}, follow_redirects=False
    )
    assert bad_fee.status_code == 422 and "restocking_fee" in bad_fee.text
    assert state() == after_inspection
    refunded = client.post(
        f"{path}/refund", data={"csrf_token": token, "restocking_fee": "0.20"}, follow_redirects=False
    )
    assert refunded.status_code == 303, refunded.text
    status, _, total, trail = state()
    assert status == "refunded" and total == "3.40"  # 3.60 less the fee
    assert [actor for _, actor in trail[len(after_inspection[3]) :]] and all(
        actor == "user:manager1" for _, actor in trail[len(after_inspection[3]) :]
    )
    again = client.post(f"{path}/refund", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 409
    assert "Act on this return" not in client.get(path).text


def test_a_return_action_needs_returns_write_and_the_returns_store(runtime, client, shop):
    own, other = shop["returns"]["S1"], shop["returns"]["S2"]
    sign_in(client, "manager1")
    token = csrf_of(client.get(f"/returns/{own['id']}").text)
    foreign = client.post(
        f"/returns/{other['id']}/refund", data={"csrf_token": token}, follow_redirects=False
    )
    assert foreign.status_code == 404
    unknown = client.post(f"/returns/{own['id']}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert unknown.status_code == 404
    sign_in(client, "finance")  # reads returns, does not act on them
    page = client.get(f"/returns/{other['id']}").text
    assert "Act on this return" not in page
    denied = client.post(
        f"/returns/{other['id']}/refund", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert denied.status_code == 403
    for returned in (own, other):
        api = client.get(f"{API}/returns/{returned['id']}", headers=shop["finance_token"]).json()
        assert (api["status"], api["refunded_total"]) == ("received", "0.00")
