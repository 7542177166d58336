"""The Odoo connector against the local contract server (tests/contract/odoo_server.py), over HTTP.

A real Odoo cannot run here: the server speaks Odoo's documented JSON-RPC and JSON-2 protocols for the
models and methods the connector uses, validates the requests as Odoo would (command triples, balanced
moves, existing accounts, exact amounts) and keeps an in-memory database the tests read.

ACME (EUR, France) runs store S1 with a till; a session sells coffee for cash and card and closes;
finance also posts a manual entry. The push goes through ``POST /connectors/{id}/odoo/push``, and at
the end through ``retailcore connectors sync odoo``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from contract.odoo_server import odoo_server
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.connectors.tables import Connector, ConnectorEntry, ConnectorLink, SyncMessage
from retailcore.entrypoints import sweeps
from retailcore.entrypoints.cli.main import app
from retailcore.masterdata.tables import Account, Product

D = Decimal
PROTOCOLS = ("json2", "jsonrpc")


@pytest.fixture
def odoo():
    with odoo_server() as server:
        yield server


@pytest.fixture
def acme(runtime, client, admin, auth, company, store_factory, product_factory, monkeypatch):
    monkeypatch.setattr(runtime.settings, "connector_key", Fernet.generate_key().decode())
    store = store_factory("S1")
    for path, body in (
        (
            "tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
            },
        ),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"}),
        ("customers", {"code": "C-001", "name": "Ada Lovelace", "email": "ada@example.com"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks", list_price="3.60", barcodes=["4006381333931"])
    product_factory("TEA", category="Drinks", list_price="2.10")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text
    return {
        "company": company,
        "store": store,
        "product": product,
        "terminal": terminal.json(),
        "cashier": auth("cashier", company="ACME", store="S1"),
        "finance": auth("finance", company="ACME"),
        "integration": auth("integration", company="ACME"),
    }


def sell_and_close(client, acme, sales=(("CASH", "5.00"), ("CARD", "3.60"))):
    """A session selling one coffee per sale, closed with the cash counted right; its id."""
    cashier = acme["cashier"]
    session = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": acme["terminal"]["id"], "opening_float": "50.00"},
        headers=cashier,
    ).json()
    batch = {
        "sales": [
            {
                "client_uuid": str(uuid.uuid4()),
                "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
                "lines": [{"product_id": acme["product"]["id"], "quantity": 1, "unit_price": "3.60"}],
                "payments": [{"payment_method_code": method, "amount": paid}],
            }
            for method, paid in sales
        ]
    }
    response = client.post(f"{API}/pos/sessions/{session['id']}/sales:batch", json=batch, headers=cashier)
    assert response.status_code == 200, response.text
    cash = D("50.00") + sum((D("3.60") for method, _ in sales if method == "CASH"), D(0))
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close", json={"counted": {"CASH": str(cash)}}, headers=cashier
    )
    assert closed.status_code == 200, closed.text
    return session["id"]


def manual_entry(client, acme, amount="100.00", date=None):
    accounts = client.get(f"{API}/accounts?limit=500", headers=acme["finance"]).json()["items"]
    codes = {account["role"]: account["code"] for account in accounts if account["role"]}
    body = {
        "date": date or dt.date.today().isoformat(),
        "reference": "Opening cash",
        "lines": [
            {"account_code": codes["cash_drawer"], "debit": amount},
            {"account_code": codes["opening_balance"], "credit": amount},
        ],
    }
    response = client.post(f"{API}/journal-entries", json=body, headers=acme["finance"])
    assert response.status_code == 201, response.text
    return response.json()


def account_mapping(runtime, company_id, leave_out=()):
    """Every account of the chart mapped onto the contract server's four accounts, by code."""
    targets = {"asset": 101, "liability": 251, "equity": 251, "income": 401, "expense": 102}
    with runtime.session_factory() as session:
        rows = session.scalars(select(Account).where(Account.company_id == uuid.UUID(company_id)))
        return {row.code: targets[row.type] for row in rows if row.code not in leave_out}


