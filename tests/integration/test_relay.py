"""The outbox relay against the real nats-server (127.0.0.1:4222, JetStream on; ``.ci/run`` starts one).

Each test publishes to a stream and subject prefix of its own (parallel workers and both backends never
meet), deleted afterwards. What is checked is what a consumer sees in the stream: every event once, in
log order, on its subject, with its id as ``Nats-Msg-Id`` - after a failure injected between acks and
after a relay process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.jetstream import JetStreamPublisher, PublishFailed, StreamSettings
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.cli.main import app as cli
from retailcore.eventlog.relay import Message, Relay, RelayConfig, relay_lag
from retailcore.eventlog.services import CommandContext, record, record_many
from retailcore.eventlog.tables import Event, RelayPosition
from support import POSTGRES_URL

NATS_URL = os.environ.get("RETAILCORE_TEST_NATS_URL", "nats://127.0.0.1:4222")
runner = CliRunner()


def _listening(url: str) -> bool:
    host, _, port = url.removeprefix("nats://").partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _listening(NATS_URL), reason=f"no nats-server at {NATS_URL} (.ci/run starts one: nats-server -js)"
)


@dataclass
class Stored:
    sequence: int
    subject: str
    msg_id: str
    body: dict[str, Any]


@dataclass
class Stream:
    """A stream of this test's own, and what is in it."""

    name: str
    prefix: str

    def settings(self, **changes: Any) -> StreamSettings:
        return StreamSettings(url=NATS_URL, stream=self.name, subject_prefix=self.prefix, **changes)

    def config(self, **changes: Any) -> RelayConfig:
        return RelayConfig(subject_prefix=self.prefix, **{"batch_size": 100, **changes})

    def contents(self) -> list[Stored]:
        async def read() -> list[Stored]:
            import nats

            nc = await nats.connect(NATS_URL)
            try:
                js = nc.jetstream()
                info = await js.stream_info(self.name)
                stored = []
                for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                    if info.state.messages == 0:
                        break
                    message = await js.get_msg(self.name, sequence)
                    stored.append(
                        Stored(
                            sequence,
                            message.subject,
                            (message.headers or {})["Nats-Msg-Id"],
                            json.loads(message.data),
                        )
                    )
                return stored
            finally:
                await nc.close()

        return asyncio.run(read())

    def delete(self) -> None:
        async def delete() -> None:
            import nats
            from nats.js.errors import NotFoundError

            nc = await nats.connect(NATS_URL)
            try:
                await nc.jetstream().delete_stream(self.name)
            except NotFoundError:
                pass
            finally:
                await nc.close()

        asyncio.run(delete())


@pytest.fixture
def stream() -> Iterator[Stream]:
    tag = uuid.uuid4().hex[:12]
    made = Stream(name=f"RCTEST_{tag}", prefix=f"rctest{tag}")
    yield made
    made.delete()


def fill(runtime: Runtime, company_id: uuid.UUID, count: int, type_: str = "ProductPriced") -> None:
    """``count`` events about products, set-based, in one transaction."""
    with transaction(runtime.session_factory) as session:
        record_many(
            session,
            CommandContext(system_principal("test")),
            type=type_,
            company_id=company_id,
            aggregate_type="Product",
            items=[(uuid.uuid4(), {"n": n, "price": "1.10"}, None) for n in range(count)],
        )


def events(runtime: Runtime) -> list[Event]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(Event).order_by(Event.position)))


def relay_once(runtime: Runtime, stream: Stream, publisher: Any = None, **config: Any) -> Relay:
    async def run() -> Relay:
        real = JetStreamPublisher(stream.settings())
        await real.connect()
        try:
            relay = Relay(
                runtime.session_factory, publisher(real) if publisher else real, stream.config(**config)
            )
            await relay.run(once=True)
            return relay
        finally:
            await real.close()

    return asyncio.run(run())


def assert_exactly_once_in_order(stored: list[Stored], logged: list[Event]) -> None:
    assert len(stored) == len(logged)
    assert [s.msg_id for s in stored] == [str(e.id) for e in logged]
    assert [s.body["position"] for s in stored] == [e.position for e in logged]


