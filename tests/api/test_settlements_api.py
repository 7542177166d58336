"""Gateway settlements over HTTP with the published Stripe and Adyen samples (issue 17, decision 0035):
matched and posted, chargebacks, each mismatch class, re-imports as no-ops, bad files refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from apitools import API
from settlement_shop import Shop

D = Decimal
EXTERNAL = Path(__file__).parents[1] / "fixtures" / "external"
STRIPE = (EXTERNAL / "stripe" / "balance_transactions_sample.csv").read_text()
ADYEN = (EXTERNAL / "adyen" / "settlement_detail_sample.csv").read_text()


@pytest.fixture
def shop(runtime, client, admin):
    return Shop(runtime, client, admin)


@pytest.fixture
def finance(auth, shop):
    return auth("finance", company="SHOP")


def upload(client, headers, shop, gateway, content, **fields):
    body = {"company_id": shop.company["id"], "gateway": gateway, "content": content, **fields}
    return client.post(f"{API}/settlements", json=body, headers=headers)


def test_smoke(client, admin, finance, shop):
    shop.order("59.99", "stripe", "ch_3RZaA1Kx7aZ3LmN01XyZ0001")
    done = upload(client, finance, shop, "stripe", STRIPE)
    assert done.status_code == 201, done.text
    print(done.json())