def connect(
    client, admin, runtime, acme, odoo, *, protocol="json2", aggregate="store_day", secret=None, **extra
):
    settings = {
        "url": odoo.url,
        "database": odoo.db.name,
        "protocol": protocol,
        "aggregate": aggregate,
        "accounts": account_mapping(runtime, acme["company"]["id"]),
        "journals": {"POS": 7, "*": 3},
        "taxes": {"VAT20": 21},
        "retry_base_seconds": 60,
        **extra,
    }
    if protocol == "jsonrpc":
        settings["login"] = odoo.login
    body = {
        "company_id": acme["company"]["id"],
        "kind": "odoo",
        "name": f"odoo-{protocol}",
        "secret": secret or (odoo.api_key if protocol == "json2" else odoo.password),
        "settings": settings,
    }
    response = client.post(f"{API}/connectors", json=body, headers=admin)
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["has_secret"] and "secret" not in view
    return view


def push(client, acme, connector, **body):
    response = client.post(
        f"{API}/connectors/{connector['id']}/odoo/push", json=body, headers=acme["integration"]
    )
    assert response.status_code == 200, response.text
    return response.json()


def set_settings(runtime, connector, **changes):
    with transaction(runtime.session_factory) as session:
        row = session.get(Connector, uuid.UUID(connector["id"]))
        row.settings = {**row.settings, **changes}


def ledger_totals(runtime, company_id):
    """Posted debits per account code, and the number of posted entries."""
    with runtime.session_factory() as session:
        rows = session.execute(
            select(Account.code, a.JournalLine.debit, a.JournalLine.credit)
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(a.JournalLine.company_id == uuid.UUID(company_id), a.JournalLine.state == "posted")
        ).all()
    return sum((r.debit for r in rows), D(0)), sum((r.credit for r in rows), D(0))


def moves(odoo):
    """The contract server's moves, each with its lines."""
    lines = odoo.db.tables["account.move.line"]
    return [
        dict(move, lines=[lines[i] for i in move["line_ids"]]) for move in odoo.db.records("account.move")
    ]


def external_ids(odoo, model):
    return Counter(row["name"] for row in odoo.db.records("ir.model.data") if row["model"] == model)


# -- master data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_products_and_customers_are_created_then_updated_never_twice(
    runtime, client, admin, acme, odoo, protocol
):
    connector = connect(client, admin, runtime, acme, odoo, protocol=protocol)

    first = push(client, acme, connector, what="master_data")

    assert (first["planned"], first["processed"], first["failed"]) == (2, 2, 0)
    products = {p["default_code"]: p for p in odoo.db.records("product.product")}
    assert set(products) == {"COFFEE", "TEA"}
    coffee = products["COFFEE"]
    assert coffee["list_price"] == D("3.60") and coffee["barcode"] == "4006381333931"
    assert coffee["taxes_id"] == [21]  # standard category -> VAT20 -> Odoo tax 21
    assert products["TEA"]["barcode"] is False
    partners = odoo.db.records("res.partner")
    assert [(p["name"], p["ref"], p["email"]) for p in partners] == [
        ("Ada Lovelace", "C-001", "ada@example.com")
    ]
    named = external_ids(odoo, "product.product")
    assert sum(named.values()) == len(named) == 2
    assert named[f"product_{uuid.UUID(acme['product']['id']).hex}"] == 1
    assert all(row["module"] == "retailcore" for row in odoo.db.records("ir.model.data"))
    with runtime.session_factory() as session:
        linked = session.scalars(select(ConnectorLink).where(ConnectorLink.kind == "product")).all()
        assert {link.external_id: link.internal_id for link in linked}[str(coffee["id"])] == uuid.UUID(
            acme["product"]["id"]
        )

    # The product changes here; the next push updates it in Odoo and creates nothing.
    with transaction(runtime.session_factory) as session:
        session.get(Product, uuid.UUID(acme["product"]["id"])).name = "Coffee, large"
    again = push(client, acme, connector, what="master_data")

    assert again["processed"] == 2
    assert len(odoo.db.records("product.product")) == 2
    assert len(odoo.db.records("res.partner")) == 1
    assert odoo.db.tables["product.product"][coffee["id"]]["name"] == "Coffee, large"
    assert sum(external_ids(odoo, "product.product").values()) == 2
    result = next(m for m in again["messages"] if m["topic"] == "odoo/products")["result"]
    assert (result["created"], result["updated"]) == (0, 2)


