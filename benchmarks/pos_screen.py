"""The POS screen's speed with a large catalogue (issue 23: adding an item and paying each answer in
under 100 ms on the screen with 20,000 products).

Builds the benchmark shop (``retail.set_up``: the demo company), adds products up to ``--products``
(each with an EAN-like barcode, in 40 categories), a terminal at PAR01 and a store manager, then runs
``retailcore serve`` and Debian's headless chromium (Playwright): sign in at /pos, choose the terminal,
open a session (the catalogue snapshot is fetched and stored in IndexedDB: its time is printed), then
``--sales`` sales of ``--items`` barcode scans each, paid in cash. The screen measures each answer
itself (``window.pos.timings``): from the input event's timestamp to the frame after the change was
drawn; for a payment that includes writing the sale to the IndexedDB queue (committed) before the
receipt shows. Prints p50, p99 and max of each, and the machine's load average before and after.

    .venv/bin/python benchmarks/pos_screen.py                # SQLite in a temporary folder
    .venv/bin/python benchmarks/pos_screen.py --url postgresql://postgres@127.0.0.1:5432/scratch
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PASSWORD = "benchmark password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build(url: str, count: int) -> list[str]:
    """The shop, ``count`` products in all; the barcodes of the products sold at the till."""
    import retail
    from sqlalchemy import select

    from retailcore.access.users import create_user
    from retailcore.adapters.db import make_engine, make_session_factory, transaction
    from retailcore.masterdata.tables import Company, Product, ProductBarcode
    from retailcore.pos import commands as pos
    from retailcore.pos import services as pos_services

    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=("PAR01",))
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        assert company is not None
        model = session.scalar(select(Product).where(Product.company_id == company.id, Product.available_pos))
        assert model is not None
        existing = session.scalar(select(Product.id).where(Product.company_id == company.id).limit(1))
        assert existing is not None
        have = len(shop.pos_products)
        rows = []
        for n in range(max(count - have, 0)):
            product = Product(
                company_id=company.id,
                sku=f"BENCH-{n:06d}",
                name=f"Bench item {n} {random.choice(['red', 'blue', 'green', 'large', 'small'])}",
                category=f"Bench/{n % 40:02d}",
                unit_of_measure=model.unit_of_measure,
                tax_category=model.tax_category,
                cost_method="average",
                list_price=Decimal(100 + n % 5000) / 100,
                standard_cost=Decimal(50 + n % 2500) / 100,
            )
            product.barcodes = [ProductBarcode(company_id=company.id, barcode=f"29{n:010d}0")]
            rows.append(product)
        session.add_all(rows)
        request = pos.CreateTerminal(store_id=shop.stores["PAR01"], code="WEB1", name="Screen till")
        pos_services.create_terminal(session, retail.ctx(), company, request)
        create_user(session, "benchmanager", PASSWORD, "store_manager", company=company.code, store="PAR01")
    with transaction(factory) as session:
        return list(session.scalars(select(ProductBarcode.barcode).where(ProductBarcode.barcode.like("29%"))))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(values):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--sales", type=int, default=40)
    parser.add_argument("--items", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="retailcore-screen-") as work:
        url = args.url or f"sqlite:///{work}/screen.db"
        started = time.monotonic()
        barcodes = build(url, args.products)
        built = time.monotonic() - started
        print(f"shop with {args.products:,} products built in {built:.1f} s ({url.split(':')[0]})")
        port = _free_port()
        env = {**os.environ, "RETAILCORE_DATABASE_URL": url, "RETAILCORE_SWEEP_INTERVAL_SECONDS": "0"}
        log = open(Path(work) / "server.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [sys.executable, "-m", "retailcore.entrypoints.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(f"{base}/api/v1/health", timeout=1).status == 200:
                        break
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
            chromium = shutil.which("chromium")
            assert chromium, "Debian's chromium is needed"
            with sync_playwright() as driver:
                browser = driver.chromium.launch(
                    executable_path=chromium, headless=True, args=["--no-sandbox"]
                )
                page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
                page.set_default_timeout(120_000)
                page.goto(f"{base}/pos")
                page.get_by_label("User name").fill("benchmanager")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("button", name="Use this terminal").click()
                loading = time.monotonic()
                page.get_by_role("button", name="Open session").wait_for()
                catalogue = time.monotonic() - loading
                page.get_by_role("button", name="Open session").click()
                page.get_by_label("Barcode").wait_for()
                count = page.evaluate("window.pos.state.catalogue.products.length")
                print(f"catalogue of {count:,} products fetched and kept in IndexedDB in {catalogue:.2f} s")
                scan = page.get_by_label("Barcode")
                rng = random.Random(23)
                for _ in range(args.sales):
                    for _ in range(args.items):
                        scan.fill(rng.choice(barcodes))
                        scan.press("Enter")
                    page.get_by_role("button", name="Pay").click()
                    page.get_by_role("button", name="Add tender").click()  # cash, the amount left
                    page.get_by_role("button", name="Complete sale").click()
                    page.locator("#receipt [data-client-uuid]").wait_for()
                    page.get_by_role("button", name="Next sale").click()
                page.wait_for_timeout(500)
                timings = page.evaluate("window.pos.timings")
                queued = page.get_by_label("Sales queued").text_content()
                browser.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            log.close()
    adds = [t["ms"] for t in timings if t["what"] == "add"]
    pays = [t["ms"] for t in timings if t["what"] == "pay"]
    print(f"add an item by barcode ({len(adds)}): {summary(adds)}")
    print(f"pay and show the receipt ({len(pays)}): {summary(pays)}")
    print(f"queued at the end: {queued}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
