"""``retailcore orders ...`` and ``retailcore pos ...`` against the test database.

The data is built over HTTP as a user would: ACME sells in France with VAT 20 % included in prices;
SHIRT sells at 30.00 and MUG at 12.00; 5 of each are received in the store S1 and the warehouse W1;
the till T1 is in S1. The CLI then works on it as the system principal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import reservations as r
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import Reservation
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location
from retailcore.orders import services as svc
from retailcore.orders.tables import InvoiceRow, OrderLineRow, OrderRow
from retailcore.pos.tables import PosCashMovement, PosSession

D = Decimal
API = "/api/v1"
runner = CliRunner()
SOLD_AT = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()  # inside the till clock window
VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20", "price_included": True}


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


class Shop:
    """What the tests need from the data built over HTTP, and readers of the database."""

    def __init__(self, runtime, client, admin, company_id: str) -> None:
        self.runtime, self.client, self.admin, self.company_id = runtime, client, admin, company_id
        self.stores: dict[str, str] = {}
        self.products: dict[str, str] = {}
        self.customer = ""
        self.terminal = ""

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = self.client.post(f"{API}/{path}", json=body, headers=self.admin)
        assert response.status_code == status, response.text
        return response.json()

    def order(self, sku_quantities: list[tuple[str, str]], **fields: Any) -> dict[str, Any]:
        lines = [{"product_id": self.products[sku], "quantity": qty} for sku, qty in sku_quantities]
        return self.post("orders", {"company_id": self.company_id, "lines": lines, **fields})

    def on_hand(self, sku: str, store: str) -> Decimal:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(i.StockQuant.quantity)
                .join(Location, Location.id == i.StockQuant.location_id)
                .where(
                    i.StockQuant.product_id == uuid.UUID(self.products[sku]),
                    Location.store_id == uuid.UUID(self.stores[store]),
                    Location.kind == "stock",
                )
            )

    def count(self, *where: Any, model: Any = OrderRow) -> int:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where))

    def order_row(self, number: str) -> OrderRow:
        with self.runtime.session_factory() as session:
            row = session.scalar(select(OrderRow).where(OrderRow.number == number))
            assert row is not None
            session.expunge(row)
            return row

    def entries_of(self, event_type: str, aggregate_id: Any) -> list[a.JournalEntry]:
        with self.runtime.session_factory() as session:
            return list(
                session.scalars(
                    select(a.JournalEntry)
                    .join(Event, Event.id == a.JournalEntry.event_id)
                    .where(Event.type == event_type, Event.aggregate_id == uuid.UUID(str(aggregate_id)))
                )
            )

    def sale(self, *lines: tuple[str, str, str], paid: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": SOLD_AT,
            "lines": [
                {"product_id": self.products[sku], "quantity": qty, "unit_price": price}
                for sku, qty, price in lines
            ],
            "payments": [{"payment_method_code": code, "amount": amount} for code, amount in paid],
        }

    def open_session(self, opening_float: str = "0") -> str:
        return self.post("pos/sessions", {"terminal_id": self.terminal, "opening_float": opening_float})["id"]


@pytest.fixture
def shop(runtime, client, admin, company, store_factory) -> Shop:
    s = Shop(runtime, client, admin, company["id"])
    s.stores = {"S1": store_factory("S1")["id"], "W1": store_factory("W1", kind="warehouse")["id"]}
    s.post(
        "tax-rules",
        {"company_id": s.company_id, "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]},
    )
    for code, kind, gateway in (("CASH", "cash", None), ("CARD", "card", "stripe")):
        s.post(
            "payment-methods",
            {"company_id": s.company_id, "code": code, "name": code, "kind": kind, "gateway": gateway},
        )
    for sku, price, category in (("SHIRT", "30.00", "Apparel"), ("MUG", "12.00", "Home")):
        body = {
            "company_id": s.company_id,
            "sku": sku,
            "name": sku,
            "category": category,
            "list_price": price,
            "cost_method": "average",
            "channels": ["pos", "web", "marketplace"],
        }
        s.products[sku] = s.post("products", body)["id"]
    s.customer = s.post(
        "customers", {"company_id": s.company_id, "code": "BIGCO", "name": "Big Co", "credit_limit": "5000"}
    )["id"]
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, uuid.UUID(s.company_id))
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_row.id, Location.kind == "supplier")
        )
        lines = []
        for store_id in s.stores.values():
            stock = session.scalar(
                select(Location.id).where(Location.store_id == uuid.UUID(store_id), Location.kind == "stock")
            )
            lines.append(MoveLine(uuid.UUID(s.products["SHIRT"]), D(5), supplier, stock, D("10.00")))
            lines.append(MoveLine(uuid.UUID(s.products["MUG"]), D(5), supplier, stock, D("4.00")))
        move_stock(
            session,
            CommandContext(system_principal("test")),
            company_row,
            kind="receipt",
            lines=lines,
            date=dt.date(2026, 3, 1),
        )
    s.terminal = s.post(
        "pos/terminals",
        {"company_id": s.company_id, "store_id": s.stores["S1"], "code": "T1", "name": "Till 1"},
    )["id"]
    return s


def write_json(path: Path, sales: list[dict[str, Any]], wrapped: bool = False) -> Path:
    path.write_text(json.dumps({"sales": sales} if wrapped else sales))
    return path


def write_ndjson(path: Path, sales: list[dict[str, Any]]) -> Path:
    # Amounts as JSON numbers ("30.00" -> 30.00): the CLI must read them as Decimal, not float.
    lines = [re.sub(r'"(\d+\.\d+)"', r"\1", json.dumps(sale)) for sale in sales]
    path.write_text("\n".join(lines) + "\n\n")
    return path


# -- pos ingest -----------------------------------------------------------------------------------


def test_ingest_a_file_twice_takes_each_sale_once(shop, tmp_path: Path):
    session_id = shop.open_session()
    sales = [
        shop.sale(("SHIRT", "1", "30.00"), paid=[("CASH", "30.00")]),
        shop.sale(("MUG", "2", "12.00"), paid=[("CARD", "24.00")]),
        shop.sale(("SHIRT", "1", "30.00"), ("MUG", "1", "12.00"), paid=[("CASH", "50.00")]),
    ]
    ndjson = write_ndjson(tmp_path / "sales.ndjson", sales)
    assert '"unit_price": 30.00}' in ndjson.read_text()  # numbers, not strings

    first = cli("pos", "ingest", session_id, str(ndjson), "--batch-size", "2")

    assert first.exit_code == 0, first.output
    assert "3 sales in 2 batches: 3 accepted, 0 duplicates, 0 rescued" in first.stdout
    assert "3/3" in first.stderr  # the progress bar, on stderr
    assert shop.count(OrderRow.channel == "pos") == 3
    assert (shop.on_hand("SHIRT", "S1"), shop.on_hand("MUG", "S1")) == (D(3), D(2))
    with shop.runtime.session_factory() as session:
        pos_session = session.get(PosSession, uuid.UUID(session_id))
        assert pos_session.sale_count == 3
        change = session.scalar(select(OrderRow.change_given).where(OrderRow.number == "T1-0001-00003"))
        assert change == D("8.00")

    # The same sales again, as a JSON file this time: all duplicates, nothing moves.
    again = cli("pos", "ingest", session_id, str(write_json(tmp_path / "sales.json", sales, wrapped=True)))

    assert again.exit_code == 0, again.output
    assert "3 sales in 1 batch: 0 accepted, 3 duplicates, 0 rescued" in again.stdout
    assert shop.count(OrderRow.channel == "pos") == 3
    assert (shop.on_hand("SHIRT", "S1"), shop.on_hand("MUG", "S1")) == (D(3), D(2))

    shown = cli("pos", "show", session_id)
    assert shown.exit_code == 0, shown.output
    assert "sales: 3" in shown.stdout
    assert "expected cash so far: 72.00" in shown.stdout  # 30.00 + 50.00 - 8.00 change
    assert re.search(r"\ntender\s+card\|stripe\s+0\.00\s+0\.00\s+0\.00\s+24\.00\n", shown.stdout)
    document = json.loads(cli("pos", "show", session_id, "--output", "json").stdout)
    assert document["id"] == session_id and document["sale_count"] == 3
    tenders = {total["key"]: total["amount"] for total in document["totals"] if total["kind"] == "tender"}
    assert tenders == {"card|stripe": "24.00", "cash|": "72.00"}


def test_ingest_prints_the_code_of_a_gift_card_sold_at_the_till_once(shop, tmp_path: Path):
    from retailcore.payments.services import find_gift_card

    session_id = shop.open_session()
    sale = {**shop.sale(("MUG", "1", "12.00"), paid=[("CASH", "62.00")]), "gift_cards": [{"amount": "50.00"}]}
    file = write_json(tmp_path / "cards.json", [sale])
    first = cli("pos", "ingest", session_id, str(file))
    assert first.exit_code == 0, first.output
    found = re.search(r"gift card \*\*\*\*(\w{4}) 50\.00 sold by sale [-\w]+: code ([-\w]{19})", first.stdout)
    assert found, first.stdout
    with shop.runtime.session_factory() as session:
        card = find_gift_card(session, uuid.UUID(shop.company_id), found.group(2))
        assert (card.balance, card.last4) == (D("50.00"), found.group(1))
    again = cli("pos", "ingest", session_id, str(file))
    assert "0 accepted, 1 duplicates" in again.stdout and "gift card" not in again.stdout


def test_a_refused_sale_stops_at_its_batch_and_writes_nothing_of_it(shop, tmp_path: Path):
    session_id = shop.open_session()
    good = [shop.sale(("MUG", "1", "12.00"), paid=[("CASH", "12.00")]) for _ in range(2)]
    unknown = shop.sale(("MUG", "1", "12.00"), paid=[("CASH", "12.00")])
    unknown["lines"][0]["product_id"] = str(uuid.uuid4())
    bad_batch = [shop.sale(("SHIRT", "1", "30.00"), paid=[("CASH", "30.00")]), unknown]
    file = write_json(tmp_path / "sales.json", good + bad_batch)

    result = cli("pos", "ingest", session_id, str(file), "--batch-size", "2")

    assert result.exit_code == 1
    assert "batch 2 of 2 (sales 2 to 3 of the file) was refused" in result.stderr
    assert "batch 2, sale index 1 (sales.3 of the file) lines.0.product_id: no such product" in result.stderr
    assert "1 batch (2 sales) was committed before it" in result.stderr
    assert "accepted" not in result.stdout
    # The first batch is in; nothing of the second (not even its valid shirt sale).
    assert shop.count(OrderRow.channel == "pos") == 2
    assert (shop.on_hand("MUG", "S1"), shop.on_hand("SHIRT", "S1")) == (D(3), D(5))
    with shop.runtime.session_factory() as session:
        assert session.get(PosSession, uuid.UUID(session_id)).sale_count == 2


def test_a_malformed_sale_in_the_file_sends_nothing(shop, tmp_path: Path):
    session_id = shop.open_session()
    good = shop.sale(("MUG", "1", "12.00"), paid=[("CASH", "12.00")])
    zero = shop.sale(("MUG", "0", "12.00"), paid=[("CASH", "12.00")])  # negative is a refund line
    file = write_ndjson(tmp_path / "sales.jsonl", [good, zero])

    result = cli("pos", "ingest", session_id, str(file))

    assert result.exit_code == 1
    assert "sales.1 (line 2) [batch 1, index 1] lines.0.quantity" in result.stderr
    assert "1 malformed sale in the file; nothing was sent" in result.stderr
    assert shop.count(OrderRow.channel == "pos") == 0
    assert shop.on_hand("MUG", "S1") == D(5)

    not_json = tmp_path / "broken.json"
    not_json.write_text('[{"client_uuid": ')
    broken = cli("pos", "ingest", session_id, str(not_json))
    assert broken.exit_code == 1 and "broken.json is not JSON" in broken.stderr


# -- pos open, cash, close ------------------------------------------------------------------------


def test_open_cash_and_close_print_the_expected_cash_and_record_the_closing(shop, tmp_path: Path):
    opened = cli("pos", "open", "--company", "ACME", "--terminal", "T1", "--float", "100.00")

    assert opened.exit_code == 0, opened.output
    match = re.search(r"opened session T1/1 with a float of 100\.00 EUR: (\S+)", opened.stdout)
    assert match, opened.stdout
    session_id = match.group(1)
    sales = [
        shop.sale(("SHIRT", "1", "30.00"), paid=[("CASH", "30.00")]),
        shop.sale(("MUG", "1", "12.00"), paid=[("CARD", "12.00")]),
    ]
    assert cli("pos", "ingest", session_id, str(write_json(tmp_path / "s.json", sales))).exit_code == 0

    put = cli("pos", "cash", session_id, "--in", "20.00", "--reason", "change [coins]")
    took = cli("pos", "cash", session_id, "--out", "50.00", "--reason", "to the safe")

    assert put.exit_code == 0, put.output
    assert "expected cash now 150.00" in put.stdout
    assert took.exit_code == 0, took.output
    assert "expected cash now 100.00" in took.stdout
    assert shop.count(PosCashMovement.session_id == uuid.UUID(session_id), model=PosCashMovement) == 2

    listed = cli("pos", "sessions", "--company", "ACME", "--state", "open", "--output", "json")
    assert listed.exit_code == 0, listed.output
    assert [(s["id"], s["terminal"], s["state"]) for s in json.loads(listed.stdout)] == [
        (session_id, "T1", "open")
    ]

    closed = cli("pos", "close", session_id, "--counted", "CASH=99.50", "--counted", "CARD=12.00")

    assert closed.exit_code == 0, closed.output
    assert "expected cash: 100.00 EUR" in closed.stdout
    assert "cash difference: -0.50 EUR" in closed.stdout
    assert "difference cash: -0.50" in closed.stdout
    assert "difference card|stripe: 0.00" in closed.stdout
    event_id = re.search(r"closing event: (\S+)", closed.stdout).group(1)
    with shop.runtime.session_factory() as session:
        row = session.get(PosSession, uuid.UUID(session_id))
        assert (row.state, row.expected_cash, row.cash_difference) == ("closed", D("100.00"), D("-0.50"))
        assert str(row.closing_event_id) == event_id
        event = session.scalar(select(Event).where(Event.id == row.closing_event_id))
        assert (event.type, event.aggregate_id) == ("PosSessionClosed", row.id)
    # The ledger posted the close in the same transaction.
    assert len(shop.entries_of("PosSessionClosed", session_id)) == 1

    again = cli("pos", "close", session_id, "--counted", "CASH=99.50")
    assert again.exit_code == 1 and "already closed" in again.stderr
    assert cli("pos", "sessions", "--company", "ACME", "--state", "open").stdout.startswith("no POS sessions")

    # A till that syncs late: its sale goes to the terminal's rescue session, never lost.
    late = [shop.sale(("MUG", "1", "12.00"), paid=[("CASH", "12.00")])]
    rescued = cli("pos", "ingest", session_id, str(write_json(tmp_path / "late.json", late)))
    assert rescued.exit_code == 0, rescued.output
    assert "1 sale in 1 batch: 1 accepted, 0 duplicates, 1 rescued" in rescued.stdout
    with shop.runtime.session_factory() as session:
        rescue = session.scalar(select(PosSession).where(PosSession.is_rescue.is_(True)))
        assert (rescue.state, rescue.sale_count, rescue.number) == ("open", 1, 2)
    assert f"1 sale went to the rescue session {rescue.id}" in rescued.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["pos", "open", "--company", "ACME", "--terminal", "T1", "--float", "12,50"],
        ["pos", "open", "--company", "ACME", "--terminal", "T1", "--float", "-1"],
        ["pos", "open", "--company", "ACME", "--terminal", "T1", "--float", "NaN"],
        ["pos", "open", "--company", "ACME", "--terminal", "T1", "--float", "1.00001"],
    ],
)
def test_a_malformed_money_option_is_a_usage_error(shop, args):
    result = cli(*args)

    assert result.exit_code == 2, result.output
    assert "--float" in result.stderr
    assert shop.count(model=PosSession) == 0


def test_malformed_cash_and_counted_options_are_usage_errors(shop):
    session_id = shop.open_session("10.00")
    cases = [
        (["pos", "cash", session_id, "--in", "abc", "--reason", "x"], "--in"),
        (["pos", "cash", session_id, "--out", "0", "--reason", "x"], "--out"),
        (["pos", "cash", session_id, "--in", "1", "--out", "1", "--reason", "x"], "exactly one"),
        (["pos", "close", session_id, "--counted", "CASH=1e"], "--counted"),
        (["pos", "close", session_id, "--counted", "CASH"], "--counted"),
        (["pos", "close", "not-a-uuid"], "SESSION_ID"),
        (["pos", "ingest", session_id, "x.json", "--batch-size", "1001"], "--batch-size"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert shop.count(model=PosCashMovement) == 0
    with shop.runtime.session_factory() as session:
        assert session.get(PosSession, uuid.UUID(session_id)).state == "open"
    # Well-formed but too many decimals for EUR: the service refuses it (an expected failure).
    refused = cli("pos", "cash", session_id, "--in", "1.005", "--reason", "x")
    assert refused.exit_code == 1 and "more decimals than the currency" in refused.stderr


# -- orders ---------------------------------------------------------------------------------------


def test_list_show_fulfil_and_cancel_a_web_order(shop):
    order = shop.order([("SHIRT", "2"), ("MUG", "1")], channel="web", fulfillment_mode="ship")
    shop.post(
        f"orders/{order['id']}/payments",
        {"gateway": "stripe", "reference": "pi_1", "amount": "72.00"},
        status=200,
    )
    other = shop.order([("MUG", "1")], channel="web")
    number = order["number"]

    listed = cli("orders", "list", "--company", "ACME", "--channel", "web")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if number in line)
    assert re.search(r"web\s+confirmed\s+W1\s+72\.00\s+72\.00\s+72\.00", row)  # at 80 columns, no mode
    assert other["number"] in listed.stdout
    rows = json.loads(cli("orders", "list", "--company", "ACME", "--channel", "web", "-o", "json").stdout)
    assert rows[0] == {
        "number": number,
        "channel": "web",
        "fulfillment_mode": "ship",
        "state": "confirmed",
        "store": "W1",
        "gross_total": "72.00",
        "paid_amount": "72.00",
        "deposit_balance": "72.00",
        "receivable_balance": "0.00",
        "invoice_number": None,
    }
    limited = cli("orders", "list", "--company", "ACME", "--limit", "1")
    assert number in limited.stdout and other["number"] not in limited.stdout
    assert "showing the first 1 orders" in limited.stderr

    shown = cli("orders", "show", number, "--company", "ACME")
    assert shown.exit_code == 0, shown.output
    assert f"order {number}  web/ship  confirmed" in shown.stdout
    shirt_line = order["lines"][0]["id"]
    assert "SHIRT" in shown.stdout and "stripe" in shown.stdout
    assert cli("orders", "show", order["id"], "--company", "ACME").stdout == shown.stdout
    document = json.loads(cli("orders", "show", number, "--company", "ACME", "-o", "json").stdout)
    assert document["lines"][0]["id"] == shirt_line and document["payments"][0]["reference"] == "pi_1"

    partial = cli("orders", "fulfil", number, "--company", "ACME", "--line", f"{shirt_line}=1")
    assert partial.exit_code == 0, partial.output
    assert f"order {number} is partially_fulfilled" in partial.stdout
    with shop.runtime.session_factory() as session:
        fulfilled = dict(
            session.execute(
                select(OrderLineRow.position, OrderLineRow.fulfilled_quantity).where(
                    OrderLineRow.order_id == uuid.UUID(order["id"])
                )
            ).all()
        )
    assert fulfilled == {1: D(1), 2: D(0)}
    assert len(shop.entries_of("OrderFulfilled", order["id"])) == 1
    assert shop.on_hand("SHIRT", "W1") == D(4)

    # The rest by position: line 2 (the mug) in full; then the last shirt is cancelled.
    second = cli("orders", "fulfil", number, "--company", "ACME", "--line", "2=1")
    assert second.exit_code == 0, second.output
    cancelled = cli("orders", "cancel", number, "--company", "ACME", "--reason", "shirt [out] of stock")
    assert cancelled.exit_code == 0, cancelled.output
    assert f"order {number} is fulfilled: gross 72.00, paid 42.00, deposit 0.00" in cancelled.stdout
    row = shop.order_row(number)
    assert (row.state, row.reason) == ("fulfilled", "shirt [out] of stock")
    assert len(shop.entries_of("PaymentRefunded", order["id"])) == 1

    whole = cli("orders", "cancel", other["number"], "--company", "ACME")
    assert whole.exit_code == 0, whole.output
    assert shop.order_row(other["number"]).state == "cancelled"
    with shop.runtime.session_factory() as session:
        states = session.scalars(select(Reservation.state).where(Reservation.order_ref == other["number"]))
        assert list(states) == ["released"]

    again = cli("orders", "cancel", other["number"], "--company", "ACME")
    assert again.exit_code == 1 and "error:" in again.stderr


def test_fulfil_and_invoice_a_b2b_order_then_list_the_invoices(shop):
    order = shop.order([("SHIRT", "1"), ("MUG", "2")], channel="b2b", customer_id=shop.customer)
    number = order["number"]

    early = cli("orders", "invoice", number, "--company", "ACME")
    assert early.exit_code == 1 and "is confirmed: an order is invoiced once fulfilled" in early.stderr
    assert shop.count(model=InvoiceRow) == 0

    done = cli("orders", "fulfil", number, "--company", "ACME")
    assert done.exit_code == 0, done.output
    assert (
        f"order {number} is fulfilled: gross 54.00, paid 0.00, deposit 0.00, receivable 54.00" in done.stdout
    )

    invoiced = cli("orders", "invoice", number, "--company", "ACME", "--customer", "BIGCO")

    assert invoiced.exit_code == 0, invoiced.output
    year = dt.datetime.now(dt.UTC).year
    assert f"invoice INV-{year}-000001 for order {number}: gross 54.00, due 54.00 EUR" in invoiced.stdout
    row = shop.order_row(number)
    assert row.state == "invoiced"
    with shop.runtime.session_factory() as session:
        invoice = session.scalar(select(InvoiceRow).where(InvoiceRow.order_id == row.id))
        assert (invoice.number, invoice.gross_total, invoice.posting) == (
            f"INV-{year}-000001",
            D("54.00"),
            "document",
        )

    listed = cli("orders", "invoices", "--company", "ACME", "--customer", "BIGCO", "--from", f"{year}-01-01")
    assert listed.exit_code == 0, listed.output
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert re.search(
        rf"INV-{year}-000001\s+{today}\s+{number}\s+BIGCO\s+54\.00\s+54\.00\s+document", listed.stdout
    ), listed.stdout
    as_csv = cli("orders", "invoices", "--company", "ACME", "--customer", "BIGCO", "--output", "csv").stdout
    assert as_csv.splitlines() == [
        "number,date,order_number,customer,gross_total,amount_due,currency,posting",
        f"INV-{year}-000001,{today},{number},BIGCO,54.00,54.00,EUR,document",
    ]
    none = cli("orders", "invoices", "--company", "ACME", "--to", f"{year - 1}-12-31")
    assert none.exit_code == 0 and "no invoices in ACME" in none.stdout
    listed_b2b = cli("orders", "list", "--company", "ACME", "--state", "invoiced")
    assert f"INV-{year}-000001" in listed_b2b.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["orders", "show", "[bold]SO-9", "--company", "ACME"], 1, "no order '[bold]SO-9' in company ACME"),
        (["orders", "show", "SO-000001", "--company", "NOPE"], 1, "no company 'NOPE'"),
        (["orders", "fulfil", "SO-000001", "--company", "ACME", "--line", "1=x"], 2, "--line"),
        (["orders", "fulfil", "SO-000001", "--company", "ACME", "--line", "9=1"], 1, "has no line '9'"),
        (["orders", "invoices", "--company", "ACME", "--from", "01/03/2026"], 2, "is not a date"),
        (["orders", "list", "--company", "ACME", "--channel", "fax"], 2, "--channel"),
    ],
)
def test_order_commands_refuse_what_does_not_exist_or_is_malformed(shop, args, code, message):
    shop.order([("MUG", "1")], channel="web")

    result = cli(*args)

    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert shop.order_row("SO-000001").state == "confirmed"


# -- sweep ------------------------------------------------------------------------------------------


def test_sweep_cancels_overdue_unpaid_orders_and_expires_due_carts(shop):
    two_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    shirt = uuid.UUID(shop.products["SHIRT"])
    with transaction(shop.runtime.session_factory) as session:
        company_row = session.get(Company, uuid.UUID(shop.company_id))
        ctx = CommandContext(system_principal("test"), occurred_at=two_days_ago)
        body = svc.PlaceOrder(lines=[svc.LineIn(product_id=shirt, quantity=D(1))])
        overdue = svc.place_order(session, ctx, company_row, body)
        stock = session.scalar(
            select(Location.id).where(
                Location.store_id == uuid.UUID(shop.stores["S1"]), Location.kind == "stock"
            )
        )
        r.reserve(
            session,
            ctx,
            company_row,
            product_id=shirt,
            location_id=stock,
            quantity=D(1),
            channel="web",
            order_ref="CART-1",
            expires_at=two_days_ago + dt.timedelta(minutes=30),
            now=two_days_ago,
        )
    fresh = shop.order([("MUG", "1")])
    assert "payment due by: " in cli("orders", "show", fresh["number"], "--company", "ACME").stdout

    swept = cli("orders", "sweep")

    assert swept.exit_code == 0, swept.output
    assert f"ACME: cancelled 1 unpaid orders ({overdue.number}), expired 1 reservations" in swept.stdout
    assert shop.order_row(overdue.number).state == "cancelled"
    assert shop.order_row(fresh["number"]).state == "confirmed"
    assert shop.count(Reservation.state == "expired", model=Reservation) == 1

    again = cli("orders", "sweep", "--company", "ACME")
    assert again.exit_code == 0, again.output
    assert "ACME: cancelled 0 unpaid orders (none), expired 0 reservations" in again.stdout

    unknown = cli("orders", "sweep", "--company", "NOPE")
    assert unknown.exit_code == 1
    assert "no company 'NOPE'" in unknown.stderr
