"""The benchmark cases. Each runs in its own process on a fresh database and returns result rows.

A row: ``{"case", "volume", "seconds", "rate", "unit", "peak_mib", "note"}``. ``peak_mib`` is the peak
resident memory of the process that did the work (``ru_maxrss``), setup included.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import retail
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from retailcore.access.services import create_token
from retailcore.accounting import reports
from retailcore.accounting import tables as a
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.inventory import valuation
from retailcore.masterdata.tables import Company
from retailcore.orders import services as orders
from retailcore.orders.tables import OrderRow
from retailcore.pos import services as pos

Row = dict[str, Any]
BATCH = 1000  # the most a POS batch may hold (SalesBatch)
RESENDS = 20  # a refused HTTP batch is sent again up to this many times, then its client gives up


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(case: str, volume: int, seconds: float, unit: str, note: str = "", rate: bool = True) -> Row:
    return {
        "case": case,
        "volume": volume,
        "seconds": seconds,
        "rate": volume / seconds if rate and seconds else None,
        "unit": unit,
        "peak_mib": peak_mib(),
        "note": note,
    }


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class Timer:
    """Accumulates the time of the measured sections only (data generation and setup stay out), and
    profiles exactly those sections when asked."""

    def __init__(self, profile: cProfile.Profile | None) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        """This process's CPU time in the measured sections: on a busy machine it moves far less than
        the wall clock (SQLite works in the process; PostgreSQL's share is not in it)."""
        self.profile = profile

    @contextmanager
    def measure(self) -> Iterator[None]:
        if self.profile:
            self.profile.enable()
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu
            if self.profile:
                self.profile.disable()


# -- POS through the batch service, then the close ------------------------------------------------------


def fresh_statistics(engine: Engine) -> None:
    """PostgreSQL: ANALYZE once the first batch is in, untimed, as autovacuum does on a live database.

    On a brand-new database the tables are empty when the first statements are planned; the plans
    that psycopg prepares and the foreign-key checks cache per connection then stay on sequential
    scans while the tables grow, and every batch gets slower (0.7 s, 1.4 s ... 4.2 s for the eighth
    1,000 sales). ANALYZE invalidates those plans. A live database has its statistics already.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def pos_batch(url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None) -> list[Row]:
    """``volume`` sales into one session in batches of 1000 (one transaction each), then the close."""
    till = retail.open_till(url, "BENCH1", "Bench till")
    engine, factory, session_id = till.engine, till.factory, till.session_id
    promotions = int(options.get("promotions") or 0)
    pricer = with_promotions(till, promotions) if promotions else None
    sales = retail.Sales(till.shop.pos_products, seed=volume, pricer=pricer)
    share = float(options.get("refund_share") or 0)
    timer = Timer(profile)
    batch_seconds = []
    refunds = 0
    for batch in sales.batches(volume, BATCH, share):
        before = timer.seconds
        with timer.measure(), transaction(factory) as session:
            result = pos.ingest_batch(session, retail.ctx(), session_id, batch)
        assert result.accepted == len(batch), result
        batch_seconds.append(timer.seconds - before)
        if share:
            refunds += sum(1 for sale in batch if sale.lines[0].quantity < 0)
            with factory() as session:
                sales.taken(session, batch)
        if len(batch_seconds) == 1:
            fresh_statistics(engine)
        if len(batch_seconds) % 10 == 0:
            log(f"{len(batch_seconds) * BATCH:,} sales, {len(batch_seconds) * BATCH / timer.seconds:,.0f}/s")
    ingest = timer.seconds
    counted = {"CASH": Decimal("200.00") + sales.cash, "CARD": sales.card}
    close = Timer(profile)
    with close.measure(), transaction(factory) as session:
        closed = pos.close_session(session, retail.ctx(), session_id, counted)
    with factory() as session:
        sold = select(func.count()).select_from(OrderRow).where(OrderRow.channel == "pos")
        assert session.scalar(sold) == volume - refunds
        assert closed.cash_difference == 0, closed.cash_difference
        posted = session.scalar(
            select(func.count())
            .select_from(a.JournalEntry)
            .where(a.JournalEntry.event_id == closed.closing_event_id)
        )
        assert posted == 1, "the close must post one entry"
        lines = session.scalar(select(func.count()).select_from(a.JournalLine))
    engine.dispose()
    tenth = max(1, len(batch_seconds) // 10)
    first = statistics.mean(batch_seconds[:tenth])
    last = statistics.mean(batch_seconds[-tenth:])
    label = f", {share:.0%} refund lines" if share else ""
    if promotions:
        label += f", {promotions} active promotions"
    refunded = f"; {refunds:,} of the {volume:,} sales are refunds of whole earlier sales" if share else ""
    return [
        row(
            f"POS ingest, batch service{label}",
            volume,
            ingest + close.seconds,
            "sales/s",
            f"ingest {ingest:.1f} s ({timer.cpu_seconds / volume * 1000:.3f} CPU ms a sale) + close"
            f" {close.seconds:.2f} s; batch of 1000: first tenth "
            f"{first:.2f} s, last tenth {last:.2f} s; {lines:,} journal lines{refunded}",
        ),
        row(f"POS session close{label}", volume, close.seconds, "s", "close_session alone", rate=False),
    ]


def with_promotions(till: retail.Till, count: int) -> Callable[[list[Any]], list[list[Any]]]:
    """``count`` approved promotions (10 % off, or 0.20 off a unit, each on 5 products drawn at random
    from the till's catalogue; one in ten on a whole category instead), and a till that applies them:
    it prices each sale with the same engine (untimed, while the batches are drawn) and sends what it
    took, so the server's check agrees and records the discounts."""
    from retailcore.masterdata.tables import Product
    from retailcore.pos import commands as pos_commands
    from retailcore.promotions.book import book_for
    from retailcore.promotions.model import Basket, BasketLine
    from retailcore.promotions.tables import PromotionRow

    rng = random.Random(count)
    ids = [product_id for product_id, _ in till.shop.pos_products]
    with transaction(till.factory) as session:
        categories = dict(
            session.execute(
                select(Product.id, Product.category).where(Product.company_id == till.shop.company_id)
            ).all()
        )
        for n in range(count):
            rule: dict[str, Any] = {"percent": "10"} if n % 2 else {"amount": "0.20"}
            if n % 10 == 9:
                rule["categories"] = [categories[rng.choice(ids)]]
            else:
                rule["product_ids"] = sorted(str(p) for p in rng.sample(ids, 5))
            session.add(
                PromotionRow(
                    company_id=till.shop.company_id,
                    code=f"BENCH{n:03d}",
                    name=f"Bench promotion {n}",
                    kind="percent_off" if n % 2 else "amount_off",
                    rule=rule,
                    state="active",
                    created_by="bench",
                )
            )
    with till.factory() as session:
        book = book_for(session, till.shop.company_id)
    store_id = till.shop.stores["PAR01"]
    moment = dt.datetime(2026, 6, 1, 12, 0)

    def price(lines: list[Any]) -> list[list[Any]]:
        priced = book.price(
            Basket(
                lines=tuple(
                    BasketLine(str(n), product_id, categories[product_id], quantity, unit_price, discount)
                    for n, (product_id, quantity, unit_price, discount) in enumerate(lines)
                ),
                currency_decimals=2,
                channel="pos",
                local_time=moment,
                store_id=store_id,
            )
        )
        return [
            [
                pos_commands.AppliedDiscountIn(source=d.source, code=d.code, amount=d.amount)
                for d in line.discounts
                if d.source != "manual"
            ]
            for line in priced.lines
        ]

    return price


# -- POS through HTTP, concurrent terminals ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_peak_mib(pid: int) -> float:
    """VmHWM (peak RSS) of the server and of its worker processes, the largest."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                pids += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    peak = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


def pos_http(url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None) -> list[Row]:
    """``clients`` terminals (spread over the three shops), each with its own session and cashier
    token, post their share of ``volume`` sales as ``POST /pos/sessions/{id}/sales:batch`` of
    ``http_batch`` sales to a uvicorn server in another process; a refused or failed batch is resent
    (sales are idempotent by client_uuid) and counted."""
    import httpx

    clients = options.get("clients", 4)
    size = options.get("http_batch", 1000)
    workers = options.get("http_workers", 1)
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory)
    tills = []
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        for n in range(clients):
            store = retail.SHOPS[n % len(retail.SHOPS)]
            terminal = pos.create_terminal(
                session,
                retail.ctx(),
                company,
                pos.c.CreateTerminal(store_id=shop.stores[store], code=f"HTTP{n}", name=f"Till {n}"),
            )
            opened = pos.open_session(session, retail.ctx(), terminal.id, Decimal(0))
            token = create_token(session, role="cashier", company="DEMO", store=store).token
            tills.append((opened.id, token))
    engine.dispose()
    # Every request body is built before the clock starts: the clients share the 2 cores with the server.
    bodies: list[list[bytes]] = []
    for n in range(clients):
        sales = retail.Sales(shop.pos_products, seed=1000 + n)
        share = volume // clients + (1 if n < volume % clients else 0)
        bodies.append(
            [
                json.dumps({"sales": [s.model_dump(mode="json") for s in batch]}).encode()
                for batch in sales.batches(share, size)
            ]
        )
    port = _free_port()
    env = {**os.environ, "RETAILCORE_DATABASE_URL": url}
    command = [sys.executable, "-m", "uvicorn", "retailcore.entrypoints.api.asgi:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    server_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(command, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
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
        retries: list[str] = []
        gave_up: list[str] = []
        errors: list[BaseException] = []

        def drive(session_id: uuid.UUID, token: str, batches: list[bytes]) -> None:
            jitter = random.Random(str(session_id))
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            target = f"{base}/api/v1/pos/sessions/{session_id}/sales:batch"
            try:
                with httpx.Client(timeout=300) as client:
                    for body in batches:
                        for attempt in range(RESENDS):
                            response = client.post(target, content=body, headers=headers)
                            if response.status_code == 200:
                                break
                            retries.append(f"{response.status_code} {response.text[:160]}")
                            time.sleep(jitter.uniform(0.01, 0.1) * min(attempt + 1, 10))
                        else:
                            gave_up.append(f"a batch refused {RESENDS} times: {retries[-1][:80]}")
                            return
            except BaseException as exc:
                errors.append(exc)

        # Warm-up, untimed: each till sends its first batch, then PostgreSQL gets its statistics (see
        # fresh_statistics); the clock runs over the other batches.
        for n, (session_id, token) in enumerate(tills):
            drive(session_id, token, bodies[n][:1])
        warm_engine = make_engine(url)
        fresh_statistics(warm_engine)
        warm_engine.dispose()
        timed = sum(body.count(b'"client_uuid"') for batches in bodies for body in batches[1:])
        threads = [
            threading.Thread(target=drive, args=(session_id, token, bodies[n][1:]))
            for n, (session_id, token) in enumerate(tills)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        server_mib = _server_peak_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.seek(0)
        failures = [
            line.decode(errors="replace").strip()
            for line in server_log
            if line.startswith((b"sqlite3.", b"sqlalchemy.exc.", b"psycopg."))
        ]
        server_log.close()
    if errors:
        raise errors[0]
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        taken = session.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.channel == "pos"))
    engine.dispose()
    if not gave_up:
        assert taken == volume, f"{taken} sales stored, {volume} sent"
    kinds = sorted({r.split(" ")[0] for r in retries})
    note = f"{clients} clients, batches of {size}, {workers} server process(es); {timed:,} sales timed"
    note += " (each client's first batch is an untimed warm-up)"
    note += f"; server peak {server_mib:.0f} MiB"
    if retries:
        note += f"; {len(retries)} batches resent (HTTP {', '.join(kinds)})"
    if failures:
        note += f"; server errors: {failures[0][:120]}"
    if gave_up:
        note = f"INCOMPLETE: {taken:,} of {volume:,} sales stored, throughput of those; {gave_up[0]}; " + note
    result = row("POS ingest, HTTP", volume, seconds, "sales/s", note)
    result["rate"] = (taken - (volume - timed)) / seconds
    result["peak_mib"] = max(result["peak_mib"], server_mib)
    return [result]


# -- web order lifecycle -----------------------------------------------------------------------------


def web_orders(url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None) -> list[Row]:
    """Each order, one transaction per step as over the API: place (price, tax, source, reserve),
    capture the card payment (customer deposit), fulfil (ship: consume reservations, post COGS and
    recognise revenue)."""
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=(retail.WAREHOUSE,))
    rng = random.Random(volume)
    steps = {"place": Timer(profile), "capture": Timer(profile), "fulfil": Timer(profile)}
    company_id = shop.company_id

    def step(name: str, work: Callable[[Session, Company], Any]) -> Any:
        with steps[name].measure(), transaction(factory) as session:
            company = session.get(Company, company_id)
            assert company is not None
            return work(session, company)

    for n in range(volume):
        lines = [
            orders.LineIn(product_id=product_id, quantity=Decimal(rng.randint(1, 2)))
            for product_id, _ in rng.sample(shop.web_products, rng.randint(1, 3))
        ]
        body = orders.PlaceOrder(company_id=company_id, lines=lines)
        placed = step("place", lambda s, c, body=body: orders.place_order(s, retail.ctx(), c, body))
        capture = orders.CapturePayment(gateway="stripe", reference=f"psp-{n}", amount=placed.gross_total)
        step(
            "capture",
            lambda s, c, order=placed.id, capture=capture: orders.capture_payment(
                s, retail.ctx(), c, order, capture
            ),
        )
        done = step("fulfil", lambda s, c, order=placed.id: orders.fulfill(s, retail.ctx(), c, order))
        assert done.state == "fulfilled", done.state
        if n + 1 == 100:
            fresh_statistics(engine)
        if (n + 1) % 1000 == 0:
            total = sum(t.seconds for t in steps.values())
            log(f"{n + 1:,} orders, {(n + 1) / total:,.0f}/s")
    engine.dispose()
    total = sum(t.seconds for t in steps.values())
    split = ", ".join(f"{name} {t.seconds / volume * 1000:.1f} ms" for name, t in steps.items())
    return [row("Web order lifecycle", volume, total, "orders/s", f"per order: {split}")]


# -- trial balance and stock valuation over a large history ------------------------------------------


def ledger_reports(
    url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None
) -> list[Row]:
    """``volume`` posted journal lines and ``volume`` stock moves over 2026, written in bulk; then the
    trial balance (year, and November by store) and the stock valuation at year end with its
    agreement check, median of ``runs`` in a fresh session each."""
    import bulk

    engine = make_engine(url)
    retail.reset(engine)
    started = time.perf_counter()
    company_id = bulk.fill(engine, volume, volume)
    log(f"filled {volume:,} lines and {volume:,} moves in {time.perf_counter() - started:.0f} s")
    factory = make_session_factory(engine)
    runs = options.get("runs", 3)
    year = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    november = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    work: list[tuple[str, Callable[[Session], Any], str]] = [
        ("Trial balance, year", lambda s: reports.trial_balance(s, company_id, *year), "lines"),
        (
            "Trial balance, Nov by store",
            lambda s: reports.trial_balance(s, company_id, *november, group_by=["store_id"]),
            "lines",
        ),
        ("Stock valuation, year end", lambda s: valuation.stock_valuation(s, company_id, year[1]), "moves"),
        ("Stock/ledger agreement", lambda s: valuation.check_agreement(s, company_id, year[1]), "moves"),
    ]
    rows = []
    for label, report, unit in work:
        timings = []
        for _ in range(runs):
            with factory() as session:
                timer = Timer(profile)
                with timer.measure():
                    result = report(session)
                timings.append(timer.seconds)
        size = ""
        if isinstance(result, reports.TrialBalance):
            assert result.balanced
            size = f"{len(result.table()[1])} rows"
        elif isinstance(result, valuation.Valuation):
            size = f"{len(result.rows)} rows"
        rows.append(
            row(label, volume, statistics.median(timings), unit, f"median of {runs}; {size}".rstrip("; "))
        )
        rows[-1]["rate"] = None
    engine.dispose()
    return rows


# -- the outbox relay to NATS JetStream ----------------------------------------------------------------

EVENT_CHUNK = 50_000
RELAY_TYPES = (
    ("AvailabilityChanged", "Availability"),
    ("OrderConfirmed", "Order"),
    ("JournalEntryPosted", "JournalEntry"),
    ("GoodsIssued", "StockOperation"),
)


def fill_events(engine: Engine, company_id: uuid.UUID, volume: int) -> None:
    """``volume`` events of a few types with a payload like an availability change's (about 300 bytes),
    set-based through ``record_many`` (one COPY or executemany per chunk of 50,000)."""
    from retailcore.access.model import system_principal
    from retailcore.eventlog.services import CommandContext, record_many

    factory = make_session_factory(engine)
    location = str(uuid.uuid4())
    done = 0
    while done < volume:
        size = min(EVENT_CHUNK, volume - done)
        type_, aggregate = RELAY_TYPES[(done // EVENT_CHUNK) % len(RELAY_TYPES)]
        items = [
            (
                uuid.uuid4(),
                {
                    "product_id": str(uuid.uuid4()),
                    "location_id": location,
                    "on_hand": str(n % 97),
                    "reserved": "1",
                    "available": {"pos": str(n % 97), "web": str(max(0, n % 97 - 2)), "marketplace": "0"},
                    "reason": "benchmark",
                },
                None,
            )
            for n in range(done, done + size)
        ]
        with transaction(factory) as session:
            record_many(
                session,
                CommandContext(system_principal("bench")),
                type=type_,
                company_id=company_id,
                aggregate_type=aggregate,
                items=items,
            )
        done += size


def relay_backlog(
    url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None
) -> list[Row]:
    """``volume`` events filled set-based, then published by ``retailcore relay --once`` (a process of
    its own, as an operator runs it) to a JetStream stream of the run's own (``BENCH_<hex>``, deleted
    afterwards) on the NATS server at ``RETAILCORE_NATS_URL`` (default 127.0.0.1:4222). The time is the
    relay process's, start to exit (connection, stream creation and the final commit included); the
    peak RSS reported is the relay process's (``RUSAGE_CHILDREN``), not this one's, which filled the log."""
    import asyncio

    import bulk

    nats_url = os.environ.get("RETAILCORE_NATS_URL", "nats://127.0.0.1:4222")
    engine = make_engine(url)
    retail.reset(engine)
    company_id = bulk._company(engine)
    started = time.perf_counter()
    fill_events(engine, company_id, volume)
    fill_seconds = time.perf_counter() - started
    log(f"filled {volume:,} events in {fill_seconds:.0f} s")
    fresh_statistics(engine)
    engine.dispose()
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"BENCH_{tag.upper()}", f"bench{tag}"
    env = {
        **os.environ,
        "RETAILCORE_DATABASE_URL": url,
        "RETAILCORE_NATS_URL": nats_url,
        "RETAILCORE_NATS_STREAM": stream,
        "RETAILCORE_NATS_SUBJECT_PREFIX": prefix,
        "RETAILCORE_RELAY_BATCH_SIZE": str(options.get("relay_batch") or 2000),
    }
    command = [os.path.join(os.path.dirname(sys.executable), "retailcore"), "relay", "--once"]
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        relay_peak = after.ru_maxrss / 1024
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        stored = asyncio.run(_stream_count(nats_url, stream))
    finally:
        asyncio.run(_stream_count(nats_url, stream, delete=True))
    logged = _logged_events(url)
    assert stored == logged, f"{stored} messages in the stream, {logged} events in the log"
    result = row(
        "Relay to JetStream, backlog",
        volume,
        seconds,
        "events/s",
        f"retailcore relay --once, batches of {env['RETAILCORE_RELAY_BATCH_SIZE']}; relay CPU {cpu:.1f} s"
        f" ({volume / cpu:,.0f} events per CPU second); {stored:,} messages"
        f" in the stream (the company's {logged - volume} set-up events too);"
        f" the log filled in {fill_seconds:.0f} s ({volume / fill_seconds:,.0f} events/s)",
    )
    result["peak_mib"] = relay_peak
    return [result]


def _logged_events(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(text("SELECT count(*) FROM events"))
    engine.dispose()
    return int(count or 0)


async def _stream_count(nats_url: str, stream: str, delete: bool = False) -> int:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            count = (await js.stream_info(stream)).state.messages
        except NotFoundError:
            return 0
        if delete:
            await js.delete_stream(stream)
        return count
    finally:
        await nc.close()


CASES: dict[str, Callable[[str, int, dict[str, Any], cProfile.Profile | None], list[Row]]] = {
    "pos": pos_batch,
    "http": pos_http,
    "orders": web_orders,
    "reports": ledger_reports,
    "relay": relay_backlog,
}