def test_a_product_of_ours_already_in_odoo_is_adopted_not_duplicated(runtime, client, admin, acme, odoo):
    """The message died between the create and its external id: the replay finds the SKU."""
    connector = connect(client, admin, runtime, acme, odoo)
    odoo.db.faults.append(("ir.model.data", "create"))

    first = push(client, acme, connector, what="master_data")

    products_message = next(m for m in first["messages"] if m["topic"] == "odoo/products")
    assert products_message["status"] == "failed"
    assert "simulated failure of ir.model.data.create" in products_message["error"]
    assert len(odoo.db.records("product.product")) == 2  # created at Odoo's end, not named yet

    replayed = client.post(
        f"{API}/connectors/{connector['id']}/replay",
        json={"message_id": products_message["id"]},
        headers=acme["integration"],
    )

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["replayed"][0]["status"] == "processed"
    assert replayed.json()["replayed"][0]["result"]["adopted"] == 2
    assert len(odoo.db.records("product.product")) == 2
    assert sum(external_ids(odoo, "product.product").values()) == 2


# -- the books ---------------------------------------------------------------------------------------


def check_moves_balance_and_match_the_ledger(runtime, acme, odoo):
    for move in moves(odoo):
        assert move["state"] == "posted"
        assert move["move_type"] == "entry"
        assert sum(line["debit"] for line in move["lines"]) == sum(line["credit"] for line in move["lines"])
        assert all(line["debit"] == 0 or line["credit"] == 0 for line in move["lines"])
    debit, credit = ledger_totals(runtime, acme["company"]["id"])
    sent = sum((line["debit"] for move in moves(odoo) for line in move["lines"]), D(0))
    assert debit == credit == sent


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_books_per_store_day_one_move_per_journal(runtime, client, admin, acme, odoo, protocol):
    sell_and_close(client, acme)
    sell_and_close(client, acme, sales=(("CARD", "3.60"),))
    manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo, protocol=protocol, aggregate="store_day")

    result = push(client, acme, connector, what="books", period=dt.date.today().strftime("%Y-%m"))

    assert result["failed"] == 0, result["messages"]
    keys = [m["external_id"] for m in result["messages"]]
    assert len(keys) == len(set(keys)) == len(moves(odoo))
    store_hex = uuid.UUID(acme["store"]["id"]).hex
    pos_moves = [k for k in keys if k.endswith(f"_pos_t{store_hex}")]
    assert len(pos_moves) == 1  # both sessions of the store and the day in one POS move
    assert any(k.endswith("_misc_c") for k in keys)  # the manual entry has no store: the company's day
    by_ref = {m["ref"].split(":")[0]: m for m in moves(odoo)}
    assert by_ref[f"retailcore {pos_moves[0]}"]["journal_id"] == 7  # POS -> Odoo journal 7
    assert external_ids(odoo, "account.move") == {f"move_{k}": 1 for k in keys}
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)
    # Exact amounts on the wire: the JSON numbers are the ledger's decimal digits.
    sent = [raw.decode() for _, _, raw in odoo.requests if b'"line_ids"' in raw]
    amounts = [m[1] for raw in sent for m in re.finditer(r'"(?:debit|credit)":([^,}]+)', raw)]
    assert amounts and all(re.fullmatch(r"\d+\.\d\d", amount) for amount in amounts), amounts
    assert '"debit":100.00' in "".join(sent)


def test_the_books_per_pos_session_one_move_per_session(runtime, client, admin, acme, odoo):
    first = sell_and_close(client, acme)
    second = sell_and_close(client, acme, sales=(("CARD", "3.60"),))
    connector = connect(client, admin, runtime, acme, odoo, aggregate="session")
    set_settings(runtime, connector, journals={"POS@S1": 3, "POS": 7, "*": 3})  # S1's POS journal: 3

    result = push(client, acme, connector, what="books")

    assert result["failed"] == 0, result["messages"]
    assert {m["journal_id"] for m in moves(odoo)} == {3}
    keys = {m["external_id"] for m in result["messages"]}
    for session_id in (first, second):
        assert any(f"_s{uuid.UUID(session_id).hex}" in key for key in keys)
    with runtime.session_factory() as session:
        taken = session.scalars(select(ConnectorEntry)).all()
        posted = session.scalars(select(a.JournalEntry.id).where(a.JournalEntry.state == "posted")).all()
    assert {row.entry_id for row in taken} == set(posted)  # every posted entry, each once
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)