def test_every_event_published_once_in_order_with_subject_and_headers(runtime, company, stream):
    fill(runtime, uuid.UUID(company["id"]), 250)
    logged = events(runtime)

    relay = relay_once(runtime, stream)

    stored = stream.contents()
    assert_exactly_once_in_order(stored, logged)
    first = stored[0]
    assert first.subject == f"{stream.prefix}.ACME.masterdata.CompanyCreated"
    assert first.body["company_code"] == "ACME" and first.body["context"] == "masterdata"
    assert first.body["payload"] == logged[0].payload  # the stored JSON, as it is
    priced = [s for s in stored if s.body["type"] == "ProductPriced"]
    assert len(priced) == 250
    assert {s.subject for s in priced} == {f"{stream.prefix}.ACME.masterdata.ProductPriced"}
    accounts = {s.subject for s in stored if s.body["type"] == "AccountCreated"}
    assert accounts == {f"{stream.prefix}.ACME.accounting.AccountCreated"}
    assert relay.position == logged[-1].position
    with runtime.session_factory() as session:
        row = session.get(RelayPosition, "default")
        assert (row.position, row.published, row.duplicates) == (logged[-1].position, len(logged), 0)
        lag = relay_lag(session, "default")
    assert (lag.behind, lag.head, lag.age_seconds) == (0, logged[-1].position, None)

    # Nothing new: a second run publishes nothing and the stream is unchanged.
    assert relay_once(runtime, stream).progress.published == 0
    assert len(stream.contents()) == len(logged)


class FailsAfter:
    """Publishes through the real publisher until ``limit`` messages were acknowledged, then fails in
    the middle of a batch: the messages before the failure are in the stream, the position is not."""

    def __init__(self, real: JetStreamPublisher, limit: int) -> None:
        self.real, self.limit, self.acked = real, limit, 0

    async def publish(self, messages: list[Message]) -> int:
        room = self.limit - self.acked
        if room >= len(messages):
            self.acked += len(messages)
            return await self.real.publish(messages)
        await self.real.publish(messages[:room])
        self.acked += room
        raise PublishFailed(f"injected after {self.acked} acks")


def test_a_failure_after_some_acks_then_a_restart_stores_every_event_exactly_once(runtime, company, stream):
    fill(runtime, uuid.UUID(company["id"]), 1000)
    logged = events(runtime)

    with pytest.raises(PublishFailed, match="injected after 450 acks"):
        relay_once(runtime, stream, lambda real: FailsAfter(real, 450), batch_size=100)

    # Four batches were acknowledged and committed; half of the fifth is in the stream, not in the position.
    with runtime.session_factory() as session:
        assert session.get(RelayPosition, "default").position == logged[399].position
        assert relay_lag(session, "default").behind == len(logged) - 400
    assert len(stream.contents()) == 450

    restarted = relay_once(runtime, stream, batch_size=100)

    assert restarted.progress.duplicates == 50  # the half batch, sent again, dropped by the stream
    assert_exactly_once_in_order(stream.contents(), logged)
    with runtime.session_factory() as session:
        row = session.get(RelayPosition, "default")
    assert row.position == logged[-1].position and row.duplicates == 50


def _position(runtime: Runtime) -> int:
    with runtime.engine.connect() as connection:
        found = connection.scalar(text("SELECT position FROM relay_positions WHERE name = 'default'"))
    return int(found or 0)


