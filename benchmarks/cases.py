"""The benchmark cases. Each runs in its own process on a fresh database and returns result rows.

A row: ``{"case", "volume", "seconds", "rate", "unit", "peak_mib", "note"}``. ``peak_mib`` is the peak
resident memory of the process that did the work (``ru_maxrss``), setup included.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import http.client
import json
import math
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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import retail
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.services import create_token
from retailcore.accounting import reports
from retailcore.accounting import tables as a
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.inventory import valuation
from retailcore.masterdata.tables import Company
from retailcore.orders import services as orders
from retailcore.orders.tables import OrderRow
from retailcore.pos import services as pos
from retailcore.pos.group_commit import GroupCommit

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


# -- measuring helpers: percentiles, SQL statements, a process's CPU, the storage limit ----------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.99 for p99): a value that was measured, never an
    interpolation between two, so a p99 over 100 requests is the slowest but one."""
    if not values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError(f"share {share} outside (0, 1]")
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1]


def spread(seconds: Sequence[float]) -> str:
    """``p50 1.2 ms, p99 3.4 ms`` of durations in seconds."""
    return f"p50 {percentile(seconds, 0.5) * 1000:.1f} ms, p99 {percentile(seconds, 0.99) * 1000:.1f} ms"


class Statements:
    """Counts the SQL statements an engine sends (an executemany counts once): unlike a duration, the
    count does not move with the machine's load, so it is the evidence a change is judged by first."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.shapes: Counter[str] = Counter()
        """Statements by their first 90 characters: which tables a path reads and writes how often."""
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        self.shapes[" ".join(statement.split())[:90]] += 1

    def log_top(self, items: int, top: int = 12) -> None:
        """The most frequent statements per item, on stderr (where a path's statements go)."""
        for shape, count in self.shapes.most_common(top):
            log(f"{count / items:6.2f} x {shape}")


def _family(pid: int) -> list[int]:
    """``pid`` and its child processes (uvicorn's workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                pids += [int(p) for p in handle.read().split()]
    except OSError:
        pass
    return pids


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children, from ``/proc/<pid>/stat``:
    the server's own cost, whatever else the machine runs."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _family(pid):
        try:
            with open(f"/proc/{p}/stat") as handle:
                # The command name (field 2) may hold spaces: count the fields after its ")".
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / ticks


def _server_peak_mib(pid: int) -> float:
    """VmHWM (peak RSS) of the server and of its worker processes, the largest."""
    peak = 0.0
    for p in _family(pid):
        try:
            with open(f"/proc/{p}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak


class Snapshot:
    """The primary keys of every table at one moment, to pick out afterwards the rows a measured
    phase wrote (whatever tables the code under test writes today)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        inspector = inspect(engine)
        self.keys = {
            name: inspector.get_pk_constraint(name)["constrained_columns"]
            for name in inspector.get_table_names()
            if name != "alembic_version"
        }
        with engine.connect() as connection:
            self.before = {
                name: {tuple(r) for r in connection.execute(text(_select(name, columns)))}
                for name, columns in self.keys.items()
                if columns
            }

    def written(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        """Per table that grew: its column names and the new rows, as the driver returned them."""
        found = {}
        with self.engine.connect() as connection:
            for name, columns in self.keys.items():
                if not columns:
                    continue
                result = connection.execute(text(f'SELECT * FROM "{name}"'))
                names = list(result.keys())
                at = [names.index(c) for c in columns]
                rows = [tuple(r) for r in result if tuple(r[i] for i in at) not in self.before[name]]
                if rows:
                    found[name] = (names, rows)
        return found


def _select(table: str, columns: list[str]) -> str:
    return f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)} FROM "{table}"'


