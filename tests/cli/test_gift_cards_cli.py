"""``retailcore gift-cards issue|balance`` against the test database (ACME, EUR)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app
from retailcore.masterdata.tables import Account
from retailcore.payments.services import code_hash
from retailcore.payments.tables import GiftCard

runner = CliRunner()
CODE = re.compile(r"[2-9A-Z]{4}(?:-[2-9A-Z]{4}){3}")


def cli(*args: str):
    return runner.invoke(app, list(args))


def _liability(runtime) -> Decimal:
    with runtime.session_factory() as session:
        return session.scalar(
            select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(Account.role == "gift_card_liability")
        )


def test_issue_prints_the_code_once_and_balance_reads_it_back(runtime, company):
    issued = cli("gift-cards", "issue", "50.00", "--paid-by", "cash")
    assert issued.exit_code == 0, issued.output
    assert "50.00 EUR, sold" in issued.output
    code = CODE.search(issued.output).group(0)
    assert _liability(runtime) == Decimal("-50.00")

    shown = cli("gift-cards", "balance", code.lower(), "--company", "ACME")
    assert shown.exit_code == 0, shown.output
    assert f"****{code[-4:]}" in shown.output and "50.00 EUR" in shown.output and "issue" in shown.output

    document = json.loads(cli("gift-cards", "balance", code, "-o", "json").stdout)
    assert (document["balance"], document["state"]) == ("50.00", "active")
    assert [m["kind"] for m in document["movements"]] == ["issue"]
    rows = list(csv.DictReader(io.StringIO(cli("gift-cards", "balance", code, "-o", "csv").stdout)))
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in rows] == [("issue", "50.00", "50.00")]


def test_issue_given_as_json(runtime, company):
    issued = cli("gift-cards", "issue", "20", "--given", "--expires-on", "2099-12-31", "-o", "json")
    assert issued.exit_code == 0, issued.output
    document = json.loads(issued.stdout)
    assert (document["origin"], document["balance"], document["expires_on"]) == (
        "given",
        "20.00",
        "2099-12-31",
    )
    assert CODE.fullmatch(document["code"])


def test_errors_are_reported_in_the_house_style_and_write_nothing(runtime, company):
    unknown = cli("gift-cards", "balance", "NOPE-NOPE-NOPE-NOPE")
    assert unknown.exit_code == 1
    assert "no gift card with this code" in unknown.output
    assert cli("gift-cards", "issue", "abc").exit_code == 2
    assert cli("gift-cards", "issue", "-5").exit_code == 2
    assert cli("gift-cards", "issue", "5", "--paid-by", "gift_card").exit_code == 2
    refused = cli("gift-cards", "issue", "5.001")
    assert refused.exit_code == 1 and "amount" in refused.output
    assert cli("gift-cards", "issue", "5", "--company", "NOPE").exit_code == 1
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(GiftCard)) == 0


def test_the_sweep_expires_cards_past_their_last_day_with_breakage(runtime, company):
    issued = json.loads(cli("gift-cards", "issue", "30.00", "-o", "json").stdout)
    with transaction(runtime.session_factory) as session:
        session.execute(
            update(GiftCard)
            .where(GiftCard.code_hash == code_hash(issued["code"]))
            .values(expires_on=dt.date(2020, 1, 1))
        )
    swept = cli("orders", "sweep", "--company", "ACME")
    assert swept.exit_code == 0, swept.output
    assert "expired 1 gift cards" in swept.output
    document = json.loads(cli("gift-cards", "balance", issued["code"], "-o", "json").stdout)
    assert (document["state"], document["balance"]) == ("expired", "0.00")
    assert _liability(runtime) == Decimal(0)
    again = cli("orders", "sweep", "--company", "ACME")
    assert "gift cards" not in again.output
