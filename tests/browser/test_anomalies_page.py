"""The back office's anomaly list in a real browser (headless Chromium, as test_back_office.py): the
latest scan's alert with its explanation, linking to the exception it raised; nothing loaded from
elsewhere."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from retailcore.access.model import system_principal
from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from retailcore.analytics.anomalies import services as detector
from retailcore.analytics.anomalies.tables import AnomalyRow, AnomalyScan
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company
from webtools import PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def scanned(runtime, company, store_factory):
    """A stored scan with one alert (a cashier's deep discounts) and its exception, as a scan writes them."""
    store = store_factory("S1")
    with transaction(runtime.session_factory) as session:
        create_user(session, "boss", PASSWORD, "admin", company="ACME")
        found = session.get_one(Company, uuid.UUID(company["id"]))
        ctx = CommandContext(system_principal("test"))
        scan = AnomalyScan(
            company_id=found.id,
            date_from=dt.date(2026, 11, 1),
            date_to=dt.date(2026, 11, 30),
            rows=40,
            flagged=1,
            threshold=detector.THRESHOLD,
            settings={"z_rule": "8.0"},
            created_by="test",
        )
        session.add(scan)
        session.flush()
        row = AnomalyRow(
            scan_id=scan.id,
            company_id=found.id,
            store_id=uuid.UUID(store["id"]),
            store_code="S1",
            cashier="cashier-s1-t1",
            day=dt.date(2026, 11, 20),
            score=Decimal("0.78"),
            kind="discount_anomaly",
            features={"values": {"discount_rate": "0.1133"}, "z": {"discount_rate": "11.32"}},
            explanation=[
                {"feature": "discount_rate", "z": 11.32, "value": "0.1133", "peer_median": "0.0002"}
            ],
            flagged=True,
            amount_at_risk=Decimal("761.91"),
        )
        session.add(row)
        session.flush()
        row.exception_id = detector._raise(session, ctx, found, row, None)
        return row.exception_id


def test_the_anomaly_list_explains_each_alert_and_links_its_exception(visit, server, scanned):
    page = visit.page
    page.goto(f"{server}/login?next=/anomalies")
    page.get_by_label("User name").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")

    expect(page.get_by_role("heading", name="Anomalies in discounts and returns")).to_be_visible()
    expect(page.get_by_role("cell", name="cashier-s1-t1")).to_be_visible()
    expect(page.get_by_text("discount_rate: 0.1133 (z 11.32, peers 0.0002)")).to_be_visible()
    link = page.get_by_role("link", name="exception", exact=True)
    assert link.get_attribute("href") == f"/exceptions?status=#exception-{scanned}"
    link.click()
    page.wait_for_load_state("load")
    expect(page.locator(f"#exception-{scanned}")).to_contain_text("discount_anomaly")
    visit.assert_self_contained()
