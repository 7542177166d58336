"""The ``single-async`` case (decision 0084): one POS sale per request over HTTP, answered at once or
recorded in the POS inbox (``Prefer: respond-async``) and posted by the server's drainer, same run.

``--clients`` tills, each on its own session with its own cashier token, post their share of ``volume``
one-sale batches as fast as answered, twice, each time against a fresh server on the same database:

* **sync**: the default path (group commit on, decision 0078): the request answers with the sale taken.
* **async**: ``Prefer: respond-async``: the request answers 202 once the inbox row is committed; the
  server's drainer (``RETAILCORE_POS_INBOX_INTERVAL_MS``, its default) posts the rows.

For each: the requests' throughput and p50/p99; the server's CPU (from ``/proc``, its whole process
tree) per sale, for the async phase from the first request until the drainer has posted the last row,
so the drain's work is in it; and for the async phase the lag from acceptance to ingested (the rows'
``received_at`` to ``ingested_at``, p50/p99), the time the drain ran behind the last answer, and the
sales per drained batch (``PosSalesIngested`` events).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import retail
from cases import (
    WARM_UP,
    Client,
    Row,
    Timer,
    http_tills,
    load_note,
    log,
    percentile,
    refresh_statistics,
    row,
    serving,
    spread,
    timed_load,
)
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.entrypoints.inbox import drain_now
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.pos import inbox
from retailcore.pos import services as pos
from retailcore.pos.commands import CreateTerminal
from retailcore.pos.tables import PosInbox

INTERVAL_MS = "25"
"""The drainer's interval the async phase runs with (the setting's default)."""
DRAIN_DEADLINE_SECONDS = 600.0


def _inbox(url: str, since: dt.datetime) -> tuple[list[float], int]:
    """The lags (seconds) of the rows received since ``since`` and ingested, and the
    PosSalesIngested events (drained batches) so far."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        lags = [
            (ingested - received).total_seconds()
            for received, ingested in session.execute(
                select(PosInbox.received_at, PosInbox.ingested_at).where(
                    PosInbox.status == "ingested", PosInbox.received_at >= since
                )
            )
        ]
        batches = session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "PosSalesIngested")
        )
    engine.dispose()
    return lags, int(batches or 0)


def _pending(url: str, engine: Any) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(select(func.count()).select_from(PosInbox).where(PosInbox.status == "pending"))
            or 0
        )


