"""``retailcore bank import`` against the test database, with our CAMT.053 and CSV samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.banking.tables import BankEntry, BankStatementFile
from retailcore.entrypoints.api.app import API_PREFIX as API
from retailcore.entrypoints.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from settlement_shop import Shop

runner = CliRunner()
BANK = Path(__file__).parents[1] / "fixtures" / "bank"
SAMPLE = BANK / "store_and_suppliers.camt053.xml"


def cli(*args: str):
    return runner.invoke(app, list(args))


def _count(runtime, model) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def _account(client, admin, shop):
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": shop.company["id"], "code": "MAIN", "iban": "GB29NWBK60161331926819"},
        headers=admin,
    )
    assert made.status_code == 201, made.text


def test_import_reads_matches_raises_and_a_second_import_is_a_no_op(runtime, client, admin):
    shop = Shop(runtime, client, admin)
    _account(client, admin, shop)

    done = cli("bank", "import", str(SAMPLE), "--company", "SHOP")

    assert done.exit_code == 0, done.output
    # Nothing of ours is expected on the bank yet: all four entries are exceptions to work.
    assert "1 statement(s), 4 entries read, 4 new, 0 matched, 4 unmatched; 0 entries posted" in done.stdout
    again = cli("bank", "import", str(SAMPLE), "--account", "GB29 NWBK 6016 1331 9268 19", "-o", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["replayed"] is True
    assert (_count(runtime, BankStatementFile), _count(runtime, BankEntry)) == (1, 4)


def test_a_bad_file_exits_1_naming_its_entry_and_writes_nothing(runtime, client, admin, tmp_path):
    shop = Shop(runtime, client, admin)
    _account(client, admin, shop)
    bad = tmp_path / "bad.xml"
    bad.write_text(SAMPLE.read_text().replace('<Amt Ccy="USD">1000.00', '<Amt Ccy="USD">1000.001'))

    refused = cli("bank", "import", str(bad))

    assert refused.exit_code == 1
    assert "statement 1, entry 2 (line 64): 1000.001 has more decimals than USD has" in refused.output
    assert _count(runtime, BankStatementFile) == 0


def test_a_csv_statement_needs_its_account_and_reads_its_mapping(runtime, client, admin):
    shop = Shop(runtime, client, admin)
    _account(client, admin, shop)

    unnamed = cli("bank", "import", str(BANK / "statement.csv"), "--format", "csv")
    done = cli(
        "bank", "import", str(BANK / "statement.csv"), "--format", "csv", "--account", "MAIN",
        "--mapping", str(BANK / "statement_mapping.json"),
    )  # fmt: skip

    assert unnamed.exit_code == 1 and "account" in unnamed.output
    assert done.exit_code == 0, done.output
    assert "2 entries read, 2 new" in done.stdout