def test_a_rerun_and_a_replay_create_no_second_move(runtime, client, admin, acme, odoo):
    sell_and_close(client, acme)
    connector = connect(client, admin, runtime, acme, odoo, aggregate="session")
    odoo.db.faults.append(("ir.model.data", "create"))  # the move is created, its external id is not

    first = push(client, acme, connector, what="books")
    failed = [m for m in first["messages"] if m["status"] == "failed"]
    assert len(failed) == 1 and "ir.model.data.create" in failed[0]["error"]
    assert len(moves(odoo)) == 1 and moves(odoo)[0]["state"] == "draft"

    # A re-run sends the failed message again (it is still due), plans nothing new.
    rerun = push(client, acme, connector, what="books")
    assert rerun["planned"] == 0 and rerun["processed"] == 1
    # And a replay of what is processed changes nothing.
    replay = client.post(f"{API}/connectors/{connector['id']}/replay", json={}, headers=acme["integration"])
    assert replay.status_code == 200 and replay.json()["replayed"] == []
    push(client, acme, connector, what="books")

    keys = [m["external_id"] for m in first["messages"]]
    assert len(moves(odoo)) == len(keys)
    assert external_ids(odoo, "account.move") == {f"move_{k}": 1 for k in keys}
    assert all(move["state"] == "posted" for move in moves(odoo))
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)
    with runtime.session_factory() as session:
        links = session.scalars(select(ConnectorLink).where(ConnectorLink.kind == "move")).all()
    assert sorted(int(link.external_id) for link in links) == sorted(m["id"] for m in moves(odoo))


def test_an_entry_posted_after_its_group_was_pushed_makes_a_new_move(runtime, client, admin, acme, odoo):
    """A reversal posted later is a move of its own: the posted one is never edited."""
    entry = manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo)
    push(client, acme, connector, what="books")
    reversed_ = client.post(f"{API}/journal-entries/{entry['id']}/reverse", json={}, headers=acme["finance"])
    assert reversed_.status_code in (200, 201), reversed_.text

    second = push(client, acme, connector, what="books")

    assert second["planned"] == 1 and second["processed"] == 1
    key = second["messages"][0]["external_id"]
    assert key.endswith("_2")
    assert len(moves(odoo)) == 2
    assert not any(path.endswith("account.move/write") for path, _, _ in odoo.requests)
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)


