"""Reports, KPIs, exports and the back office's pages read from a read replica (decision 0086), here a
second engine on the test database itself: the routed reads give the same answers wherever they go, and
go where the rules say (a replica within its staleness bound; the primary when it lags, cannot be
reached, fails a read, or has not replayed the caller's own write). Where the decision depends on a
lag or a position, the probe is a fake; the PostgreSQL probe itself is checked on PostgreSQL.
A real standby: tests/cluster/test_postgres_replica.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from apitools import API, assert_problem
from sqlalchemy.orm import Session

from integration.test_reports import build_ledger
from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from retailcore.adapters.replica import Measure, PostgresProbe, format_lsn, parse_lsn
from retailcore.entrypoints.api.app import bind
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.settings import Settings
from support import POSTGRES_URL
from webtools import csrf_of, sign_in

NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
TOTALS = {
    "opening_balance": "0.00",
    "period_debit": "1332.55",
    "period_credit": "1332.55",
    "closing_balance": "0.00",
}
UNREACHABLE = (
    "postgresql://postgres@127.0.0.1:1/nowhere" if POSTGRES_URL else "sqlite:////nonexistent/dir/replica.db"
)


@dataclass
class FakeProbe:
    """A replica whose lag and replay position the test sets; the primary's position counts up."""

    lag_ms: int | None = 0
    replayed: int = 0x1000
    written: int = 0x2000

    def primary_position(self, primary: Session) -> int | None:
        self.written += 1
        return self.written

    def measure(self, primary: Session, replica: Session) -> Measure:
        return Measure(self.replayed, self.lag_ms)


