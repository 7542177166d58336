# ruff: noqa: F811  (`shop` is the fixture of test_returns_api, imported; tests take it as a parameter)
"""A refund in a gateway's settlement confirms the card refund our return left pending (decision 0026's
hook, ``returns.services.confirm_card_refund``), once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apitools import API
from test_returns_api import ask, shop  # noqa: F401

D = Decimal
HEADER = (
    "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,charge_id,"
    "payment_intent_id,automatic_payout_id"
)


def test_a_settled_refund_confirms_the_pending_card_refund(client, admin, auth, shop):
    policy = {"company_id": shop.company["id"], "card_refunds_await_confirmation": True}
    assert client.post(f"{API}/return-policy", json=policy, headers=admin).status_code == 200
    order = shop.web_order()  # 87.00 on the card, reference pi_<number>
    ret = ask(client, admin, shop, order)
    assert ret.status_code == 201, ret.text
    assert client.post(f"{API}/returns/{ret.json()['id']}/receive", headers=admin).status_code == 200
    refunded = client.post(f"{API}/returns/{ret.json()['id']}/refund", headers=admin)
    [pending] = refunded.json()["card_refunds"]
    assert (pending["status"], pending["amount"]) == ("pending", "29.00")
    assert shop.balance("refunds_payable") == D("-29.00")

    today = dt.date.today().isoformat()
    content = f"{HEADER}\ntxn_r1,{today} 09:00:00,eur,-29.00,0.00,-29.00,refund,,pi_{order['number']},po_1\n"
    body = {"company_id": shop.company["id"], "gateway": "stripe", "content": content}
    finance = auth("finance", company="ACME")
    done = client.post(f"{API}/settlements", json=body, headers=finance)
    assert done.status_code == 201, done.text
    assert (done.json()["matched"], done.json()["mismatches"]) == (1, 0)

    [confirmed] = client.get(f"{API}/returns/{ret.json()['id']}", headers=admin).json()["card_refunds"]
    assert confirmed["status"] == "confirmed"
    assert shop.balance("refunds_payable") == D(0)
    # Clearing: 87.00 captured, 29.00 refunded at confirmation, the refund settled out of it.
    assert shop.balance("card_clearing") == D("87.00") - D("29.00") + D("29.00")
    assert shop.unbalanced_entries() == []
    again = client.post(f"{API}/settlements", json=body, headers=finance)
    assert again.json()["replayed"] is True