def test_an_unmapped_account_fails_clearly_then_a_replay_after_the_fix_pushes_it(
    runtime, client, admin, acme, odoo
):
    sell_and_close(client, acme)
    with runtime.session_factory() as session:
        tax_code = session.scalar(
            select(Account.code).where(
                Account.company_id == uuid.UUID(acme["company"]["id"]), Account.role == "output_tax"
            )
        )
    connector = connect(client, admin, runtime, acme, odoo, aggregate="session")
    mapping = account_mapping(runtime, acme["company"]["id"], leave_out=(tax_code,))
    set_settings(runtime, connector, accounts=mapping)
    before = len(odoo.requests)

    result = push(client, acme, connector, what="books")

    failed = [m for m in result["messages"] if m["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["error"].startswith("odoo-unmapped-account: no Odoo counterpart for our account")
    assert f"settings.accounts.{tax_code}" in failed[0]["error"]
    assert failed[0]["next_attempt_at"] is not None  # retried by the backoff, too
    assert all(b"line_ids" not in raw for _, _, raw in odoo.requests[before:])  # nothing sent for it
    log = client.get(
        f"{API}/connectors/{connector['id']}/sync-log?status=failed", headers=acme["integration"]
    ).json()["items"]
    assert [m["id"] for m in log] == [failed[0]["id"]]
    assert log[0]["direction"] == "outbound" and log[0]["topic"] == "odoo/books"

    bad_fix = client.patch(
        f"{API}/connectors/{connector['id']}/odoo",
        json={"settings": {"accounts": {tax_code: "two-five-one"}}},
        headers=acme["integration"],
    )
    assert_problem(bad_fix, 422, "validation-failed", fields=("settings.accounts",))
    fixed = client.patch(
        f"{API}/connectors/{connector['id']}/odoo",
        json={"settings": {"accounts": {tax_code: 251}}},
        headers=acme["integration"],
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["settings"]["accounts"] == {**mapping, tax_code: 251}
    replay = client.post(
        f"{API}/connectors/{connector['id']}/replay",
        json={"message_id": failed[0]["id"]},
        headers=acme["integration"],
    )

    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"][0]["status"] == "processed"
    assert replay.json()["replayed"][0]["error"] is None
    assert len(moves(odoo)) == len(result["messages"])
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)


def test_tax_ids_are_sent_on_base_lines_when_asked(runtime, client, admin, acme, odoo):
    accounts = client.get(f"{API}/accounts?limit=500", headers=acme["finance"]).json()["items"]
    codes = {account["role"]: account["code"] for account in accounts if account["role"]}
    body = {
        "date": dt.date.today().isoformat(),
        "reference": "Invoice by hand",
        "lines": [
            {"account_code": codes["receivable"], "debit": "120.00"},
            {
                "account_code": codes["sales_revenue"],
                "credit": "100.00",
                "tax_code": "VAT20",
                "tax_base": "100",
            },
            {"account_code": codes["output_tax"], "credit": "20.00", "tax_code": "VAT20", "tax_base": "100"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=body, headers=acme["finance"]).status_code == 201
    connector = connect(client, admin, runtime, acme, odoo, send_tax_ids=True)

    result = push(client, acme, connector, what="books")

    assert result["failed"] == 0, result["messages"]
    lines = moves(odoo)[0]["lines"]
    taxed = [line for line in lines if "tax_ids" in line]
    assert [(line["account_id"], line["credit"], line["tax_ids"]) for line in taxed] == [
        (401, D("100.00"), [[6, 0, [21]]])  # the revenue line, not the tax line
    ]
    assert len(lines) == 3


# -- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_refused_login_fails_the_message_with_odoos_words(runtime, client, admin, acme, odoo, protocol):
    manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo, protocol=protocol, secret="wrong")

    result = push(client, acme, connector, what="books")

    message = result["messages"][0]
    assert message["status"] == "failed"
    assert message["error"].startswith("odoo-access-denied: Odoo refused the")
    assert moves(odoo) == []


def test_an_unreachable_odoo_fails_the_message(runtime, client, admin, acme, odoo):
    manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo)
    set_settings(runtime, connector, url="http://127.0.0.1:9")  # discard port: nothing listens

    message = push(client, acme, connector, what="books")["messages"][0]

    assert message["status"] == "failed"
    assert message["error"].startswith("odoo-unreachable: cannot reach Odoo at http://127.0.0.1:9")


def test_settings_are_checked_when_the_connector_is_made(client, admin, acme, runtime):
    body = {
        "company_id": acme["company"]["id"],
        "kind": "odoo",
        "name": "odoo",
        "secret": "key",
        "settings": {"url": "ftp://x", "protocol": "xmlrpc", "accounts": {"1010": "101"}},
    }
    assert_problem(
        client.post(f"{API}/connectors", json=body, headers=admin),
        422,
        "validation-failed",
        fields=("settings.url", "settings.database", "settings.protocol", "settings.accounts"),
    )
    without_secret = client.post(
        f"{API}/connectors", json={**body, "secret": None, "settings": {}}, headers=admin
    )
    assert_problem(without_secret, 422, "validation-failed", fields=("secret",))
    with runtime.session_factory() as session:
        assert session.scalars(select(Connector)).all() == []


def test_push_on_a_shopify_connector_is_refused(client, admin, acme):
    body = {
        "company_id": acme["company"]["id"],
        "kind": "shopify",
        "name": "x.myshopify.com",
        "secret": "hush",
    }
    shop = client.post(f"{API}/connectors", json=body, headers=admin).json()
    response = client.post(f"{API}/connectors/{shop['id']}/odoo/push", json={}, headers=acme["integration"])
    assert_problem(response, 409, "not-an-odoo-connector")


def test_a_failed_push_is_sent_again_by_the_sweep_once_due(runtime, client, admin, acme, odoo):
    manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo)
    set_settings(runtime, connector, journals={"POS": 7})  # MISC unmapped, no "*"

    message = push(client, acme, connector, what="books")["messages"][0]
    assert message["status"] == "failed"
    assert message["error"].startswith("odoo-unmapped-journal: no Odoo journal for our journal MISC")

    set_settings(runtime, connector, journals={"POS": 7, "MISC": 3})
    due = dt.datetime.fromisoformat(message["next_attempt_at"])
    assert sweeps.retry_connector_messages(runtime.session_factory, due - dt.timedelta(seconds=1)) == 0
    assert sweeps.retry_connector_messages(runtime.session_factory, due) == 1

    with runtime.session_factory() as session:
        row = session.get(SyncMessage, uuid.UUID(message["id"]))
        assert (row.status, row.attempts, row.error) == ("processed", 2, None)
    assert [move["journal_id"] for move in moves(odoo)] == [3]


def test_a_dead_letter_is_pushed_by_a_replay_after_the_key_is_fixed(runtime, client, admin, acme, odoo):
    manual_entry(client, acme)
    connector = connect(client, admin, runtime, acme, odoo, secret="expired-key", max_attempts=1)

    message = push(client, acme, connector, what="books")["messages"][0]
    assert message["status"] == "dead_lettered" and message["next_attempt_at"] is None

    fixed = client.patch(
        f"{API}/connectors/{connector['id']}/odoo", json={"secret": odoo.api_key}, headers=acme["integration"]
    )
    assert fixed.status_code == 200 and "secret" not in fixed.json()
    replay = client.post(
        f"{API}/connectors/{connector['id']}/replay",
        json={"status": ["dead_lettered"]},
        headers=acme["integration"],
    )

    assert [m["status"] for m in replay.json()["replayed"]] == ["processed"]
    assert len(moves(odoo)) == 1 and moves(odoo)[0]["state"] == "posted"


# -- the CLI -----------------------------------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200"})


def test_the_cli_pushes_master_data_then_the_books_of_a_month(
    runtime, client, admin, acme, odoo, monkeypatch
):
    monkeypatch.setenv("RETAILCORE_CONNECTOR_KEY", runtime.settings.connector_key)
    sell_and_close(client, acme)
    connector = connect(client, admin, runtime, acme, odoo, protocol="jsonrpc", aggregate="session")
    month = dt.date.today().strftime("%Y-%m")

    master = runner.invoke(app, ["connectors", "sync", "odoo", "--master-data"])
    books = runner.invoke(
        app, ["connectors", "sync", "odoo", "--connector", connector["name"], "--books", "--period", month]
    )
    again = runner.invoke(app, ["connectors", "sync", "odoo", "--books", "--period", month])

    assert master.exit_code == 0, master.output
    assert "odoo-jsonrpc: 2 new messages, 2 sent, 2 processed, 0 failed" in master.stdout
    assert books.exit_code == 0, books.output
    assert len(odoo.db.records("product.product")) == 2
    assert again.exit_code == 0 and "0 new messages, 0 sent" in again.stdout
    keys = {row["name"] for row in odoo.db.records("ir.model.data") if row["model"] == "account.move"}
    assert len(keys) == len(moves(odoo)) > 0
    check_moves_balance_and_match_the_ledger(runtime, acme, odoo)


def test_the_cli_says_what_failed_and_exits_1(runtime, client, admin, acme, odoo, monkeypatch):
    monkeypatch.setenv("RETAILCORE_CONNECTOR_KEY", runtime.settings.connector_key)
    manual_entry(client, acme)
    connect(client, admin, runtime, acme, odoo, secret="wrong")

    failed = runner.invoke(app, ["connectors", "sync", "odoo", "--books"])
    bad_period = runner.invoke(app, ["connectors", "sync", "odoo", "--books", "--period", "2026-13"])
    unknown = runner.invoke(app, ["connectors", "sync", "odoo", "--connector", "nope"])

    assert failed.exit_code == 1
    assert "error: 1 of 1 messages to Odoo failed" in failed.stderr
    assert "odoo-access-denied: Odoo refused the credentials" in failed.stderr
    assert bad_period.exit_code == 1 and "'2026-13' is not a month" in bad_period.stderr
    assert unknown.exit_code == 1 and "no Odoo connector named nope" in unknown.stderr
    assert moves(odoo) == []