def storage_limit(engine: Engine, written: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> dict:
    """Insert the very rows a phase wrote again, into copies of their tables without indexes,
    constraints or triggers, by ``executemany`` per table (and on PostgreSQL by ``COPY``), in one
    transaction: what storage alone costs for that work, the bound no code above it can beat.
    Returns ``{"rows": n, "executemany": seconds, "copy": seconds or None}``."""
    timings: dict[str, Any] = {"rows": sum(len(rows) for _, rows in written.values()), "copy": None}
    if engine.dialect.name == "postgresql":
        written = _as_json_again(engine, written)
    methods = ["executemany"] + (["copy"] if engine.dialect.name == "postgresql" else [])
    for method in methods:
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            cursor = dbapi.cursor()
            for name in written:
                cursor.execute(f'DROP TABLE IF EXISTS "bench_{name}"')
                if engine.dialect.name == "postgresql":
                    cursor.execute(f'CREATE TABLE "bench_{name}" (LIKE "{name}" INCLUDING DEFAULTS)')
                else:
                    cursor.execute(f'CREATE TABLE "bench_{name}" AS SELECT * FROM "{name}" WHERE 0')
            dbapi.commit()
            mark = "%s" if engine.dialect.name == "postgresql" else "?"
            started = time.perf_counter()
            if engine.dialect.name == "sqlite":
                cursor.execute("BEGIN")  # the engine's connections are in autocommit (make_engine)
            for name, (columns, rows) in written.items():
                quoted = ", ".join(f'"{c}"' for c in columns)
                if method == "copy":
                    with cursor.copy(f'COPY "bench_{name}" ({quoted}) FROM STDIN') as copy:
                        for values in rows:
                            copy.write_row(values)
                else:
                    cursor.executemany(
                        f'INSERT INTO "bench_{name}" ({quoted}) VALUES ({", ".join([mark] * len(columns))})',
                        rows,
                    )
            dbapi.commit()
            timings[method] = time.perf_counter() - started
            for name in written:
                cursor.execute(f'DROP TABLE "bench_{name}"')
            dbapi.commit()
        finally:
            raw.close()
    return timings


def _as_json_again(
    engine: Engine, written: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """psycopg decodes json and jsonb columns; wrap those values so they go in again as JSON."""
    from psycopg.types.json import Json, Jsonb

    with engine.connect() as connection:
        kinds = {
            (table, column): kind
            for table, column, kind in connection.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND data_type IN ('json', 'jsonb')"
                )
            )
        }
    again = {}
    for name, (columns, rows) in written.items():
        wrap = {
            i: Jsonb if kinds[name, c] == "jsonb" else Json
            for i, c in enumerate(columns)
            if (name, c) in kinds
        }
        if wrap:
            rows = [
                tuple(wrap[i](v) if i in wrap and v is not None else v for i, v in enumerate(values))
                for values in rows
            ]
        again[name] = (columns, rows)
    return again


def storage_row(label: str, items: int, unit: str, engine: Engine, snapshot: Snapshot) -> Row:
    """The storage-limit reference row for the ``items`` a phase did (see :func:`storage_limit`)."""
    written = snapshot.written()
    limit = storage_limit(engine, written)
    tables = ", ".join(f"{name} {len(rows) / items:.2f}" for name, (_, rows) in sorted(written.items()))
    best = limit["copy"] or limit["executemany"]
    result = row(f"{label}, storage limit", items, best, unit)
    many = limit["executemany"]
    result["note"] = (
        f"the {limit['rows']:,} rows the {items:,} {unit.split('/')[0]} inserted ({tables} per item; updates"
        " not counted),"
        f" inserted again into copies without indexes: executemany {limit['rows'] / many:,.0f}"
        f" rows/s = {items / many:,.0f} {unit} if only storage"
    )
    if limit["copy"]:
        result["note"] += (
            f", COPY {limit['rows'] / limit['copy']:,.0f} rows/s = {items / limit['copy']:,.0f} {unit}"
        )
    return result


# -- HTTP: a uvicorn server in another process, cheap keep-alive clients -----------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    port: int
    pid: int
    failures: list[str] = field(default_factory=list)
    """Database errors the server logged, read when it stops."""
    explained = ("sqlite3.", "sqlalchemy.exc.", "psycopg.", "DETAIL:", "CONTEXT:", "HINT:", "[SQL:")

    def cpu(self) -> float:
        return process_cpu(self.pid)

    def peak_mib(self) -> float:
        return _server_peak_mib(self.pid)