def accepted_sales(url: str, volume: int, options: dict[str, Any], profile: Any) -> list[Row]:
    clients = options.get("clients", 4)
    shop, tills = http_tills(url, clients)
    per_client = volume // clients
    bodies: list[list[bytes]] = []
    for n in range(clients):
        sales = retail.Sales(shop.pos_products, seed=3000 + n)
        share = 2 * (WARM_UP + per_client)
        bodies.append(
            [json.dumps({"sales": [s.model_dump(mode="json")]}).encode() for [s] in sales.batches(share, 1)]
        )
    rows: list[Row] = []
    for k, mode in enumerate(("sync", "async")):
        mine = [own[k * len(own) // 2 : (k + 1) * len(own) // 2] for own in bodies]
        rows.append(_phase(url, tills, mine, per_client, mode))
    sync, asynchronous = rows
    rows.append(_in_process(url, shop, per_client * clients))
    ratios = {key: asynchronous[key] / sync[key] for key in ("rate", "cpu_ms", "p99_ms")}
    asynchronous["note"] += (
        f"; async/sync, same run: request throughput {ratios['rate']:.2f}x, server CPU a sale"
        f" {ratios['cpu_ms']:.2f}x, request p99 {ratios['p99_ms']:.2f}x"
    )
    return rows


def _in_process(url: str, shop: retail.Retail, volume: int) -> Row:
    """The two halves without HTTP, in this process: ``volume`` one-sale batches accepted into the inbox
    (one transaction each, as a request's), then drained in one go; each half's CPU a sale (SQLite's
    work is in the process; PostgreSQL's server share is not)."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        request = CreateTerminal(store_id=shop.stores["PAR01"], code="INBOX", name="Inbox")
        terminal = pos.create_terminal(session, retail.ctx(), company, request)
        session_id = pos.open_session(session, retail.ctx(), terminal.id, Decimal(0)).id
    principal = system_principal("benchmark")
    sales = retail.Sales(shop.pos_products, seed=volume + 7)
    accepting, draining = Timer(None), Timer(None)
    for [sale] in sales.batches(volume, 1):
        body = json.dumps({"sales": [sale.model_dump(mode="json")]})
        with accepting.measure(), transaction(factory) as session:
            inbox.accept(
                session,
                principal=principal,
                session_id=session_id,
                sales=[sale],
                body=body,
                idempotency_key=None,
                fingerprint=str(sale.client_uuid),
            )
    with draining.measure():
        done = drain_now(factory, session_id)
    engine.dispose()
    assert done.sales == volume, done
    result = row(
        "POS single sale, in-process, inbox accept then drain",
        volume,
        accepting.seconds + draining.seconds,
        "sales/s",
        f"accept (one transaction a sale): CPU {accepting.cpu_seconds / volume * 1000:.2f} ms a sale, wall"
        f" {accepting.seconds / volume * 1000:.2f} ms; drain of all {volume} ({done.batches} batch(es)): CPU"
        f" {draining.cpu_seconds / volume * 1000:.2f} ms a sale, wall {draining.seconds:.2f} s",
    )
    log(result["note"])
    return result


def _phase(
    url: str, tills: list[tuple[uuid.UUID, str]], bodies: list[list[bytes]], per_client: int, mode: str
) -> Row:
    clients = len(tills)
    settings = {"RETAILCORE_POS_INBOX_INTERVAL_MS": INTERVAL_MS}
    engine = make_engine(url)
    with serving(url, 1, settings) as server:
        connections = [Client(server.port, token) for _, token in tills]
        if mode == "async":
            for connection in connections:
                connection.headers["Prefer"] = "respond-async"
        targets = [f"/api/v1/pos/sessions/{session_id}/sales:batch" for session_id, _ in tills]
        expected = 202 if mode == "async" else 200

        def send(n: int, body: bytes) -> None:
            status, answer = connections[n].request("POST", targets[n], body)
            if status != expected:
                raise RuntimeError(f"HTTP {status}: {answer[:200].decode(errors='replace')}")

        for n in range(clients):
            for body in bodies[n][:WARM_UP]:
                send(n, body)
        while _pending(url, engine):  # the warm-up's rows posted before the clock starts
            time.sleep(0.01)
        refresh_statistics(url)
        since = dt.datetime.now(dt.UTC)
        _, batches_before = _inbox(url, since)
        latencies: list[float] = []
        cpu_before = server.cpu()

        def flat_out(n: int) -> None:
            for body in bodies[n][WARM_UP : WARM_UP + per_client]:
                started = time.perf_counter()
                send(n, body)
                latencies.append(time.perf_counter() - started)

        load = timed_load(server, flat_out, clients, latencies)
        answered = time.perf_counter()
        behind = 0.0
        if mode == "async":
            deadline = answered + DRAIN_DEADLINE_SECONDS
            while _pending(url, engine):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the drainer did not post the accepted sales in time")
                time.sleep(0.005)
            behind = time.perf_counter() - answered
        server_cpu = server.cpu() - cpu_before
        for connection in connections:
            connection.close()
    engine.dispose()
    sent = per_client * clients
    failures = f"; server errors: {server.failures[0][:120]}" if server.failures else ""
    label = "respond-async (inbox, drained)" if mode == "async" else "sync (group commit on)"
    result = row(
        f"POS single sale, HTTP, {label}, {clients} sessions",
        sent,
        load.seconds,
        "sales/s",
        load_note(load, sent, "sale", clients),
    )
    result["cpu_ms"] = server_cpu / sent * 1000
    result["p99_ms"] = percentile(latencies, 0.99) * 1000
    if mode == "async":
        lags, batches = _inbox(url, since)
        taken = batches - batches_before
        result["note"] += (
            f"; server CPU a sale including the drain {result['cpu_ms']:.2f} ms; acceptance to ingested"
            f" {spread(lags)}; the drain finished {behind * 1000:.0f} ms after the last answer;"
            f" {sent / max(taken, 1):.1f} sales a drained batch ({taken} batches)"
        )
    log(f"{label}: {result['rate']:.0f} sales/s, server CPU {result['cpu_ms']:.2f} ms a sale")
    result["note"] += f"; {WARM_UP} untimed sales per client first" + failures
    return result
