"""Shopify webhooks over HTTP: signed deliveries to uvicorn in another process, by concurrent clients.

    .venv/bin/python benchmarks/shopify_webhooks.py --backend sqlite --volume 5000 --orders 500
    .venv/bin/python benchmarks/shopify_webhooks.py --backend postgres --postgres URL --volume 5000

On the benchmark shop (``retail.set_up``: the demo company, stock at the web warehouse), five passes,
each timed on its own, every request built and signed before the clock starts:

* ``baseline``: ``GET /health`` as often, for comparison: what the HTTP stack, the clients and the
  machine allow at all (one read of the database per request).
* ``queued``: ``--volume`` new ``orders/create`` deliveries to a connector set to ``"process":
  "queued"``: the signature checked over the raw body (HMAC-SHA256, the secret decrypted with the
  installation's key), the webhook id looked up, the message stored, 200. What Shopify waits for.
* ``duplicate``: the same deliveries again (Shopify's retries): checked, found, counted, 200.
* ``bad signature``: ``--volume`` deliveries with a wrong signature: 401, nothing written.
* ``inline``: ``--orders`` new orders to a connector that processes before answering: each lands as a
  confirmed web order (SKUs matched, Shopify's prices, our taxes compared, reserved at the warehouse,
  the Shopify card captured and posted).

Each pass checks what it wrote (messages, orders) before its figure is printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retail
from cases import _free_port

from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.connectors import commands as cc
from retailcore.connectors import services as connectors
from retailcore.connectors.tables import SyncMessage
from retailcore.connectors.vault import new_key
from retailcore.masterdata.tables import Company, Product
from retailcore.orders.tables import OrderRow

SECRET = "bench-secret"
QUEUED = "queued-bench.myshopify.com"
INLINE = "inline-bench.myshopify.com"


def payload(n: int, products: list[tuple[str, Decimal]]) -> bytes:
    """A Shopify order of one or two lines (the REST Order's fields the connector reads, and its size)."""
    chosen = [products[n % len(products)], products[(n * 7 + 3) % len(products)]][: 1 + n % 2]
    items = [
        {
            "id": 10_000_000_000 + n * 10 + k,
            "sku": sku,
            "quantity": 1,
            "price": f"{price:.2f}",
            "total_discount": "0.00",
            "discount_allocations": [],
            "tax_lines": [],
            "title": sku,
            "variant_id": None,
            "requires_shipping": True,
        }
        for k, (sku, price) in enumerate(chosen)
    ]
    total = sum((price for _, price in chosen), Decimal(0))
    order = {
        "id": 820_982_911_946_154_508 + n,
        "name": f"#{1000 + n}",
        "currency": "EUR",
        "taxes_included": True,
        "total_price": f"{total:.2f}",
        "subtotal_price": f"{total:.2f}",
        "total_tax": "0.00",
        "total_outstanding": "0.00",
        "financial_status": "paid",
        "cancelled_at": None,
        "source_name": "web",
        "payment_gateway_names": ["shopify_payments"],
        "line_items": items,
        "shipping_lines": [],
        "note": "x" * 2000,  # about the size of a real delivery (orders_create.json is 12 kB)
    }
    return json.dumps(order).encode()


def sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def drive(
    base: str, shop: str | None, requests: list[tuple[bytes, dict[str, str]]], clients: int
) -> tuple[float, dict]:
    """Send ``requests`` over ``clients`` threads; seconds taken and the count per status. ``shop``
    None: ``GET /health`` instead, as many times (what the HTTP stack alone allows, for comparison)."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    host, port = base.removeprefix("http://").split(":")
    path = f"/api/v1/connectors/shopify/{shop}/webhooks"

    def run(share: list[tuple[bytes, dict[str, str]]]) -> None:
        # http.client with keep-alive: a client costs a fraction of what httpx does, and the clients
        # share the machine's two cores with the server they measure.
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            for body, headers in share:
                if shop is None:
                    connection.request("GET", "/api/v1/health")
                else:
                    connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(requests[n::clients],)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/retailcore_bench")
    parser.add_argument("--volume", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--inline-clients",
        type=int,
        default=2,
        help="clients of the inline pass: each order is a write transaction of tens of milliseconds, and"
        " more clients only queue for SQLite's one writer",
    )
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="shopify-bench-")
    url = f"sqlite:///{scratch}/bench.db" if args.backend == "sqlite" else args.postgres
    key = new_key()
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=(retail.WAREHOUSE,))
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        assert company is not None
        for name, process in ((QUEUED, "queued"), (INLINE, "inline")):
            body = cc.CreateConnector(kind="shopify", name=name, secret=SECRET, settings={"process": process})
            connectors.create_connector(session, retail.ctx(), company, body, key)
        products = [
            (p.sku, p.list_price)
            for p in session.scalars(
                select(Product).where(
                    Product.company_id == shop.company_id, Product.active, Product.available_web
                )
            )
        ]
    engine.dispose()

    def deliveries(start: int, count: int, signed: bool = True) -> list[tuple[bytes, dict[str, str]]]:
        made = []
        for n in range(start, start + count):
            body = payload(n, products)
            made.append(
                (
                    body,
                    {
                        "Content-Type": "application/json",
                        "X-Shopify-Topic": "orders/create",
                        "X-Shopify-Hmac-Sha256": sign(body) if signed else sign(body + b" "),
                        "X-Shopify-Webhook-Id": str(uuid.UUID(int=n + 1)),
                    },
                )
            )
        return made

    queued = deliveries(0, args.volume)
    bad = deliveries(args.volume, args.volume, signed=False)
    inline = deliveries(2 * args.volume, args.orders)
    port = _free_port()
    env = {
        **os.environ,
        "RETAILCORE_DATABASE_URL": url,
        "RETAILCORE_CONNECTOR_KEY": key,
        "RETAILCORE_SWEEP_INTERVAL_SECONDS": "0",  # nothing processes the queued messages meanwhile
    }
    command = [sys.executable, "-m", "uvicorn", "retailcore.entrypoints.api.asgi:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    server_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        drive(base, QUEUED, deliveries(10 * args.volume, 50), args.clients)  # warm-up, untimed
        for label, shop_name, requests, expected, clients in (
            ("baseline: GET /health", None, queued, 200, args.clients),
            ("queued (check, store, 200)", QUEUED, queued, 200, args.clients),
            ("duplicate (check, count, 200)", QUEUED, queued, 200, args.clients),
            ("bad signature (401)", QUEUED, bad, 401, args.clients),
            ("inline (order landed, paid)", INLINE, inline, 200, args.inline_clients),
        ):
            seconds, statuses = drive(base, shop_name, requests, clients)
            if statuses != {expected: len(requests)}:
                server_log.seek(0)
                print(server_log.read().decode(errors="replace")[-6000:], file=sys.stderr)
                raise SystemExit(f"{label}: {statuses}")
            results.append((label, len(requests), seconds))
            print(
                f"{label:32} {len(requests):>6} in {seconds:6.2f} s: {len(requests) / seconds:7.0f}/s",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.seek(0)
        tail = server_log.read().decode(errors="replace")[-2000:]
        server_log.close()
    engine = make_engine(url)
    with engine.connect() as connection:
        messages = connection.scalar(select(func.count()).select_from(SyncMessage))
        landed = connection.scalar(select(func.count()).select_from(OrderRow))
        duplicates = connection.scalar(select(func.sum(SyncMessage.duplicate_deliveries)))
    engine.dispose()
    assert messages == 50 + args.volume + args.orders, (messages, tail)
    assert landed == args.orders, (landed, tail)
    assert duplicates == args.volume
    print(f"checked: {messages} messages stored, {duplicates} duplicates counted, {landed} orders landed")


if __name__ == "__main__":
    main()
