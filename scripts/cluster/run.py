#!/usr/bin/env python3
"""``make test-cluster``: a bounded POS load through haproxy while a NATS node and an API node die.

What it builds (docs/scaling.md, "Several API nodes" and "NATS cluster"; decision 0087), all on
loopback, under one directory (``--dir``, a temporary one by default):

- a fresh PostgreSQL database on the running server (``--database-url``), migrated, with the demo
  company (``--products`` of its products) and a till per client thread;
- a NATS JetStream cluster of 3 nodes (``scripts/cluster/nats.sh``), the relay's stream on 3 replicas;
- 2 ``retailcore serve`` nodes behind haproxy (``scripts/cluster/api.sh``), sharing the database, the
  session key and the rate limit (``RETAILCORE_RATE_LIMIT_STORE=database``);
- one ``retailcore relay`` publishing the event log to the cluster.

The load: ``--threads`` clients, each a till with its own session, sending ``--batches`` batches of
``--sales`` sales, each sale with its own client UUID. A batch that gets no 200 (a node killed under
it, a 502 from haproxy, a timeout) is sent again as it was, until acknowledged: the API's idempotency
per sale takes it at most once. Mid-run (``kill -9`` each time): the NATS node leading the stream
(started again a little later), one API node, then the NATS node the relay is connected to; with
``--postgres-script`` the database's primary too (the hook in :class:`Postgres`: that script comes
from another branch).

Then the checks, each printed as ``ok`` or ``FAILED``; the exit status is non-zero if any failed:

- a back-office sign-in made through haproxy holds on both nodes (one session key; checked before
  the load);
- every acknowledged sale is in ``orders`` exactly once, and no other POS sale is;
- the trial balance balances (after every session is closed, so the sales are posted);
- the stock check agrees;
- every event of the log is in the stream exactly once (``Nats-Msg-Id`` = the event id), and nothing
  else is, once the relay has caught up.

And a summary: sales/s, request latency p50/p99, errors, retries, the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/retailcore_cluster"
STREAM = "RETAILCORE"
WEB_USER, WEB_PASSWORD = "cluster", "cluster-sign-in"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# -- the pieces -------------------------------------------------------------------------------------


class Postgres:
    """The database the API nodes share.

    Default: a fresh database on the PostgreSQL server already running (``--database-url``).

    The hook for a primary and a standby with failover (``scripts/cluster/postgres.sh``, branch
    ``scaleread``): with ``--postgres-script SCRIPT``, ``SCRIPT start DIR`` builds the formation and
    prints a line ``RETAILCORE_DATABASE_URL=<url>`` (a multi-host URL the API reconnects through),
    ``SCRIPT failover DIR`` kills the primary mid-run, and ``SCRIPT stop DIR`` ends it. Until that
    script exists, the run kills no database and says so in its summary.
    """

    def __init__(self, url: str, script: str | None, directory: Path) -> None:
        self.url = url
        self.script = script
        self.directory = directory / "postgres"

    def start(self) -> str:
        if self.script:
            self.directory.mkdir(parents=True, exist_ok=True)
            out = subprocess.run(
                [self.script, "start", str(self.directory)], check=True, capture_output=True, text=True
            ).stdout
            for line in out.splitlines():
                if line.startswith("RETAILCORE_DATABASE_URL="):
                    self.url = line.partition("=")[2].strip()
            return self.url
        name = psycopg.conninfo.conninfo_to_dict(self.url)["dbname"]
        admin = psycopg.conninfo.make_conninfo(self.url, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url

    def fail_over(self) -> str:
        if not self.script:
            return "not killed: no --postgres-script (the failover comes with scripts/cluster/postgres.sh)"
        subprocess.run([self.script, "failover", str(self.directory)], check=True)
        return "primary killed"

    def stop(self) -> None:
        if self.script:
            subprocess.run([self.script, "stop", str(self.directory)], check=False)


def script(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(HERE / name), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, "RETAILCORE": str(BIN / "retailcore"), **(env or {})},
    )
    return done.stdout


def load_demo(url: str, products: int) -> str:
    """The demo company with a few products (``init --demo`` loads 200: minutes on a loaded machine);
    an installation-wide admin token."""
    from retailcore.access.model import system_principal
    from retailcore.access.services import create_token
    from retailcore.access.users import create_user
    from retailcore.adapters.db import transaction
    from retailcore.entrypoints.bootstrap import bootstrap  # the ledger's subscriptions post the stock
    from retailcore.entrypoints.settings import Settings
    from retailcore.eventlog.services import CommandContext
    from retailcore.masterdata import demo

    runtime = bootstrap(Settings(database_url=url))
    try:
        with transaction(runtime.session_factory) as session:
            demo.load_demo(session, CommandContext(system_principal("cluster")), products=products)
            create_user(session, WEB_USER, WEB_PASSWORD, "admin", company="DEMO", created_by="cluster")
            return create_token(session, role="admin", name="cluster-admin", created_by="cluster").token
    finally:
        runtime.engine.dispose()


def retailcore(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [str(BIN / "retailcore"), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout


async def stream_leader(nats_url: str) -> str | None:
    import nats

    nc = await nats.connect(nats_url.split(","))
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return info.cluster.leader if info.cluster else None
    finally:
        await nc.close()


async def stream_ids(nats_url: str) -> list[str]:
    """Every message's ``Nats-Msg-Id`` in the stream, in sequence order."""
    import nats

    nc = await nats.connect(nats_url.split(","))
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        ids = []
        if info.state.messages:
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(STREAM, sequence)
                ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        return ids
    finally:
        await nc.close()