def _runtime(database_url: str, read_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", database_url)
    runtime = bootstrap(
        Settings(
            database_url=database_url,
            read_database_url=read_url,
            sweep_interval_seconds=0,
            read_lag_check_ms=0,
        )
    )
    yield runtime
    runtime.dispose()


@pytest.fixture
def runtime(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The test database as primary and, through an engine of its own, as replica; every routed read
    checks the replica again (``read_lag_check_ms = 0``)."""
    yield from _runtime(database_url, database_url, monkeypatch)


@pytest.fixture
def reads(runtime):
    assert runtime.reads is not None
    return runtime.reads


@pytest.fixture
def ledger(runtime, company):
    return build_ledger(runtime, company["code"])


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


def trial_balance(client, headers):
    response = client.get(f"{API}/reports/trial-balance", params=NOVEMBER, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["totals"] == TOTALS
    return response


def test_reports_kpis_and_exports_read_from_the_replica(client, reads, finance, ledger):
    client.cookies.clear()  # the company was created through the API: no write of this client to wait for
    trial_balance(client, finance)
    kpis = client.get(f"{API}/kpis/sales", params=NOVEMBER, headers=finance)
    assert kpis.status_code == 200, kpis.text
    gl = client.get(f"{API}/exports/gl.csv", params={"period": "2026-11"}, headers=finance)
    assert gl.status_code == 200, gl.text
    assert gl.text.count("\n") > 10  # a header and the month's lines
    check = client.get(f"{API}/stock/check", headers=finance)
    assert check.status_code == 200, check.text
    assert reads.report()["reads"] == {"replica": 5}  # the export's first read checks the period


def test_other_reads_and_every_write_use_the_primary(client, reads, finance, ledger, admin):
    client.cookies.clear()
    assert client.get(f"{API}/orders", headers=finance).status_code == 200
    assert client.get(f"{API}/accounts", headers=finance).status_code == 200
    created = client.post(
        f"{API}/products",
        json={"company_id": "ACME", "sku": "S", "name": "S", "category": "C", "list_price": "1.00"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert reads.report()["reads"] == {}


def test_a_lagging_replica_sends_reports_to_the_primary_and_health_says_so(client, reads, finance, ledger):
    client.cookies.clear()
    reads.probe = FakeProbe(lag_ms=60_000)
    trial_balance(client, finance)
    assert reads.report()["reads"] == {"primary:lagging": 1}
    health = client.get(f"{API}/health")
    assert health.status_code == 200  # the node serves: its reads go to the primary
    replica = health.json()["replica"]
    assert (replica["status"], replica["lag_ms"], replica["max_lag_ms"]) == ("lagging", 60_000, 5000)
    reads.probe.lag_ms = 10
    trial_balance(client, finance)
    assert reads.report()["reads"] == {"primary:lagging": 1, "replica": 1}
    assert client.get(f"{API}/health").json()["replica"]["status"] == "ok"


def test_a_client_reads_its_own_write_from_the_primary_until_the_replica_replayed_it(
    client, reads, finance, ledger, admin
):
    reads.probe = probe = FakeProbe()
    client.cookies.clear()
    written = client.post(
        f"{API}/customers", json={"company_id": "ACME", "code": "C1", "name": "Carla"}, headers=admin
    )
    assert written.status_code == 201, written.text
    position = written.headers["RC-Min-LSN"]
    assert parse_lsn(position) == probe.written
    assert f"RC-Min-LSN={position}" in written.headers["set-cookie"]

    trial_balance(client, finance)  # the cookie
    trial_balance(client, {**finance, "RC-Min-LSN": position})  # the header, e.g. from another process
    assert reads.report()["reads"] == {"primary:own-write": 2}

    probe.replayed = probe.written
    trial_balance(client, finance)
    client.cookies.clear()
    probe.replayed = 0
    trial_balance(client, finance)  # no write of its own to wait for
    assert reads.report()["reads"] == {"primary:own-write": 2, "replica": 2}


def test_a_refused_change_gives_no_position(client, reads, ledger, admin):
    reads.probe = FakeProbe()
    refused = client.post(
        f"{API}/customers", json={"company_id": "ACME", "code": "", "name": "no code"}, headers=admin
    )
    assert refused.status_code == 422
    assert "RC-Min-LSN" not in refused.headers


def test_a_malformed_position_header_is_a_problem_naming_it(client, reads, finance, ledger):
    response = client.get(
        f"{API}/reports/trial-balance", params=NOVEMBER, headers={**finance, "RC-Min-LSN": "yesterday"}
    )
    assert_problem(response, 422, "validation-failed", ("RC-Min-LSN",))
    assert reads.report()["reads"] == {}


def test_a_malformed_position_cookie_is_ignored(client, reads, finance, ledger):
    client.cookies.clear()
    client.cookies.set("RC-Min-LSN", "not-a-position")
    trial_balance(client, finance)
    assert reads.report()["reads"] == {"replica": 1}


def test_the_back_office_pages_read_from_the_replica(client, runtime, reads, ledger):
    with transaction(runtime.session_factory) as session:
        create_user(session, "fiona", "a long password", "finance", company="ACME")
    assert sign_in(client, "fiona", "a long password").status_code == 303
    client.cookies.delete("RC-Min-LSN")  # signing in is a write: its position would send pages to the primary
    page = client.get("/accounting/trial-balance", params=NOVEMBER)
    assert page.status_code == 200, page.text
    assert "1,332.55" in page.text or "1332.55" in page.text
    assert reads.report()["reads"] == {"replica": 1}
    assert csrf_of(page.text)


@pytest.mark.skipif(not POSTGRES_URL, reason="WAL positions are PostgreSQL's; SQLite has none")
def test_postgresql_positions_a_write_and_the_replica_replays_past_it(client, reads, finance, ledger, admin):
    assert isinstance(reads.probe, PostgresProbe)
    client.cookies.clear()
    reads.check_ms = 60_000
    reads.max_lag_ms = 120_000
    trial_balance(client, finance)  # checked now: the "replica" is the primary itself, never behind
    before = reads.state().replay_position
    written = client.post(
        f"{API}/customers", json={"company_id": "ACME", "code": "C1", "name": "Carla"}, headers=admin
    )
    assert written.status_code == 201, written.text
    position = parse_lsn(written.headers["RC-Min-LSN"])
    assert position is not None and before is not None and position > before
    trial_balance(client, finance)  # the last check predates the write
    assert reads.report()["reads"] == {"replica": 1, "primary:own-write": 1}
    reads.check_ms = 0
    trial_balance(client, finance)
    assert reads.state().replay_position >= position
    assert reads.report()["reads"] == {"replica": 2, "primary:own-write": 1}
    health = client.get(f"{API}/health").json()["replica"]
    assert health["status"] == "ok" and health["lag_ms"] == 0
    assert (
        parse_lsn(health["replay_lsn"]) >= position and format_lsn(position) == written.headers["RC-Min-LSN"]
    )


def test_without_a_replica_nothing_changes(database_url, client, finance, ledger, admin):
    # The module's runtime has a replica; the same application bound to one without has none.
    plain = bootstrap(Settings(database_url=database_url, sweep_interval_seconds=0))
    try:
        bind(client.app, plain)
        client.cookies.clear()
        written = client.post(
            f"{API}/customers", json={"company_id": "ACME", "code": "C2", "name": "Cid"}, headers=admin
        )
        assert written.status_code == 201 and "RC-Min-LSN" not in written.headers
        assert "replica" not in client.get(f"{API}/health").json()
        trial_balance(client, finance)
    finally:
        plain.dispose()


class TestAnUnreachableReplica:
    @pytest.fixture
    def runtime(self, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
        yield from _runtime(database_url, UNREACHABLE, monkeypatch)

    def test_reports_are_answered_by_the_primary_and_health_says_so(self, client, reads, finance, ledger):
        client.cookies.clear()
        trial_balance(client, finance)
        gl = client.get(f"{API}/exports/journals.csv", params={"period": "2026-11"}, headers=finance)
        assert gl.status_code == 200 and gl.text.count("\n") > 3
        assert reads.report()["reads"] == {"primary:unavailable": 3}
        health = client.get(f"{API}/health")
        assert health.status_code == 200
        assert health.json()["database"] == "ok" and health.json()["replica"]["status"] == "unavailable"

    def test_a_replica_that_fails_the_read_itself_hands_it_to_the_primary(
        self, client, reads, finance, ledger
    ):
        client.cookies.clear()
        reads.probe = FakeProbe()  # the check says it is fine; the read finds it down
        trial_balance(client, finance)
        gl = client.get(f"{API}/exports/gl.csv", params={"period": "2026-11"}, headers=finance)
        assert gl.status_code == 200 and gl.text.count("\n") > 10
        assert reads.report()["reads"] == {"primary:replica-error": 3}
