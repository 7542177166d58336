"""The contract server answers the request/response pairs of Odoo's documentation (FORMATS.md 3.1-3.3)
as documented, and refuses what Odoo refuses; and the connector's clients speak to it."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from contract.odoo_server import odoo_server
from retailcore.connectors.odoo_client import Json2Client, JsonRpcClient, OdooError, dumps

DOCUMENTED_MOVE = {
    "move_type": "entry",
    "journal_id": 3,
    "date": "2025-06-02",
    "ref": "POS-Z/STORE1/2025-06-02 (backbone je_8f2c)",
    "line_ids": [
        [0, 0, {"account_id": 101, "name": "Card takings", "debit": 119.00, "credit": 0.0,
                "partner_id": False, "analytic_distribution": {"12": 100.0}}],
        [0, 0, {"account_id": 401, "name": "Sales 19%", "debit": 0.0, "credit": 100.00}],
        [0, 0, {"account_id": 251, "name": "Output VAT 19%", "debit": 0.0, "credit": 19.00}],
    ],
}  # fmt: skip


@pytest.fixture
def odoo():
    with odoo_server(login="admin", password="admin-password") as server:
        yield server


def rpc(odoo, params, request_id=1):
    body = {"jsonrpc": "2.0", "method": "call", "id": request_id, "params": params}
    return httpx.post(f"{odoo.url}/jsonrpc", json=body).json()


def test_the_documented_jsonrpc_pairs(odoo):
    authenticated = rpc(
        odoo,
        {"service": "common", "method": "authenticate", "args": ["retail", "admin", "admin-password", {}]},
    )
    assert authenticated == {"jsonrpc": "2.0", "id": 1, "result": 7}
    refused = rpc(odoo, {"service": "common", "method": "authenticate", "args": ["retail", "admin", "x", {}]})
    assert refused["result"] is False
    version = rpc(odoo, {"service": "common", "method": "version", "args": []})["result"]
    assert version["protocol_version"] == 1

    def execute_kw(model, method, args, request_id):
        params = {"service": "object", "method": "execute_kw",
                  "args": ["retail", 7, "admin-password", model, method, args]}  # fmt: skip
        return rpc(odoo, params, request_id)

    created = execute_kw("account.move", "create", [[DOCUMENTED_MOVE]], 2)
    assert created == {"jsonrpc": "2.0", "id": 2, "result": [created["result"][0]]}
    posted = execute_kw("account.move", "action_post", [created["result"]], 3)
    assert posted == {"jsonrpc": "2.0", "id": 3, "result": False}  # action_post returns nothing: False
    move = odoo.db.tables["account.move"][created["result"][0]]
    assert move["state"] == "posted" and move["journal_id"] == 3
    denied = rpc(odoo, {"service": "object", "method": "execute_kw",
                        "args": ["retail", 7, "wrong", "account.move", "search_read", [[]]]})  # fmt: skip
    assert denied["error"]["code"] == 200 and denied["error"]["message"] == "Odoo Server Error"
    assert denied["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"


def test_the_documented_json2_pairs(odoo):
    headers = {"Authorization": f"bearer {odoo.api_key}", "X-Odoo-Database": "retail"}
    found = httpx.post(
        f"{odoo.url}/json/2/account.journal/search_read",
        json={"domain": [["code", "=", "POS"]], "fields": ["name"]},
        headers=headers,
    )
    assert (found.status_code, found.json()) == (200, [{"name": "POS", "id": 7}])
    bad_key = httpx.post(
        f"{odoo.url}/json/2/account.move/search_read", json={}, headers={"Authorization": "bearer nope"}
    )
    assert bad_key.status_code == 401
    assert {"name", "message", "arguments", "context", "debug"} <= bad_key.json().keys()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["line_ids"][2][2].update(credit=18.00), "not balanced"),
        (lambda m: m["line_ids"].__setitem__(0, [0, {"account_id": 101}]), "expected [0, 0"),
        (lambda m: m["line_ids"][0][2].update(account_id=999), "account_id 999 is not an account"),
        (lambda m: m["line_ids"][1][2].update(credit="100.00"), "must be a number"),
        (lambda m: m["line_ids"][1][2].update(credit=100.001), "more decimals"),
        (lambda m: m.update(journal_id=42), "is not a journal"),
    ],
)
def test_what_odoo_refuses_is_refused_and_nothing_is_stored(odoo, change, message):
    move = json.loads(json.dumps(DOCUMENTED_MOVE))
    change(move)
    client = Json2Client(odoo.url, "retail", odoo.api_key)
    with pytest.raises(OdooError) as refused:
        client.create("account.move", [move])
    assert message in refused.value.detail
    assert refused.value.code == "odoo-validation"
    assert odoo.db.records("account.move") == []


def test_the_clients_write_exact_decimals_and_read_them_back(odoo):
    assert (
        dumps({"debit": Decimal("119.10"), "ids": [1, 2], "x": None})
        == '{"debit":119.10,"ids":[1,2],"x":null}'
    )
    sent: list[str] = []
    for client in (
        Json2Client(odoo.url, "retail", odoo.api_key, trace=sent.append),
        JsonRpcClient(odoo.url, "retail", "admin", "admin-password", trace=sent.append),
    ):
        [product] = client.create("product.product", [{"name": "Tea", "list_price": Decimal("2.10")}])
        assert client.search_read("product.product", [["id", "=", product]], ["list_price"]) == [
            {"list_price": Decimal("2.1"), "id": product}
        ]
        client.close()
    assert sent == ["product.product.create", "product.product.search_read", "common.authenticate",
                    "product.product.create", "product.product.search_read"]  # fmt: skip