@contextmanager
def serving(url: str, workers: int = 1, settings: dict[str, str] | None = None) -> Iterator[Server]:
    """uvicorn serving the API on ``url`` in another process, up and answering when this yields. The
    rate limit stays on but too high to refuse (each client is one till or one shop, whose pace the
    benchmark sets; its cost per request is still paid)."""
    port = _free_port()
    env = {**os.environ, "RETAILCORE_DATABASE_URL": url, "RETAILCORE_RATE_LIMIT_PER_SECOND": "1000000"}
    env["RETAILCORE_RATE_LIMIT_BURST"] = "1000000"
    env.update(settings or {})
    command = [sys.executable, "-m", "uvicorn", "retailcore.entrypoints.api.asgi:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    server_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(command, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    server = Server(port, process.pid)
    try:
        # Generous: on a machine at a load of 15 and more, importing the app alone took 2 minutes.
        deadline = time.monotonic() + 300
        while True:
            try:
                status, _ = Client(port, "").request("GET", "/api/v1/health")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        server_log.seek(0)
        lines = [line.decode(errors="replace").strip() for line in server_log]
        server_log.close()
        server.failures += [
            line for line in lines if line.startswith(("sqlite3.", "sqlalchemy.exc.", "psycopg."))
        ]
        # The database's explanation (which lock, which statement) follows the error in the log.
        for line in [line for line in lines if line.startswith(server.explained)][:8]:
            log(f"server: {line[:400]}")


class Client:
    """One keep-alive connection through ``http.client``: a few times less CPU per request than
    httpx, which matters when the clients share the two cores with the server they measure."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body, self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: open another, once.
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def run_clients(work: Callable[[int], None], clients: int) -> float:
    """``work(n)`` in ``clients`` threads at once; the wall seconds until the last ends. The first
    exception a client raised is raised here."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


@dataclass
class Load:
    """What one timed phase of requests cost: wall seconds, the server's CPU and this process's (the
    clients'), one latency per item."""

    seconds: float
    server_cpu: float
    client_cpu: float
    latencies: list[float]


def timed_load(server: Server, work: Callable[[int], None], clients: int, latencies: list[float]) -> Load:
    server_before, client_before = server.cpu(), time.process_time()
    seconds = run_clients(work, clients)
    return Load(seconds, server.cpu() - server_before, time.process_time() - client_before, latencies)


def http_tills(url: str, clients: int) -> tuple[retail.Retail, list[tuple[uuid.UUID, str]]]:
    """A fresh shop, and per client a till (spread over the three shops) with its open session and a
    cashier token of its store."""
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
    return shop, tills


def refresh_statistics(url: str) -> None:
    engine = make_engine(url)
    fresh_statistics(engine)
    engine.dispose()


def _sales_stored(url: str) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        taken = session.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.channel == "pos"))
    engine.dispose()
    return int(taken or 0)


# -- POS through HTTP, concurrent terminals ------------------------------------------------------------


