"""The API layer's fixed cost per request (issue 21), in process: requests go straight into the ASGI app
(no server, no sockets, no HTTP client), one after the other, so what is measured is the app's own
work per request: CPU, SQL statements, connection checkouts and transactions begun.

``--case single``: one POS sale per ``POST /pos/sessions/{id}/sales:batch``; ``--case orders``: a web
order's lifecycle (``POST /orders``, ``/payments``, ``/fulfillments``), per request. Compare a
revision by running this script with ``PYTHONPATH`` pointing at its ``src`` (``git archive REV src |
tar -x -C /tmp/base``), in turns with the working tree. ``--profile FILE`` writes a cProfile of the
timed requests (the thread pool's work run inline, so the profile sees it).

    .venv/bin/python benchmarks/api_requests.py --backend sqlite --case single --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import retail
from sqlalchemy import event

from retailcore.access.services import create_token
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.settings import Settings
from retailcore.masterdata.tables import Company
from retailcore.pos import services as pos

POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/retailcore_bench")


class Counted:
    """SQL statements, pool checkouts and transactions begun on an engine."""

    def __init__(self, engine: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.shapes: Counter[str] = Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine.pool, "checkout", lambda *_: self.counts.update(["checkouts"]))
        event.listen(engine, "begin", lambda *_: self.counts.update(["begins"]))

    def count_hand_offs(self) -> None:
        """Hand-offs of work to the thread pool (a sync dependency, a command), each a wake-up of
        another thread and a wait for it."""
        import anyio.to_thread

        run_sync = anyio.to_thread.run_sync

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts["hand-offs"] += 1
            return await run_sync(*args, **kwargs)

        anyio.to_thread.run_sync = counted  # type: ignore[assignment]

    def trace(self, engine: Any, path: str) -> None:
        """PostgreSQL: libpq's trace of every message to the server, in ``path``: its BEGIN,
        ROLLBACK and pings are not statements SQLAlchemy's events see."""
        handle = open(path, "w")  # noqa: SIM115 - open until the process ends

        def traced(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.pgconn.trace(handle.fileno())

        event.listen(engine, "connect", traced)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.counts["statements"] += 1
        self.shapes[" ".join(statement.split())[:80]] += 1


KEYED = False
"""Whether each request carries an ``Idempotency-Key`` of its own (``--keyed``)."""


async def call(app: Any, method: str, path: str, token: str, body: bytes | None) -> tuple[int, bytes]:
    """One request into the ASGI app; its status and body."""
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if KEYED:
        headers.append((b"idempotency-key", str(uuid.uuid4()).encode()))
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def inline_threadpool() -> None:
    """Run the thread pool's work on the calling thread: cProfile sees one thread only."""
    import fastapi.dependencies.utils
    import fastapi.routing

    import retailcore.entrypoints.api.deps as deps

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    for module in (fastapi.dependencies.utils, fastapi.routing, deps):
        if hasattr(module, "run_in_threadpool"):
            module.run_in_threadpool = inline  # type: ignore[attr-defined]


def time_the_work() -> list[float]:
    """CPU seconds spent inside the routes' work functions (the services), summed: the rest of a
    request's CPU is the API layer's own, and that part does not carry the services' noise."""
    import retailcore.entrypoints.api.deps as deps

    inside = [0.0]
    command = deps.Api.command

    async def timed_command(self: Any, work: Any, **options: Any) -> Any:
        def timed(session: Any, ctx: Any) -> Any:
            started = time.process_time()
            try:
                return work(session, ctx)
            finally:
                inside[0] += time.process_time() - started

        return await command(self, timed, **options)

    deps.Api.command = timed_command  # type: ignore[method-assign]
    return inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--case", choices=("single", "orders"), default="single")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument("--profile", help="write a cProfile of the timed requests here")
    parser.add_argument("--shapes", action="store_true", help="print the statements per request")
    parser.add_argument("--keyed", action="store_true", help="an Idempotency-Key on every request")
    parser.add_argument("--trace", help="PostgreSQL: write libpq's trace of the timed requests here")
    options = parser.parse_args()
    global KEYED
    KEYED = options.keyed
    folder = tempfile.mkdtemp(prefix="api-requests-")
    url = f"sqlite:///{folder}/bench.db" if options.backend == "sqlite" else POSTGRES
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    warehouse = (retail.WAREHOUSE,) if options.case == "orders" else ("PAR01",)
    shop = retail.set_up(factory, receive_at=warehouse)
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        if options.case == "single":
            terminal = pos.create_terminal(
                session,
                retail.ctx(),
                company,
                pos.c.CreateTerminal(store_id=shop.stores["PAR01"], code="API1", name="Till"),
            )
            session_id = pos.open_session(session, retail.ctx(), terminal.id, Decimal(0)).id
            token = create_token(session, role="cashier", company="DEMO", store="PAR01").token
        else:
            token = create_token(session, role="integration", company="DEMO").token
    settings = Settings(
        database_url=url,
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
        sweep_interval_seconds=0,
    )
    runtime = Runtime(settings, engine, factory)
    app = create_app(runtime)
    total = options.warm_up + options.requests
    counted = Counted(engine)
    counted.count_hand_offs()
    engine.dispose()  # the timed requests' connections are new, and traced when asked
    if options.trace:
        counted.trace(engine, options.trace)
    profile = cProfile.Profile() if options.profile else None
    if profile is not None:
        inline_threadpool()
    inside = time_the_work()

    if options.case == "single":
        sales = retail.Sales(shop.pos_products, seed=7)
        bodies = [
            json.dumps({"sales": [s.model_dump(mode="json")]}).encode() for [s] in sales.batches(total, 1)
        ]
        target = f"/api/v1/pos/sessions/{session_id}/sales:batch"

        async def one(n: int) -> int:
            status, answer = await call(app, "POST", target, token, bodies[n])
            assert status == 200 and b'"accepted":1' in answer.replace(b" ", b""), (status, answer[:300])
            return 1

    else:
        import random

        rng = random.Random(11)
        lines = [
            [
                {"product_id": str(p), "quantity": str(rng.randint(1, 2))}
                for p, _ in rng.sample(shop.web_products, rng.randint(1, 3))
            ]
            for _ in range(total)
        ]

        async def one(n: int) -> int:
            body = json.dumps({"channel": "web", "lines": lines[n]}).encode()
            status, answer = await call(app, "POST", "/api/v1/orders", token, body)
            assert status == 201, (status, answer[:300])
            placed = json.loads(answer)
            path = f"/api/v1/orders/{placed['id']}"
            payment = {
                "kind": "card",
                "gateway": "stripe",
                "reference": f"psp-{n}",
                "amount": placed["gross_total"],
            }
            status, answer = await call(app, "POST", f"{path}/payments", token, json.dumps(payment).encode())
            assert status == 200, (status, answer[:300])
            status, answer = await call(app, "POST", f"{path}/fulfillments", token, None)
            assert status == 200 and json.loads(answer)["state"] == "fulfilled", (status, answer[:300])
            return 3

    async def run() -> tuple[int, float, float]:
        for n in range(options.warm_up):
            await one(n)
        counted.counts.clear()
        counted.shapes.clear()
        inside[0] = 0.0
        requests = 0
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        for n in range(options.warm_up, total):
            requests += await one(n)
        if profile is not None:
            profile.disable()
        return requests, time.process_time() - cpu, time.perf_counter() - wall

    requests, cpu, wall = asyncio.run(run())
    per = {name: value / requests for name, value in counted.counts.items()}
    print(
        f"{options.backend} {options.case}: {requests} requests,"
        f" CPU {cpu / requests * 1000:.3f} ms a request"
        f" ({(cpu - inside[0]) / requests * 1000:.3f} outside the routes' work),"
        f" wall {wall / requests * 1000:.3f} ms; per request: {per.get('statements', 0):.2f} statements,"
        f" {per.get('checkouts', 0):.2f} checkouts, {per.get('begins', 0):.2f} transactions,"
        f" {per.get('hand-offs', 0):.2f} thread hand-offs"
    )
    if options.shapes:
        for shape, count in counted.shapes.most_common(25):
            print(f"{count / requests:6.2f} x {shape}", file=sys.stderr)
    if profile is not None:
        profile.dump_stats(options.profile)
    engine.dispose()


if __name__ == "__main__":
    main()