def test_a_relay_process_killed_mid_stream_and_restarted_stores_every_event_exactly_once(
    runtime, company, stream, database_url
):
    fill(runtime, uuid.UUID(company["id"]), 20_000)
    logged = events(runtime)
    env = {
        **os.environ,
        "RETAILCORE_DATABASE_URL": database_url,
        "RETAILCORE_NATS_URL": NATS_URL,
        "RETAILCORE_NATS_STREAM": stream.name,
        "RETAILCORE_NATS_SUBJECT_PREFIX": stream.prefix,
        "RETAILCORE_RELAY_BATCH_SIZE": "50",
    }
    relay = [str(Path(sys.executable).with_name("retailcore")), "relay"]
    process = subprocess.Popen(relay, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # a bound on a wait, not a timed assertion
        while _position(runtime) == 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = _position(runtime)
    assert 0 < killed_at < logged[-1].position, "the relay was not killed mid-stream"

    done = subprocess.run([*relay, "--once"], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert_exactly_once_in_order(stream.contents(), logged)
    assert _position(runtime) == logged[-1].position


def test_lag_on_the_api_and_the_command_line(runtime, company, client, admin, auth, stream):
    fill(runtime, uuid.UUID(company["id"]), 30)
    logged = events(runtime)

    response = client.get("/api/v1/relay", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["behind"] == len(logged) and body["head"] == logged[-1].position
    assert body["position"] == 0 and body["known"] is False and body["configured"] is False
    assert body["age_seconds"] >= 0 and body["oldest_unpublished_at"] is not None
    status = runner.invoke(cli, ["relay", "--status", "-o", "json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)[0]["behind"] == len(logged)

    relay_once(runtime, stream, batch_size=7)
    fill(runtime, uuid.UUID(company["id"]), 3)

    body = client.get("/api/v1/relay", headers=admin).json()
    assert (body["position"], body["behind"], body["known"]) == (logged[-1].position, 3, True)
    assert body["published"] == len(logged)
    status = json.loads(runner.invoke(cli, ["relay", "--status", "-o", "json"]).stdout)[0]
    assert (status["position"], status["behind"]) == (logged[-1].position, 3)

    # Every company's events: a company's token may not read it.
    scoped = client.get("/api/v1/relay", headers=auth("admin", company="ACME"))
    assert scoped.status_code == 403
    assert scoped.headers["content-type"].startswith("application/problem+json")


def test_serve_runs_the_relay_when_nats_is_configured(runtime, database_url, stream, admin):
    settings = runtime.settings.model_copy(
        update={
            "nats_url": NATS_URL,
            "nats_stream": stream.name,
            "nats_subject_prefix": stream.prefix,
            "relay_poll_seconds": 0.05,
        }
    )
    served = bootstrap(settings)
    try:
        with TestClient(create_app(served)) as client:
            response = client.post(
                "/api/v1/companies",
                json={"code": "SERVED", "name": "Served", "currency": "EUR", "country": "FR"},
                headers=admin,
            )
            assert response.status_code == 201
            logged = events(runtime)
            deadline = time.monotonic() + 60  # a bound on a wait, not a timed assertion
            while _position(runtime) < logged[-1].position and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.get("/api/v1/relay", headers=admin).json()["configured"] is True
        # The application stopped: so did its relay, after committing what it had published.
        assert_exactly_once_in_order(stream.contents(), logged)
        assert stream.contents()[0].subject == f"{stream.prefix}.SERVED.masterdata.CompanyCreated"
    finally:
        served.engine.dispose()


def test_without_nats_the_product_runs_and_the_relay_says_what_is_missing(runtime, client, admin):
    # The application (with its lifespan) serves without any NATS setting, and imports no NATS client.
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/relay", headers=admin).json()["configured"] is False
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from retailcore.entrypoints.api.app import create_app;"
            " from retailcore.entrypoints.cli import main; print('nats' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"
    refused = runner.invoke(cli, ["relay", "--once"], env={"RETAILCORE_NATS_URL": ""})
    assert refused.exit_code == 2
    assert "no NATS server to publish to" in refused.stderr


def test_no_server_at_the_url_is_an_error_not_a_hang(runtime, company):
    refused = runner.invoke(cli, ["relay", "--once", "--nats-url", "nats://127.0.0.1:9"])
    assert refused.exit_code == 2
    assert "cannot reach NATS" in refused.stderr
    assert _position(runtime) == 0


@pytest.mark.skipif(not POSTGRES_URL, reason="SQLite has one writer: positions are visible in order")
def test_a_position_still_being_written_is_waited_for_and_a_rolled_back_one_skipped(runtime, company, stream):
    """PostgreSQL: a transaction holding position p while p+1 commits; the relay stops before p until it
    commits. A transaction that rolls back leaves a hole the relay steps over once it is settled."""
    company_id = uuid.UUID(company["id"])
    before = events(runtime)[-1].position
    ctx = CommandContext(system_principal("test"))

    def one(session: Any, n: int) -> None:
        record(
            session,
            ctx,
            type="ProductPriced",
            company_id=company_id,
            aggregate_type="Product",
            aggregate_id=uuid.uuid4(),
            payload={"n": n},
        )
        session.flush()

    async def steps() -> list[int]:
        publisher = JetStreamPublisher(stream.settings())
        await publisher.connect()
        try:
            relay = Relay(runtime.session_factory, publisher, stream.config(hole_grace_seconds=0))
            await relay.run(once=True)  # the company's events
            slow = runtime.session_factory()
            slow.begin()
            one(slow, 1)  # draws before + 1, not committed yet
            fill(runtime, company_id, 2)  # before + 2, before + 3, committed
            seen = [await relay.step(), await relay.step(), await relay.step()]
            assert relay.position == before  # stopped at the hole: the writer is still at work
            slow.commit()
            slow.close()
            seen.append(await relay.step())  # now the three
            aborted = runtime.session_factory()
            aborted.begin()
            one(aborted, 4)  # before + 4, rolled back: a hole for ever
            aborted.rollback()
            aborted.close()
            fill(runtime, company_id, 1)  # before + 5
            for _ in range(5):
                seen.append(await relay.step())
            return seen
        finally:
            await publisher.close()

    seen = asyncio.run(steps())

    assert seen[:4] == [0, 0, 0, 3] and sum(seen[4:]) == 1
    logged = events(runtime)
    assert [e.position for e in logged[-4:]] == [before + 1, before + 2, before + 3, before + 5]
    assert_exactly_once_in_order(stream.contents(), logged)