# -- the load ----------------------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list[str] = field(default_factory=list)
    """Client UUIDs of the sales in acknowledged batches."""
    latencies: list[float] = field(default_factory=list)
    """Seconds per acknowledged request (the attempt that was acknowledged)."""
    batches: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    duplicates: int = 0
    """Sales an acknowledged batch reported as already taken: a retry of a batch whose first answer
    was lost after its commit."""
    gave_up: int = 0


def sale(products: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    lines = []
    for product in rng.sample(products, rng.randint(1, 3)):
        lines.append(
            {"product_id": product["id"], "quantity": str(rng.randint(1, 3)), "unit_price": product["price"]}
        )
    total = sum(Decimal(line["quantity"]) * Decimal(line["unit_price"]) for line in lines)
    # Cash over the gross, whether taxes are in the price or on top: the change comes off the cash.
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": dt.datetime.now(dt.UTC).isoformat(),
        "lines": lines,
        "payments": [{"payment_method_code": "CASH", "amount": str((total * 2).quantize(Decimal("1")) + 5)}],
    }


def till(
    api: str,
    headers: dict[str, str],
    session_id: str,
    batches: list[list[dict[str, Any]]],
    stats: Stats,
    stop: threading.Event,
) -> None:
    with httpx.Client(base_url=api, headers=headers, timeout=20) as client:
        for batch in batches:
            for _attempt in range(1, 200):
                if stop.is_set():
                    return
                started = time.perf_counter()
                try:
                    response = client.post(f"/pos/sessions/{session_id}/sales:batch", json={"sales": batch})
                except httpx.HTTPError as error:
                    with stats.lock:
                        stats.errors[type(error).__name__] += 1
                        stats.retries += 1
                    time.sleep(0.2)
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    body = response.json()
                    with stats.lock:
                        stats.acknowledged.extend(s["client_uuid"] for s in batch)
                        stats.latencies.append(elapsed)
                        stats.batches += 1
                        stats.duplicates += int(body.get("duplicates", 0))
                    break
                with stats.lock:
                    if response.status_code == 429:
                        stats.rate_limited += 1
                    else:
                        stats.errors[f"HTTP {response.status_code}"] += 1
                        stats.retries += 1
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                elif response.status_code < 500 and response.status_code not in (408, 409):
                    with stats.lock:
                        stats.errors[f"refused: {response.text[:200]}"] += 1
                        stats.gave_up += 1
                    break
                else:
                    time.sleep(0.2)
            else:
                with stats.lock:
                    stats.gave_up += 1


# -- the run ------------------------------------------------------------------------------------------