def pos_http(url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None) -> list[Row]:
    """``clients`` terminals (spread over the three shops), each with its own session and cashier
    token, post their share of ``volume`` sales as ``POST /pos/sessions/{id}/sales:batch`` of
    ``http_batch`` sales to a uvicorn server in another process; a refused or failed batch is resent
    (sales are idempotent by client_uuid) and counted."""
    clients = options.get("clients", 4)
    size = options.get("http_batch", 1000)
    workers = options.get("http_workers", 1)
    shop, tills = http_tills(url, clients)
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
    retries: list[str] = []
    gave_up: list[str] = []
    with serving(url, workers) as server:

        def drive(n: int, first: bool) -> None:
            session_id, token = tills[n]
            jitter = random.Random(str(session_id))
            target = f"/api/v1/pos/sessions/{session_id}/sales:batch"
            client = Client(server.port, token)
            try:
                for body in bodies[n][:1] if first else bodies[n][1:]:
                    for attempt in range(RESENDS):
                        status, answer = client.request("POST", target, body)
                        if status == 200:
                            break
                        retries.append(f"{status} {answer[:160].decode(errors='replace')}")
                        time.sleep(jitter.uniform(0.01, 0.1) * min(attempt + 1, 10))
                    else:
                        gave_up.append(f"a batch refused {RESENDS} times: {retries[-1][:80]}")
                        return
            finally:
                client.close()

        # Warm-up, untimed: each till sends its first batch, then PostgreSQL gets its statistics (see
        # fresh_statistics); the clock runs over the other batches.
        for n in range(clients):
            drive(n, first=True)
        refresh_statistics(url)
        timed = sum(body.count(b'"client_uuid"') for batches in bodies for body in batches[1:])
        load = timed_load(server, lambda n: drive(n, first=False), clients, [])
        server_mib = server.peak_mib()
    taken = _sales_stored(url)
    if not gave_up:
        assert taken == volume, f"{taken} sales stored, {volume} sent"
    kinds = sorted({r.split(" ")[0] for r in retries})
    note = f"{clients} clients, batches of {size}, {workers} server process(es); {timed:,} sales timed"
    note += " (each client's first batch is an untimed warm-up)"
    note += f"; server CPU {load.server_cpu / max(timed, 1) * 1000:.2f} ms a sale"
    note += f"; server peak {server_mib:.0f} MiB"
    if retries:
        note += f"; {len(retries)} batches resent (HTTP {', '.join(kinds)})"
    if server.failures:
        note += f"; server errors: {server.failures[0][:120]}"
    if gave_up:
        note = f"INCOMPLETE: {taken:,} of {volume:,} sales stored, throughput of those; {gave_up[0]}; " + note
    result = row("POS ingest, HTTP", volume, load.seconds, "sales/s", note)
    result["rate"] = (taken - (volume - timed)) / load.seconds
    result["peak_mib"] = max(result["peak_mib"], server_mib)
    return [result]


# -- one POS sale per request (issue 21) ---------------------------------------------------------------

WARM_UP = 20
"""Requests (or transactions) each client makes before the clock starts: connections, caches, plans."""


def load_note(load: Load, items: int, unit: str, clients: int, article: str = "a") -> str:
    return (
        f"{clients} clients; server CPU {load.server_cpu / items * 1000:.2f} ms {article} {unit}, clients'"
        f" CPU {load.client_cpu / items * 1000:.2f} ms {article} {unit}; latency {spread(load.latencies)}"
    )


GROUP_WINDOW_MS = "2"
"""The group commit window the ``single`` case runs its "on" phases with (the setting's default)."""


