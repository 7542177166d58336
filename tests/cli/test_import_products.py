"""``retailcore import products``: the real CLI against the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, event, func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata import tables as t
from retailcore.masterdata.barcodes import gtin_check_digit
from retailcore.masterdata.importing import import_products
from retailcore.masterdata.views import ProductView

HEADER = ("sku", "name", "category", "list_price", "standard_cost", "barcodes", "channels", "active")


@pytest.fixture
def acme(runtime: Runtime) -> t.Company:
    """A company ACME, made through the service the API uses."""
    with transaction(runtime.session_factory) as session:
        return s.create_company(
            session,
            CommandContext(system_principal()),
            c.CreateCompany(code="ACME", name="Acme Retail", currency="EUR", country="FR"),
        )


def gtin(number: int) -> str:
    """A valid GTIN-13 made from ``number`` (distinct numbers give distinct codes)."""
    body = f"200{number:09d}"
    return body + gtin_check_digit(body)


def catalog(count: int, *, price: str = "19.99") -> list[dict[str, str]]:
    return [
        {
            "sku": f"SKU-{i:05d}",
            "name": f"Product {i}",
            "category": f"Apparel/Line {i % 10}",
            "list_price": price,
            "standard_cost": "7.123456",
            "barcodes": gtin(i),
            "channels": "pos|web",
            "active": "yes",
        }
        for i in range(count)
    ]


def write_csv(path: Path, rows: Iterable[dict[str, str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_import(path: Path, *options: str) -> Result:
    # Wide enough that rich does not wrap the problem lines the assertions look for.
    return CliRunner().invoke(app, ["import", "products", str(path), *options], env={"COLUMNS": "500"})


def product_count(runtime: Runtime) -> int:
    with transaction(runtime.session_factory) as session:
        return session.scalar(select(func.count()).select_from(t.Product)) or 0


def events_of(runtime: Runtime, type: str) -> list[Event]:
    with transaction(runtime.session_factory) as session:
        return list(session.scalars(select(Event).where(Event.type == type).order_by(Event.position)))


def product(runtime: Runtime, sku: str) -> t.Product:
    with transaction(runtime.session_factory) as session:
        found = session.scalar(select(t.Product).where(t.Product.sku == sku))
        assert found is not None, sku
        return found


# -- the bulk path ----------------------------------------------------------------------------------


def test_imports_ten_thousand_products(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "catalog.csv", catalog(10_000))

    statements: list[str] = []

    def count(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    # Every engine's, as the CLI makes its own: how many statements the import sends, not how long
    # it takes (speed lives in benchmarks/import_products.py, timings in a test only make it flaky).
    event.listen(Engine, "before_cursor_execute", count)
    try:
        result = run_import(path)
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    assert result.exit_code == 0, result.output
    assert "10000/10000" in result.stderr  # the progress bar's final count
    assert "imported 10000 new and 0 changed products (0 unchanged) into ACME" in result.stdout
    assert product_count(runtime) == 10_000
    created = events_of(runtime, "ProductCreated")
    assert len(created) == 10_000
    # Products and barcodes go in set-based, a few statements per chunk of rows. The events still go one
    # INSERT per row (the ORM fetches each one's log position): a known cost, left for a later change.
    per_row = [sql for sql in statements if not sql.startswith("INSERT INTO events")]
    assert len(per_row) < 200, f"10,000 products took {len(per_row)} statements besides their events"

    # The event is the one services.create records: {"after": the product as the API shows it}.
    last = product(runtime, "SKU-09999")
    assert created[-1].aggregate_id == last.id
    assert created[-1].aggregate_type == "Product"
    assert created[-1].actor == "cli:import"
    assert created[-1].payload == {"after": ProductView.of(last).model_dump(mode="json")}
    assert created[-1].payload["after"]["barcodes"] == [gtin(9999)]
    # One command, one correlation id.
    assert len({e.correlation_id for e in created}) == 1


def test_one_bad_row_rejects_the_whole_file(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    rows = catalog(10_000)
    rows[4_999]["list_price"] = "-1.00"  # the 5,000th data row, on line 5,001
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path)

    assert result.exit_code == 1
    assert "line 5001: list_price: Input should be greater than or equal to 0" in result.stderr
    assert "1 of 10000 rows is invalid; nothing was imported" in result.stderr
    assert product_count(runtime) == 0
    assert events_of(runtime, "ProductCreated") == []


def test_creates_query_the_database_a_few_times_not_once_per_row(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "catalog.csv", catalog(1_200))
    selects: list[str] = []

    def count_selects(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with transaction(runtime.session_factory) as session:
        company = session.get(t.Company, acme.id)
        assert company is not None
        calls: list[tuple[int, int]] = []
        event.listen(runtime.engine, "before_cursor_execute", count_selects)
        try:
            report = import_products(
                session,
                CommandContext(system_principal("test")),
                company,
                path,
                skip_invalid=False,
                progress=lambda done, total: calls.append((done, total)),
            )
        finally:
            event.remove(runtime.engine, "before_cursor_execute", count_selects)

    assert report.created == 1_200
    # Existing SKUs and barcodes in use, 3 chunks of 500 each (PostgreSQL inserts the events with an
    # INSERT ... SELECT, which is not a lookup).
    assert len([q for q in selects if "INSERT" not in q.upper()]) == 6
    assert calls[0] == (0, 1_200)
    assert calls[-1] == (1_200, 1_200)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


# -- invalid rows -----------------------------------------------------------------------------------


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = catalog(6)
    rows[1]["list_price"] = "abc"
    rows[3]["channels"] = "pos|shop"
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path, "--skip-invalid")

    assert result.exit_code == 0, result.output
    assert "imported 4 new and 0 changed products (0 unchanged) into ACME" in result.stdout
    assert "skipped 2 invalid rows:" in result.stderr
    assert "line 3: list_price: Input should be a valid decimal" in result.stderr
    assert "line 5: channels (item 2): Input should be 'pos', 'web' or 'marketplace'" in result.stderr
    assert product_count(runtime) == 4
    assert len(events_of(runtime, "ProductCreated")) == 4


def test_without_skip_invalid_every_bad_row_is_listed(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = catalog(5)
    rows[0]["name"] = ""
    rows[2]["standard_cost"] = "1.1234567"
    rows[4]["active"] = "maybe"
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path)

    assert result.exit_code == 1
    assert "line 2: name: required" in result.stderr
    assert "line 4: standard_cost: Decimal input should have no more than 6 decimal places" in result.stderr
    assert "line 6: active: expected true/false, 1/0 or yes/no, not 'maybe'" in result.stderr
    assert "3 of 5 rows are invalid; nothing was imported" in result.stderr
    assert product_count(runtime) == 0


def test_a_nul_in_a_cell_is_refused_like_through_the_api(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = catalog(3)
    rows[1]["name"] = "Tea\x00bag"  # PostgreSQL cannot store it; SQLite would keep it silently
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path)

    assert result.exit_code == 1
    assert "line 3: name: Text must not contain the NUL character (U+0000)" in result.stderr
    assert product_count(runtime) == 0


def test_duplicate_sku_in_the_file_is_an_error_on_the_later_row(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = catalog(3)
    rows[2]["sku"] = rows[0]["sku"]
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path)

    assert result.exit_code == 1
    assert "line 4: sku 'SKU-00000' appears twice in the file (also line 2)" in result.stderr
    assert "line 2:" not in result.stderr
    assert product_count(runtime) == 0


def test_duplicate_barcode_in_the_file_is_an_error_on_the_later_row(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = catalog(3)
    rows[1]["barcodes"] = f"{gtin(100)}|{rows[0]['barcodes']}"
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path, "--skip-invalid")

    assert result.exit_code == 0, result.output
    assert f"line 3: barcodes: '{gtin(0)}' is also on line 2 (sku SKU-00000)" in result.stderr
    assert product_count(runtime) == 2


def test_barcode_of_another_product_is_an_error(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    with transaction(runtime.session_factory) as session:
        s.create(
            session,
            CommandContext(system_principal()),
            s.PRODUCT,
            c.CreateProduct(
                company_id=acme.id,
                sku="SKU-9",
                name="Mug",
                category="Home",
                list_price=Decimal("5"),
                barcodes=["4006381333931"],
            ),
        )
    taker = catalog(2)[1] | {"barcodes": f"{gtin(1)}|4006381333931"}

    result = run_import(write_csv(tmp_path / "taker.csv", [taker]))

    assert result.exit_code == 1
    assert "line 2: barcodes: '4006381333931' already belongs to product SKU-9" in result.stderr
    assert product_count(runtime) == 1

    # The product that has the barcode may keep it.
    owner = catalog(1)[0] | {"sku": "SKU-9", "name": "Big mug", "barcodes": "4006381333931"}
    result = run_import(write_csv(tmp_path / "owner.csv", [owner]))

    assert result.exit_code == 0, result.output
    assert "imported 0 new and 1 changed products (0 unchanged)" in result.stdout
    assert product(runtime, "SKU-9").name == "Big mug"


# -- updates ----------------------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "catalog.csv", catalog(300))
    assert run_import(path).exit_code == 0
    events_before = len(events_of(runtime, "ProductCreated"))

    result = run_import(path)

    assert result.exit_code == 0, result.output
    assert "imported 0 new and 0 changed products (300 unchanged) into ACME" in result.stdout
    assert len(events_of(runtime, "ProductCreated")) == events_before == 300
    assert events_of(runtime, "ProductUpdated") == []
    assert product(runtime, "SKU-00042").version == 1


def test_changed_rows_update_the_product_and_record_product_updated(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    assert run_import(write_csv(tmp_path / "first.csv", catalog(10))).exit_code == 0
    rows = catalog(12)  # two new products
    rows[3]["list_price"] = "24.50"
    rows[7]["barcodes"] = f"{gtin(7)}|{gtin(700)}"
    rows[7]["channels"] = "web|marketplace"

    result = run_import(write_csv(tmp_path / "second.csv", rows))

    assert result.exit_code == 0, result.output
    assert "imported 2 new and 2 changed products (8 unchanged) into ACME" in result.stdout
    updated = events_of(runtime, "ProductUpdated")
    assert [e.payload["after"]["sku"] for e in updated] == ["SKU-00003", "SKU-00007"]
    assert updated[0].payload["changes"] == {"list_price": {"from": "19.99", "to": "24.50"}}
    assert updated[1].payload["changes"] == {
        "barcodes": {"from": [gtin(7)], "to": [gtin(7), gtin(700)]},
        "channels": {"from": ["pos", "web"], "to": ["web", "marketplace"]},
    }
    changed = product(runtime, "SKU-00003")
    assert changed.list_price == Decimal("24.50")
    assert changed.version == 2
    assert updated[0].payload["after"] == ProductView.of(changed).model_dump(mode="json")
    assert product(runtime, "SKU-00004").version == 1
    assert len(events_of(runtime, "ProductCreated")) == 12


def test_columns_absent_from_the_file_are_left_alone_on_update(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    assert run_import(write_csv(tmp_path / "first.csv", catalog(2))).exit_code == 0
    prices = [{"sku": "SKU-00000", "name": "Product 0", "category": "Apparel/Line 0", "list_price": "9.99"}]

    result = run_import(write_csv(tmp_path / "prices.csv", prices, header=list(prices[0])))

    assert result.exit_code == 0, result.output
    assert "imported 0 new and 1 changed products (0 unchanged)" in result.stdout
    updated = product(runtime, "SKU-00000")
    assert updated.list_price == Decimal("9.99")
    assert updated.standard_cost == Decimal("7.123456")
    assert [b.barcode for b in updated.barcodes] == [gtin(0)]


# -- the file ---------------------------------------------------------------------------------------


def test_unknown_columns_refuse_the_whole_file(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    rows = [{**row, "colour": "red", "size": "M"} for row in catalog(3)]
    path = write_csv(tmp_path / "catalog.csv", rows, header=[*HEADER, "colour", "size"])

    result = run_import(path, "--skip-invalid")

    assert result.exit_code == 1
    assert "unknown columns: colour, size" in result.stderr
    assert "the header row is invalid; nothing was imported" in result.stderr
    assert product_count(runtime) == 0


def test_missing_required_columns_refuse_the_whole_file(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    rows = [{"sku": "A", "name": "Apple"}]
    path = write_csv(tmp_path / "catalog.csv", rows, header=["sku", "name"])

    result = run_import(path)

    assert result.exit_code == 1
    assert "missing required columns: category, list_price" in result.stderr
    assert product_count(runtime) == 0


def test_decimals_round_trip_exactly(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    rows = catalog(2)
    rows[0].update(list_price="0.1", standard_cost="12.345678")
    rows[1].update(list_price="1234567.0001", standard_cost="0.000001")
    path = write_csv(tmp_path / "catalog.csv", rows)

    result = run_import(path)

    assert result.exit_code == 0, result.output
    first, second = product(runtime, "SKU-00000"), product(runtime, "SKU-00001")
    assert (first.list_price, first.standard_cost) == (Decimal("0.1"), Decimal("12.345678"))
    assert (second.list_price, second.standard_cost) == (Decimal("1234567.0001"), Decimal("0.000001"))
    created = events_of(runtime, "ProductCreated")
    assert created[0].payload["after"]["list_price"] == "0.10"
    assert created[0].payload["after"]["standard_cost"] == "12.345678"


def test_spreadsheet_export_with_bom_quotes_and_defaults(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffSKU,Name,Category,List_Price,Description,Channels,Active,Barcodes\r\n"
        'TEA-1,"Tea, green",Food/Tea,4.5,"Two\r\nlines",,,\r\n'
        "\r\n"
        ",,,,,,,\r\n"
        "TEA-2,Tea black,Food/Tea,-4.5,,marketplace,no,\r\n".encode()
    )

    result = run_import(path, "--skip-invalid")

    assert result.exit_code == 0, result.output
    # The quoted cell spans lines 2-3; blank and empty rows are skipped but still counted as lines.
    assert "line 6: list_price: Input should be greater than or equal to 0" in result.stderr
    tea = product(runtime, "TEA-1")
    assert tea.name == "Tea, green"
    assert tea.description == "Two\r\nlines"
    assert (tea.unit_of_measure, tea.tax_category, tea.cost_method) == ("unit", "standard", "fifo")
    assert (tea.standard_cost, tea.active) == (Decimal(0), True)
    assert (tea.available_pos, tea.available_web, tea.available_marketplace) == (True, True, False)
    assert tea.barcodes == []


def test_a_file_that_is_not_utf8_is_refused(runtime: Runtime, acme: t.Company, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,name,category,list_price\nA,Café,Food,1\n".encode("latin-1"))

    result = run_import(path)

    assert result.exit_code == 1
    assert "line 2: byte 0xe9 is not valid UTF-8" in result.stderr
    assert product_count(runtime) == 0


def test_company_is_required_when_there_are_several(
    runtime: Runtime, acme: t.Company, tmp_path: Path
) -> None:
    with transaction(runtime.session_factory) as session:
        s.create_company(
            session,
            CommandContext(system_principal()),
            c.CreateCompany(code="BETA", name="Beta", currency="EUR", country="FR", chart_template=None),
        )
    path = write_csv(tmp_path / "catalog.csv", catalog(2))

    assert run_import(path).exit_code == 1
    result = run_import(path, "--company", "BETA")

    assert result.exit_code == 0, result.output
    assert "imported 2 new and 0 changed products (0 unchanged) into BETA" in result.stdout