class Cluster:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.dir = directory
        self.postgres = Postgres(args.database_url, args.postgres_script, directory)
        self.nats_dir = directory / "nats"
        self.api_dir = directory / "api"
        self.nats_url = ""
        self.env: dict[str, str] = {}
        self.relay: subprocess.Popen[bytes] | None = None
        self.killed_nats = "n1"
        self.api = f"http://127.0.0.1:{args.api_port}/api/v1"

    def start(self) -> None:
        url = self.postgres.start()
        self.env = {
            "RETAILCORE_DATABASE_URL": url,
            "RETAILCORE_RATE_LIMIT_STORE": "database",
            "RETAILCORE_RELAY_IN_SERVE": "false",
            "RETAILCORE_NATS_REPLICAS": "3",
            # A batch whose acks went with a dead server fails at the disconnect; a leader election
            # that swallows a publish is caught by this instead of the default 30 s.
            "RETAILCORE_NATS_ACK_TIMEOUT_SECONDS": "5",
            "RETAILCORE_SWEEP_INTERVAL_SECONDS": "0",
            "API_PORT": str(self.args.api_port),
            "API_NODES": "2",
        }
        log(f"database {url}: migrating, loading the demo company ({self.args.products} products)")
        retailcore("db", "upgrade", env=self.env)
        self.admin = load_demo(url, self.args.products)
        log("NATS: 3 nodes")
        out = script("nats.sh", "start", str(self.nats_dir), env=self.env)
        self.nats_url = next(line for line in out.splitlines() if line.startswith("RETAILCORE_NATS_URL="))
        self.nats_url = self.nats_url.partition("=")[2]
        self.env["RETAILCORE_NATS_URL"] = self.nats_url
        log(f"API: 2 nodes behind haproxy at {self.api}")
        script("api.sh", "start", str(self.api_dir), env=self.env)
        log("relay: one process")
        with open(self.dir / "relay.log", "ab") as relay_log:
            self.relay = subprocess.Popen(
                [str(BIN / "retailcore"), "relay"],
                env={**os.environ, **self.env},
                stdout=relay_log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.terminate()
            try:
                self.relay.wait(30)
            except subprocess.TimeoutExpired:
                self.relay.kill()
        for name, directory in (("api.sh", self.api_dir), ("nats.sh", self.nats_dir)):
            if directory.exists():
                subprocess.run([str(HERE / name), "stop", str(directory)], check=False)
        self.postgres.stop()


# -- the faults, in the order the load meets them ----------------------------------------------------


def kill_stream_leader(cluster: Cluster) -> str:
    """The node leading the stream: its followers elect another while the relay publishes."""
    leader = asyncio.run(stream_leader(cluster.nats_url)) or "n1"
    script("nats.sh", "kill", str(cluster.nats_dir), leader.removeprefix("n"))
    cluster.killed_nats = leader
    return f"NATS node {leader}, the stream's leader, killed (kill -9)"


def restart_nats_node(cluster: Cluster) -> str:
    """Back with its files: it catches up from the other two."""
    node = cluster.killed_nats
    script("nats.sh", "start-node", str(cluster.nats_dir), node.removeprefix("n"))
    return f"NATS node {node} started again"


def relays_nats_node() -> str | None:
    """The node the relay's connection is on, from the nodes' monitoring (``/connz``)."""
    for n in (1, 2, 3):
        try:
            connz = httpx.get(f"http://127.0.0.1:{18221 + n}/connz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            continue
        if any(c.get("name") == "retailcore-relay" for c in connz.get("connections") or []):
            return f"n{n}"
    return None


def kill_relays_nats_node(cluster: Cluster) -> str:
    """The node the relay is connected to: its client moves to another one."""
    node = relays_nats_node()
    if node is None:
        return "the relay's NATS node not found (between connections): none killed"
    script("nats.sh", "kill", str(cluster.nats_dir), node.removeprefix("n"))
    return f"NATS node {node}, the relay's connection, killed (kill -9)"


def kill_api_node(cluster: Cluster) -> str:
    script("api.sh", "kill", str(cluster.api_dir), "1")
    return "API node 1 killed (kill -9); haproxy sends everything to node 2"


def fail_postgres_over(cluster: Cluster) -> str:
    return f"PostgreSQL: {cluster.postgres.fail_over()}"


def setup_tills(client: httpx.Client, threads: int) -> tuple[list[str], list[dict[str, Any]]]:
    """A till and an open session per client thread, spread over the demo's stores; the products."""
    stores = (
        client.get("/stores", params={"company_id": "DEMO", "limit": 50}).raise_for_status().json()["items"]
    )
    stores = [s for s in stores if s.get("kind", "store") == "store"] or stores
    sessions = []
    for n in range(threads):
        store = stores[n % len(stores)]
        terminal = client.post(
            "/pos/terminals",
            json={
                "company_id": "DEMO",
                "store_id": store["id"],
                "code": f"CLUSTER-T{n + 1}",
                "name": f"load {n + 1}",
            },
            headers={"Idempotency-Key": f"cluster-terminal-{n}"},
        ).raise_for_status()
        opened = client.post(
            "/pos/sessions",
            json={"terminal_id": terminal.json()["id"], "opening_float": "100.00"},
            headers={"Idempotency-Key": f"cluster-session-{n}"},
        ).raise_for_status()
        sessions.append(opened.json()["id"])
    items = (
        client.get("/products", params={"company_id": "DEMO", "limit": 40}).raise_for_status().json()["items"]
    )
    products = [{"id": p["id"], "price": p.get("list_price") or "9.90"} for p in items]
    return sessions, products


def sign_in_everywhere(api: str) -> tuple[bool, str]:
    """Sign in to the back office through haproxy, then open a page on every node with that cookie."""
    base = api.removesuffix("/api/v1")
    with httpx.Client(base_url=base, timeout=60) as browser:
        page = browser.get("/login").raise_for_status().text
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = browser.post(
            "/login",
            data={"csrf_token": csrf, "next": "/", "username": WEB_USER, "password": WEB_PASSWORD},
            headers={"Origin": base},
        )
        served: Counter[str] = Counter()
        refused = 0
        for _ in range(6):
            answer = browser.get("/exceptions", follow_redirects=False)
            served[answer.headers.get("X-Retailcore-Node", "?")] += 1
            refused += answer.status_code != 200
    nodes = ", ".join(f"{node}: {count}" for node, count in sorted(served.items()))
    detail = f"sign-in {signed.status_code}, then 6 pages: {refused} refused; served by {nodes}"
    return signed.status_code in (200, 303) and refused == 0 and len(served) >= 2, detail


def close_sessions(client: httpx.Client, sessions: list[str]) -> None:
    """Close each session with its expected cash counted, so its sales are posted."""
    for session_id in sessions:
        view = client.get(f"/pos/sessions/{session_id}").raise_for_status().json()
        cash = Decimal(view["opening_float"]) + sum(
            (
                Decimal(t.get("amount") or 0)
                for t in view.get("totals", [])
                if t.get("kind") == "tender" and str(t.get("key", "")).startswith("cash")
            ),
            Decimal(0),
        )
        client.post(
            f"/pos/sessions/{session_id}/close",
            json={"counted": {"CASH": str(cash)}},
            headers={"Idempotency-Key": f"cluster-close-{session_id}"},
        ).raise_for_status()


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="retailcore-cluster-"))
    directory.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(args, directory)
    checks: list[tuple[str, bool, str]] = []
    faults: list[str] = []
    try:
        cluster.start()
        headers = {"Authorization": f"Bearer {cluster.admin}"}
        admin = httpx.Client(base_url=cluster.api, headers=headers, timeout=60)
        sessions, products = setup_tills(admin, args.threads)
        passed, detail = sign_in_everywhere(cluster.api)
        checks.append(("a back-office sign-in holds on every API node", passed, detail))
        rng = random.Random(args.seed)
        plans = [
            [[sale(products, rng) for _ in range(args.sales)] for _ in range(args.batches)] for _ in sessions
        ]
        total_batches = args.threads * args.batches
        stats = Stats()
        stop = threading.Event()
        threads = [
            threading.Thread(target=till, args=(cluster.api, headers, s, plan, stats, stop), daemon=True)
            for s, plan in zip(sessions, plans, strict=True)
        ]
        log(
            f"load: {args.threads} tills x {args.batches} batches x {args.sales} sales;"
            f" load average {load_average()}"
        )
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for fraction, fault in (
            (0.2, kill_stream_leader),
            (0.35, restart_nats_node),
            (0.45, kill_api_node),
            (0.55, kill_relays_nats_node),
            (0.65, fail_postgres_over),
        ):
            while stats.batches < fraction * total_batches and any(t.is_alive() for t in threads):
                time.sleep(0.05)
            faults.append(f"{fault(cluster)} (after {stats.batches} of {total_batches} batches)")
            log(faults[-1])
        deadline = time.monotonic() + args.timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stop.set()
        elapsed = time.perf_counter() - started
        load = load_average()
        log(f"load done in {elapsed:.1f} s; load average {load}")

        close_sessions(admin, sessions)
        log("sessions closed; waiting for the relay to catch up")
        relay: dict[str, Any] = {}
        for _ in range(600):
            relay = admin.get("/relay").raise_for_status().json()
            if relay["behind"] == 0 and relay["known"]:
                break
            time.sleep(0.2)

        # every acknowledged sale exactly once, and no other
        with psycopg.connect(cluster.postgres.url) as connection:
            counts = dict(
                connection.execute(
                    "SELECT client_uuid::text, count(*) FROM orders"
                    " WHERE channel = 'pos' GROUP BY client_uuid"
                ).fetchall()
            )
            event_ids = [
                row[0] for row in connection.execute("SELECT id::text FROM events ORDER BY position")
            ]
            relay_row = connection.execute(
                "SELECT published, duplicates FROM relay_positions WHERE name = 'default'"
            ).fetchone()
        acknowledged = Counter(stats.acknowledged)
        twice = [u for u, n in counts.items() if n != 1]
        missing = [u for u in acknowledged if counts.get(u) != 1]
        extra = [u for u in counts if u not in acknowledged]
        checks.append(
            (
                "every acknowledged sale present exactly once",
                not twice and not missing and not extra and stats.gave_up == 0,
                f"{len(acknowledged)} acknowledged, {len(counts)} in orders; {len(missing)} missing,"
                f" {len(twice)} more than once, {len(extra)} not acknowledged,"
                f" {stats.gave_up} batches given up",
            )
        )
        today = dt.date.today()
        trial = (
            admin.get(
                "/reports/trial-balance",
                params={
                    "company_id": "DEMO",
                    "date_from": (today - dt.timedelta(days=400)).isoformat(),
                    "date_to": today.isoformat(),
                },
            )
            .raise_for_status()
            .json()
        )
        totals = trial["totals"]
        balanced = (
            Decimal(totals["period_debit"]) == Decimal(totals["period_credit"])
            and Decimal(totals["closing_balance"]) == 0
        )
        checks.append(
            (
                "the trial balance balances",
                balanced,
                f"debits {totals['period_debit']}, credits {totals['period_credit']}",
            )
        )
        stock = admin.get("/stock/check", params={"company_id": "DEMO"}).raise_for_status().json()
        checks.append(
            (
                "the stock check agrees",
                bool(stock["agrees"]),
                "; ".join(f"{r['role']}: difference {r['difference']}" for r in stock["roles"]),
            )
        )
        in_stream = asyncio.run(stream_ids(cluster.nats_url))
        doubled = [i for i, n in Counter(in_stream).items() if n > 1]
        checks.append(
            (
                "every event reached JetStream exactly once",
                relay.get("behind") == 0 and in_stream == event_ids and not doubled,
                f"{len(event_ids)} events logged, {len(in_stream)} in the stream ({len(set(in_stream))} ids),"
                f" {len(doubled)} doubled; the relay published {relay_row[0] if relay_row else 0},"
                f" the stream dropped {relay_row[1] if relay_row else 0} re-sends as duplicates",
            )
        )

        sales = len(stats.acknowledged)
        latencies = sorted(stats.latencies)
        p50 = statistics.median(latencies) * 1000 if latencies else 0.0
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else 0.0
        errors = ", ".join(f"{kind}: {count}" for kind, count in stats.errors.most_common())
        print()
        print("== make test-cluster")
        print(
            f"load:      {args.threads} tills x {args.batches} batches x {args.sales} sales"
            " through haproxy, 2 API nodes"
        )
        for fault in faults:
            print(f"fault:     {fault}")
        print(
            f"result:    {sales} sales acknowledged in {elapsed:.1f} s = {sales / elapsed:.0f} sales/s;"
            f" batch request p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        )
        print(
            f"errors:    {sum(stats.errors.values())} ({errors or 'none'}); retries {stats.retries};"
            f" sales found already taken on a retry {stats.duplicates}; 429s {stats.rate_limited}"
        )
        print(f"machine:   load average {load} (at the end of the load), {os.cpu_count()} cores")
        for name, passed, detail in checks:
            print(f"{'ok    ' if passed else 'FAILED'} {name}: {detail}")
        return 0 if all(passed for _, passed, _ in checks) else 1
    finally:
        if args.keep:
            log(f"--keep: left running under {directory} (scripts/cluster/*.sh stop DIR ends them)")
        else:
            cluster.stop()
            if not args.dir:
                shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("RETAILCORE_CLUSTER_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument(
        "--postgres-script", help="scripts/cluster/postgres.sh: a primary, a standby, failover"
    )
    parser.add_argument("--dir", help="where the nodes keep their files and logs (default: a temporary one)")
    parser.add_argument("--threads", type=int, default=4, help="client threads, a till each")
    parser.add_argument("--batches", type=int, default=40, help="batches per till")
    parser.add_argument("--sales", type=int, default=10, help="sales per batch")
    parser.add_argument("--api-port", type=int, default=18000, help="haproxy's port; node N: this + N")
    parser.add_argument("--products", type=int, default=30, help="demo products to sell")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600, help="seconds the load may take at most")
    parser.add_argument("--keep", action="store_true", help="leave everything running afterwards")
    args = parser.parse_args()
    if (
        args.postgres_script is None
        and (HERE / "postgres.sh").exists()
        and os.environ.get("RETAILCORE_CLUSTER_FAILOVER")
    ):
        args.postgres_script = str(HERE / "postgres.sh")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