def single_sale(
    url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None
) -> list[Row]:
    """One POS sale per request (``sales:batch`` holding one sale), as a connected till sends them:
    ``clients`` tills post ``volume`` sales as fast as answered (the maximum throughput, and its
    latency at full load), then ``volume // 2`` more paced at half that throughput (latency measured
    from each request's scheduled time, so a server falling behind shows). The HTTP phases run four
    times in the same run, each against a fresh server (decision 0078): group commit off and on, with
    each till on its own session, then with the ``clients`` all posting to one session (the only
    shape in which requests of one session arrive together). Then, in this process, the same path
    without HTTP: ``volume`` sales through ``ingest_batch``, one sale per transaction, its CPU, latency
    and SQL statements per sale; the same number through the group writer from ``clients`` threads on
    one session; the same sales batched by 1,000 (the batch reference); and the rows the one-by-one
    sales wrote, inserted again as plain rows (the storage limit)."""
    clients = options.get("clients", 4)
    workers = options.get("http_workers", 1)
    shop, tills = http_tills(url, clients)
    paced_volume = max(volume // 2, clients)
    phases = (("off", False), ("on", False), ("off", True), ("on", True))
    bodies: list[list[bytes]] = []
    for n in range(clients):
        sales = retail.Sales(shop.pos_products, seed=2000 + n)
        share = len(phases) * (WARM_UP + (volume + paced_volume) // clients)
        bodies.append(
            [json.dumps({"sales": [s.model_dump(mode="json")]}).encode() for [s] in sales.batches(share, 1)]
        )
    rows: list[Row] = []
    for k, (group, shared) in enumerate(phases):
        mine = [own[k * len(own) // len(phases) : (k + 1) * len(own) // len(phases)] for own in bodies]
        rows += _single_http(url, tills, mine, volume, paced_volume, workers, group, shared)
    tops = {(r["group"], r["shared"]): r for r in rows if "group" in r}
    for shared in (False, True):
        off, on = tops[("off", shared)], tops[("on", shared)]
        on["note"] += (
            f"; group commit on/off, same run: throughput {on['rate'] / off['rate']:.2f}x, server CPU a"
            f" sale {on['cpu_ms'] / off['cpu_ms']:.2f}x"
        )
    return rows + single_in_process(url, shop, volume, profile, tops, clients)


def _single_http(
    url: str,
    tills: list[tuple[uuid.UUID, str]],
    bodies: list[list[bytes]],
    volume: int,
    paced_volume: int,
    workers: int,
    group: str,
    shared: bool,
) -> list[Row]:
    """One HTTP phase of :func:`single_sale`: group commit ``group`` ("on"/"off"), the clients on
    their own sessions or (``shared``) all on the first till's session, with its token."""
    clients = len(tills)
    per_client = volume // clients
    paced_per_client = paced_volume // clients
    window = GROUP_WINDOW_MS if group == "on" else "0"
    label = f"group commit {group}, {'1 session' if shared else f'{clients} sessions'}"
    with serving(url, workers, {"RETAILCORE_POS_GROUP_COMMIT_WINDOW_MS": window}) as server:
        used = [tills[0] if shared else till for till in tills]
        connections = [Client(server.port, token) for _, token in used]
        targets = [f"/api/v1/pos/sessions/{session_id}/sales:batch" for session_id, _ in used]

        def send(n: int, body: bytes) -> None:
            status, answer = connections[n].request("POST", targets[n], body)
            if status != 200 or b'"accepted":1' not in answer.replace(b" ", b""):
                raise RuntimeError(f"HTTP {status}: {answer[:200].decode(errors='replace')}")

        for n in range(clients):
            for body in bodies[n][:WARM_UP]:
                send(n, body)
        refresh_statistics(url)
        full: list[float] = []

        def flat_out(n: int) -> None:
            for body in bodies[n][WARM_UP : WARM_UP + per_client]:
                started = time.perf_counter()
                send(n, body)
                full.append(time.perf_counter() - started)

        maximum = timed_load(server, flat_out, clients, full)
        rate = per_client * clients / maximum.seconds
        interval = clients / (rate / 2)  # each client's gap between two sales at half the throughput
        paced: list[float] = []
        origin = time.perf_counter() + 0.05

        def steady(n: int) -> None:
            start = origin + interval * n / clients  # the clients' sends interleave
            for k, body in enumerate(
                bodies[n][WARM_UP + per_client : WARM_UP + per_client + paced_per_client]
            ):
                scheduled = start + k * interval
                pause = scheduled - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                send(n, body)
                paced.append(time.perf_counter() - scheduled)

        half = timed_load(server, steady, clients, paced)
        server_mib = server.peak_mib()
        for connection in connections:
            connection.close()
    failures = f"; server errors: {server.failures[0][:120]}" if server.failures else ""
    sent = per_client * clients
    top = row(
        f"POS single sale, HTTP, {label}",
        sent,
        maximum.seconds,
        "sales/s",
        load_note(maximum, sent, "sale", clients),
    )
    top["note"] += f"; {WARM_UP} untimed sales per client first; server peak {server_mib:.0f} MiB" + failures
    top["peak_mib"] = max(top["peak_mib"], server_mib)
    top["p99_ms"] = percentile(full, 0.99) * 1000
    top["cpu_ms"] = maximum.server_cpu / sent * 1000
    top["group"], top["shared"] = group, shared
    steady_sent = paced_per_client * clients
    calm = row(
        f"POS single sale, HTTP, half max, {label}",
        steady_sent,
        half.seconds,
        "sales/s",
        load_note(half, steady_sent, "sale", clients) + f" (paced at {rate / 2:,.0f} sales/s, from the"
        " scheduled time of each request)",
    )
    calm["p99_ms"] = percentile(paced, 0.99) * 1000
    return [top, calm]


def ingest_one(factory: sessionmaker[Session], session_id: uuid.UUID, sale: pos.c.SaleIn) -> None:
    """One sale in its own transaction through the batch service, as a connected till's request."""
    with transaction(factory) as session:
        result = pos.ingest_batch(session, retail.ctx(), session_id, [sale])
    assert result.accepted == 1, result


def single_in_process(
    url: str,
    shop: retail.Retail,
    volume: int,
    profile: cProfile.Profile | None,
    http_rows: dict[tuple[str, bool], Row],
    clients: int,
) -> list[Row]:
    """The in-process rows of :func:`single_sale`, on the database the server left."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        request = pos.c.CreateTerminal(store_id=shop.stores["PAR01"], code="ONE", name="One by one")
        terminal = pos.create_terminal(session, retail.ctx(), company, request)
        session_id = pos.open_session(session, retail.ctx(), terminal.id, Decimal("200.00")).id
    sales = retail.Sales(shop.pos_products, seed=volume)
    for [sale] in sales.batches(WARM_UP, 1):
        ingest_one(factory, session_id, sale)
    snapshot = Snapshot(engine)
    statements = Statements(engine)
    timer = Timer(profile)
    latencies = []
    for [sale] in sales.batches(volume, 1):
        before = timer.seconds
        with timer.measure():
            ingest_one(factory, session_id, sale)
        latencies.append(timer.seconds - before)
    counted = statements.count
    statements.log_top(volume)
    storage = storage_row("POS single sale", volume, "sales/s", engine, snapshot)
    inline = row(
        "POS single sale, in-process",
        volume,
        timer.seconds,
        "sales/s",
        f"ingest_batch, one sale per transaction; CPU {timer.cpu_seconds / volume * 1000:.2f} ms a sale;"
        f" {counted / volume:.1f} SQL statements a sale; latency {spread(latencies)}",
    )
    inline["cpu_ms"] = timer.cpu_seconds / volume * 1000
    inline["statements"] = counted / volume
    grouped = grouped_in_process(factory, shop, volume, clients)
    batched = Timer(None)
    for batch in sales.batches(2 * BATCH, BATCH):
        with batched.measure(), transaction(factory) as session:
            pos.ingest_batch(session, retail.ctx(), session_id, batch)
    engine.dispose()
    reference = row(
        "POS batch reference",
        2 * BATCH,
        batched.seconds,
        "sales/s",
        f"the same path, batches of {BATCH} in one transaction each, same run; CPU"
        f" {batched.cpu_seconds / (2 * BATCH) * 1000:.2f} ms a sale",
    )
    ratios = ", ".join(
        f"HTTP group {group} {'1 session' if shared else 'own sessions'}"
        f" {http['rate'] / reference['rate']:.3f}"
        for (group, shared), http in http_rows.items()
    )
    reference["note"] += (
        f"; single/batched: {ratios}, in-process {inline['rate'] / reference['rate']:.3f}, in-process"
        f" group writer {grouped['rate'] / reference['rate']:.3f} (target >= 0.1)"
    )
    return [inline, grouped, reference, storage]


def grouped_in_process(factory: sessionmaker[Session], shop: retail.Retail, volume: int, clients: int) -> Row:
    """``volume`` one-sale requests from ``clients`` threads at once through the group writer
    (:class:`~retailcore.pos.group_commit.GroupCommit`), all on one session, each thread waiting for
    its answer before it sends the next: throughput, and CPU per sale from the process's CPU time."""
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        request = pos.c.CreateTerminal(store_id=shop.stores["PAR01"], code="GROUP", name="Grouped")
        terminal = pos.create_terminal(session, retail.ctx(), company, request)
        session_id = pos.open_session(session, retail.ctx(), terminal.id, Decimal("200.00")).id
    writer = GroupCommit(factory, int(GROUP_WINDOW_MS) / 1000)
    principal = retail.ctx().principal
    sales = retail.Sales(shop.pos_products, seed=volume + 1)
    warm = [sale for [sale] in sales.batches(WARM_UP, 1)]
    timed = [sale for [sale] in sales.batches(volume, 1)]
    latencies: list[float] = []

    def submit(mine: list[pos.c.SaleIn]) -> None:
        for sale in mine:
            started = time.perf_counter()
            result = writer.submit(principal, session_id, [sale])
            latencies.append(time.perf_counter() - started)
            assert result.accepted == 1, result

    run_clients(lambda n: submit(warm[n::clients]), clients)
    latencies.clear()
    batches, cpu = writer.batches, time.process_time()
    seconds = run_clients(lambda n: submit(timed[n::clients]), clients)
    cpu, batches = time.process_time() - cpu, writer.batches - batches
    grouped = row(
        "POS single sale, in-process, group writer",
        volume,
        seconds,
        "sales/s",
        f"{clients} threads, one session, window {GROUP_WINDOW_MS} ms; CPU {cpu / volume * 1000:.2f} ms a"
        f" sale (process time, all threads); {volume / max(batches, 1):.1f} sales a batch;"
        f" latency {spread(latencies)}",
    )
    grouped["cpu_ms"] = cpu / volume * 1000
    return grouped


# -- web order lifecycle -----------------------------------------------------------------------------


def order_lifecycles(
    factory: sessionmaker[Session], shop: retail.Retail, count: int, seed: int, steps: dict[str, Timer]
) -> Iterator[float]:
    """``count`` web orders placed, paid and shipped, one transaction per step (``steps`` times each:
    ``place``, ``capture``, ``fulfil``); yields each lifecycle's measured seconds."""
    rng = random.Random(seed)
    company_id = shop.company_id

    def step(name: str, work: Callable[[Session, Company], Any]) -> Any:
        with steps[name].measure(), transaction(factory) as session:
            company = session.get(Company, company_id)
            assert company is not None
            return work(session, company)

    for n in range(count):
        lines = [
            orders.LineIn(product_id=product_id, quantity=Decimal(rng.randint(1, 2)))
            for product_id, _ in rng.sample(shop.web_products, rng.randint(1, 3))
        ]
        body = orders.PlaceOrder(company_id=company_id, lines=lines)
        before = sum(t.seconds for t in steps.values())
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
        yield sum(t.seconds for t in steps.values()) - before


def web_orders(url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None) -> list[Row]:
    """Each order, one transaction per step as over the API: place (price, tax, source, reserve),
    capture the card payment (customer deposit), fulfil (ship: consume reservations, post COGS and
    recognise revenue). Then the rows those orders wrote, inserted again as plain rows (the storage
    limit)."""
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=(retail.WAREHOUSE,))
    steps = {"place": Timer(profile), "capture": Timer(profile), "fulfil": Timer(profile)}
    snapshot = Snapshot(engine)
    statements = Statements(engine)
    latencies = []
    for n, seconds in enumerate(order_lifecycles(factory, shop, volume, volume, steps)):
        latencies.append(seconds)
        if n + 1 == 100:
            fresh_statistics(engine)
        if (n + 1) % 1000 == 0:
            total = sum(t.seconds for t in steps.values())
            log(f"{n + 1:,} orders, {(n + 1) / total:,.0f}/s")
    counted = statements.count
    statements.log_top(volume)
    storage = storage_row("Web order lifecycle", volume, "orders/s", engine, snapshot)
    engine.dispose()
    total = sum(t.seconds for t in steps.values())
    cpu = sum(t.cpu_seconds for t in steps.values())
    split = ", ".join(
        f"{name} {t.seconds / volume * 1000:.1f} ms ({t.cpu_seconds / volume * 1000:.1f} CPU)"
        for name, t in steps.items()
    )
    result = row(
        "Web order lifecycle",
        volume,
        total,
        "orders/s",
        f"CPU {cpu / volume * 1000:.2f} ms an order; {counted / volume:.1f} SQL statements an order;"
        f" lifecycle {spread(latencies)}; per order: {split}",
    )
    result["cpu_ms"] = cpu / volume * 1000
    result["statements"] = counted / volume
    return [result, storage]


def web_orders_http(
    url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None
) -> list[Row]:
    """The web order lifecycle over the REST API: ``clients`` shops' integrations (an ``integration``
    token each) place an order (``POST /orders``), capture its card payment (``POST
    /orders/{id}/payments``) and ship it (``POST /orders/{id}/fulfillments``), one order after the
    other, against uvicorn in another process; orders/s, the server's CPU per order, the latency of a
    whole lifecycle."""
    clients = options.get("clients", 4)
    workers = options.get("http_workers", 1)
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=(retail.WAREHOUSE,))
    with transaction(factory) as session:
        tokens = [create_token(session, role="integration", company="DEMO").token for _ in range(clients)]
    engine.dispose()
    rng = random.Random(volume)
    per_client = volume // clients
    bodies = [
        [
            json.dumps(
                {
                    "channel": "web",
                    "lines": [
                        {"product_id": str(product_id), "quantity": str(rng.randint(1, 2))}
                        for product_id, _ in rng.sample(shop.web_products, rng.randint(1, 3))
                    ],
                }
            ).encode()
            for _ in range(WARM_UP + per_client)
        ]
        for _ in range(clients)
    ]
    with serving(url, workers) as server:
        connections = [Client(server.port, token) for token in tokens]
        latencies: list[float] = []

        retried: list[str] = []

        def step(n: int, name: str, path: str, body: bytes | None, expected: int) -> Any:
            """One request; a 500 or 503 (its transaction rolled back) is sent again, and counted."""
            for _ in range(RESENDS):
                status, answer = connections[n].request("POST", path, body)
                if status == expected:
                    return json.loads(answer)
                if status not in (500, 503):
                    break
                retried.append(f"{name} {status}")
            raise RuntimeError(f"{name}: HTTP {status}: {answer[:200].decode(errors='replace')}")

        def lifecycle(n: int, body: bytes, k: int) -> None:
            placed = step(n, "place", "/api/v1/orders", body, 201)
            payment = {"kind": "card", "gateway": "stripe", "reference": f"psp-{n}-{k}"}
            payment["amount"] = placed["gross_total"]
            path = f"/api/v1/orders/{placed['id']}"
            step(n, "capture", f"{path}/payments", json.dumps(payment).encode(), 200)
            done = step(n, "fulfil", f"{path}/fulfillments", None, 200)
            assert done["state"] == "fulfilled", done["state"]

        for n in range(clients):
            for k, body in enumerate(bodies[n][:WARM_UP]):
                lifecycle(n, body, k)
        refresh_statistics(url)
        engine = make_engine(url)
        snapshot = Snapshot(engine)

        def flat_out(n: int) -> None:
            for k, body in enumerate(bodies[n][WARM_UP:], WARM_UP):
                started = time.perf_counter()
                lifecycle(n, body, k)
                latencies.append(time.perf_counter() - started)

        load = timed_load(server, flat_out, clients, latencies)
        server_mib = server.peak_mib()
        for connection in connections:
            connection.close()
    done = per_client * clients
    result = row(
        "Web order lifecycle, HTTP",
        done,
        load.seconds,
        "orders/s",
        load_note(load, done, "order", clients, "an"),
    )
    result["note"] += f"; {WARM_UP} untimed orders per client first; server peak {server_mib:.0f} MiB"
    if retried:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(retried).items()))
        result["note"] += f"; steps sent again after a rollback: {kinds}"
    if server.failures:
        result["note"] += f"; server errors: {server.failures[0][:120]}"
    result["peak_mib"] = max(result["peak_mib"], server_mib)
    result["cpu_ms"] = load.server_cpu / done * 1000
    storage = storage_row("Web order lifecycle, HTTP", done, "orders/s", engine, snapshot)
    engine.dispose()
    return [result, storage]


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


def single_async(
    url: str, volume: int, options: dict[str, Any], profile: cProfile.Profile | None
) -> list[Row]:
    """``single-async``: :mod:`single_async` (it imports this module's helpers)."""
    from single_async import accepted_sales

    return accepted_sales(url, volume, options, profile)


CASES: dict[str, Callable[[str, int, dict[str, Any], cProfile.Profile | None], list[Row]]] = {
    "pos": pos_batch,
    "http": pos_http,
    "orders": web_orders,
    "orders-http": web_orders_http,
    "single": single_sale,
    "single-async": single_async,
    "reports": ledger_reports,
    "relay": relay_backlog,
}
