"""The ledger's reports, on a small ledger whose every figure is worked out by hand below.

The ledger of ACME (EUR), built with ``post_entry`` as the posting rules would:

  2026-10-05 MISC  capital paid in: bank 10,000.00 / share capital
  2026-10-20 POS   store A (pos): cash 120.00 / revenue 100.00 + output VAT 20 % 20.00 (base 100)
  2026-11-03 POS   store B (web): cash 70.55 / revenue 50.00 (VAT 20 %) + 10.00 (VAT 5.5 %),
                   output VAT 10.00 (base 50) + 0.55 (base 10)
  2026-11-10 PURCH vendor bill: inventory 200.00 + input VAT 40.00 (base 200) / payables 240.00
  2026-11-12 POS   a DRAFT: cash 999.00 / revenue 999.00 (never counts)
  2026-11-15 STOCK store A: cogs 30.00 / inventory 30.00
  2026-11-20 MISC  rent 500.00 / bank
  2026-11-25 POS   store A (pos): cash 240.00 / revenue 200.00 + output VAT 40.00 (base 200) ...
  2026-11-26 POS   ... reversed the next day
  2026-11-28 POS   store B return (pos): sales returns 10.00 + output VAT 2.00 (base 10, stored positive,
                   as the return rule writes it) / cash 12.00
  2026-12-02 POS   store B (pos): cash 12.00 / revenue 10.00 + output VAT 2.00 (base 10)

and GLOBEX, another company, with a sale of 777.00 on 2026-11-05 that ACME's reports never show.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.accounting import reports
from retailcore.accounting.services import LineInput, post_entry, reverse_entry
from retailcore.adapters.db import transaction
from retailcore.core.errors import InvalidReference, ValidationFailed
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany, CreateStore
from retailcore.masterdata.services import create_company, create_store
from retailcore.masterdata.tables import Account, Company

D = Decimal
NOV_1, NOV_30 = dt.date(2026, 11, 1), dt.date(2026, 11, 30)


@dataclass(frozen=True)
class Ledger:
    company_id: uuid.UUID
    other_company_id: uuid.UUID
    store_a: uuid.UUID
    store_b: uuid.UUID
    accounts: dict[str, uuid.UUID]
    """Account id by code, ACME's."""


def _accounts(session, company_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = session.execute(select(Account.code, Account.id).where(Account.company_id == company_id))
    return {code: account_id for code, account_id in rows}


def build_ledger(runtime: Runtime, company_code: str = "ACME") -> Ledger:
    """The ledger of the module docstring, for ``company_code`` (created here unless it exists)."""
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        company = session.scalar(select(Company).where(Company.code == company_code))
        if company is None:
            company = create_company(
                session, ctx, CreateCompany(code=company_code, name="Acme", currency="EUR", country="FR")
            )
        store_a = create_store(
            session, ctx, CreateStore(company_id=company.id, code="A", name="A", kind="store")
        )
        store_b = create_store(
            session, ctx, CreateStore(company_id=company.id, code="B", name="B", kind="store")
        )
        other = create_company(
            session, ctx, CreateCompany(code="GLOBEX", name="Globex", currency="USD", country="US")
        )
        acc = _accounts(session, company.id)

        def line(code: str, side: str, amount: str, **dims) -> LineInput:
            return LineInput(acc[code], side, D(amount), "EUR", **dims)  # type: ignore[arg-type]

        def post(journal: str, date: str, lines: list[LineInput], post: bool = True):
            return post_entry(
                session,
                ctx,
                company=company,
                journal_code=journal,
                date=dt.date.fromisoformat(date),
                reference=f"{journal} {date}",
                lines=lines,
                post=post,
            )

        a = {"store_id": store_a.id, "channel": "pos"}
        b_web = {"store_id": store_b.id, "channel": "web"}
        b = {"store_id": store_b.id, "channel": "pos"}
        vat20 = {"tax_code": "FR-VAT-20"}
        post("MISC", "2026-10-05", [line("1100", "debit", "10000"), line("3000", "credit", "10000")])
        post(
            "POS",
            "2026-10-20",
            [
                line("1000", "debit", "120", **a),
                line("4000", "credit", "100", product_category="Apparel", **a, **vat20, tax_base=D(100)),
                line("2100", "credit", "20", **a, **vat20, tax_base=D(100)),
            ],
        )
        post(
            "POS",
            "2026-11-03",
            [
                line("1000", "debit", "70.55", **b_web),
                line("4000", "credit", "50", product_category="Apparel", **b_web),
                line("4000", "credit", "10", product_category="Food", **b_web),
                line("2100", "credit", "10", **b_web, **vat20, tax_base=D(50)),
                line("2100", "credit", "0.55", **b_web, tax_code="FR-VAT-5.5", tax_base=D(10)),
            ],
        )
        post(
            "PURCH",
            "2026-11-10",
            [
                line("1400", "debit", "200"),
                line("1300", "debit", "40", **vat20, tax_base=D(200)),
                line("2000", "credit", "240"),
            ],
        )
        post("POS", "2026-11-12", [line("1000", "debit", "999"), line("4000", "credit", "999")], post=False)
        post("STOCK", "2026-11-15", [line("5000", "debit", "30", **a), line("1400", "credit", "30", **a)])
        post("MISC", "2026-11-20", [line("6000", "debit", "500"), line("1100", "credit", "500")])
        wrong = post(
            "POS",
            "2026-11-25",
            [
                line("1000", "debit", "240", **a),
                line("4000", "credit", "200", product_category="Apparel", **a),
                line("2100", "credit", "40", **a, **vat20, tax_base=D(200)),
            ],
        )
        reverse_entry(session, ctx, wrong, date=dt.date(2026, 11, 26))
        post(
            "POS",
            "2026-11-28",
            [
                line("4010", "debit", "10", **b),
                line("2100", "debit", "2", **b, **vat20, tax_base=D(10)),
                line("1000", "credit", "12", **b),
            ],
        )
        post(
            "POS",
            "2026-12-02",
            [
                line("1000", "debit", "12", **b),
                line("4000", "credit", "10", **b),
                line("2100", "credit", "2", **b, **vat20, tax_base=D(10)),
            ],
        )
        other_acc = _accounts(session, other.id)
        post_entry(
            session,
            ctx,
            company=other,
            journal_code="POS",
            date=dt.date(2026, 11, 5),
            reference="GLOBEX sale",
            lines=[
                LineInput(other_acc["1000"], "debit", D(777), "USD"),
                LineInput(other_acc["4000"], "credit", D(777), "USD"),
            ],
        )
        return Ledger(company.id, other.id, store_a.id, store_b.id, acc)


@pytest.fixture
def ledger(runtime) -> Ledger:
    return build_ledger(runtime)


@pytest.fixture
def session(runtime):
    with runtime.session_factory() as session:
        yield session


def by_code(rows) -> dict[str, object]:
    return {row.account_code: row for row in rows}


# -- trial balance ---------------------------------------------------------------------------------


def test_trial_balance_of_a_month_opens_moves_and_closes_each_account(session, ledger):
    tb = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30)

    figures = {
        r.account_code: (r.opening_balance, r.period_debit, r.period_credit, r.closing_balance)
        for r in tb.rows
    }
    assert figures == {
        "1000": (D("120"), D("310.55"), D("252"), D("178.55")),
        "1100": (D("10000"), D("0"), D("500"), D("9500")),
        "1300": (D("0"), D("40"), D("0"), D("40")),
        "1400": (D("0"), D("200"), D("30"), D("170")),
        "2000": (D("0"), D("0"), D("240"), D("-240")),
        "2100": (D("-20"), D("42"), D("50.55"), D("-28.55")),
        "3000": (D("-10000"), D("0"), D("0"), D("-10000")),
        "4000": (D("-100"), D("200"), D("260"), D("-160")),
        "4010": (D("0"), D("10"), D("0"), D("10")),
        "5000": (D("0"), D("30"), D("0"), D("30")),
        "6000": (D("0"), D("500"), D("0"), D("500")),
    }
    assert [r.account_code for r in tb.rows] == sorted(figures)
    assert tb.totals.period_debit == tb.totals.period_credit == D("1332.55")
    assert tb.totals.opening_balance == tb.totals.closing_balance == 0
    assert tb.balanced
    assert by_code(tb.rows)["4000"].account_type == "income"


def test_trial_balance_closing_of_one_month_is_the_opening_of_the_next(session, ledger):
    november = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30)
    december = reports.trial_balance(session, ledger.company_id, dt.date(2026, 12, 1), dt.date(2026, 12, 31))

    closing = {r.account_code: r.closing_balance for r in november.rows}
    opening = {r.account_code: r.opening_balance for r in december.rows}
    assert opening == {code: value for code, value in closing.items() if value}
    assert by_code(december.rows)["1000"].closing_balance == D("190.55")
    assert december.balanced


def test_trial_balance_by_period_code_equals_the_dates(session, ledger):
    by_dates = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30)
    by_period = reports.trial_balance(session, ledger.company_id, period="2026-11")
    by_year = reports.trial_balance(session, ledger.company_id, period="2026")

    assert by_period.rows == by_dates.rows
    assert (by_period.date_from, by_period.date_to, by_period.period) == (NOV_1, NOV_30, "2026-11")
    assert (by_year.date_from, by_year.date_to) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert by_year.totals.opening_balance == 0
    assert by_code(by_year.rows)["1000"].period_debit == D("120") + D("310.55") + D("12")


def test_trial_balance_grouped_by_store_splits_each_account(session, ledger):
    tb = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30, group_by=["store_id"])

    cash = {r.labels["store_id"]: r for r in tb.rows if r.account_code == "1000"}
    assert set(cash) == {"A", "B"}
    assert (cash["A"].opening_balance, cash["A"].period_debit, cash["A"].period_credit) == (
        D("120"),
        D("240"),
        D("240"),
    )
    assert cash["A"].closing_balance == D("120")
    assert cash["B"].closing_balance == D("58.55")
    assert cash["A"].dimensions == {"store_id": str(ledger.store_a)}
    unassigned = [r for r in tb.rows if r.dimensions["store_id"] is None]
    assert {r.account_code for r in unassigned} == {"1100", "1300", "1400", "2000", "3000", "6000"}
    inventory = [r for r in tb.rows if r.account_code == "1400"]
    assert {r.labels["store_id"]: r.closing_balance for r in inventory} == {None: D("200"), "A": D("-30")}
    assert tb.balanced and tb.totals.period_debit == D("1332.55")


def test_trial_balance_grouped_by_several_dimensions_and_by_journal(session, ledger):
    tb = reports.trial_balance(
        session, ledger.company_id, NOV_1, NOV_30, group_by=["store_id,channel", "channel"]
    )
    assert tb.group_by == ["store_id", "channel"]
    revenue = {
        (r.labels["store_id"], r.dimensions["channel"]): r.closing_balance
        for r in tb.rows
        if r.account_code == "4000"
    }
    assert revenue == {("A", "pos"): D("-100"), ("B", "web"): D("-60")}

    journals = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30, group_by=["journal"])
    bank = {r.dimensions["journal"]: r for r in journals.rows if r.account_code == "1100"}
    assert set(bank) == {"MISC"}
    assert bank["MISC"].period_credit == D("500")
    pos_debits = sum(r.period_debit for r in journals.rows if r.dimensions["journal"] == "POS")
    assert pos_debits == D("70.55") + D("480") + D("12")  # the sale, the entry and its reversal, the return


def test_trial_balance_leaves_out_drafts_and_other_companies(session, ledger):
    tb = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30)
    other = reports.trial_balance(session, ledger.other_company_id, NOV_1, NOV_30)

    assert D("999") not in {r.period_debit for r in tb.rows}
    assert by_code(tb.rows)["1000"].period_debit == D("310.55")
    assert {(r.account_code, r.period_debit, r.period_credit) for r in other.rows} == {
        ("1000", D("777"), D("0")),
        ("4000", D("0"), D("777")),
    }


def test_a_reversed_entry_nets_to_zero(session, ledger):
    tb = reports.trial_balance(session, ledger.company_id, dt.date(2026, 11, 25), dt.date(2026, 11, 26))

    moves = {r.account_code: (r.period_debit, r.period_credit) for r in tb.rows if r.period_debit}
    assert moves == {"1000": (D("240"), D("240")), "2100": (D("40"), D("40")), "4000": (D("200"), D("200"))}
    assert all(r.opening_balance == r.closing_balance for r in tb.rows)
    pnl = reports.profit_and_loss(session, ledger.company_id, dt.date(2026, 11, 25), dt.date(2026, 11, 26))
    assert pnl.income == [] and pnl.net_result == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"date_from": dt.date(2026, 12, 1), "date_to": NOV_30}, "date_from"),
        ({"date_from": NOV_1}, "date_to"),
        ({"period": "2031-01"}, "period"),
        ({"period": "2026-11", "date_from": NOV_1}, "period"),
        ({"date_from": NOV_1, "date_to": NOV_30, "group_by": ["store"]}, "group_by"),
    ],
)
def test_trial_balance_refuses_bad_parameters_naming_the_field(session, ledger, kwargs, field):
    with pytest.raises(ValidationFailed) as raised:
        reports.trial_balance(session, ledger.company_id, **kwargs)
    assert [p.field for p in raised.value.problems] == [field]


def test_an_empty_ledger_gives_an_empty_balanced_trial_balance(session, company):
    tb = reports.trial_balance(session, uuid.UUID(company["id"]), NOV_1, NOV_30)
    assert tb.rows == [] and tb.balanced and tb.totals.period_debit == 0


# -- general ledger --------------------------------------------------------------------------------


def test_general_ledger_runs_the_balance_from_the_opening(session, ledger):
    gl = reports.general_ledger(session, ledger.company_id, ledger.accounts["1000"], NOV_1, NOV_30)

    assert gl.opening_balance == D("120")
    assert [(line.date.day, line.debit, line.credit, line.balance) for line in gl.lines] == [
        (3, D("70.55"), D("0"), D("190.55")),
        (25, D("240"), D("0"), D("430.55")),
        (26, D("0"), D("240"), D("190.55")),
        (28, D("0"), D("12"), D("178.55")),
    ]
    assert (gl.period_debit, gl.period_credit, gl.closing_balance) == (D("310.55"), D("252"), D("178.55"))
    assert gl.next_cursor is None
    first = gl.lines[0]
    assert first.journal == "POS" and first.entry_number == "POS/2026/000002"
    assert first.reference == "POS 2026-11-03"
    assert gl.lines[2].reference == "Reversal of POS/2026/000003"  # the draft has no number
    assert gl.account.code == "1000" and gl.account.type == "asset"


def test_general_ledger_pages_carry_the_balance_over(session, ledger):
    cash = ledger.accounts["1000"]
    first = reports.general_ledger(session, ledger.company_id, cash, NOV_1, NOV_30, limit=3)
    assert len(first.lines) == 3 and first.next_cursor
    second = reports.general_ledger(
        session, ledger.company_id, cash, NOV_1, NOV_30, limit=3, cursor=first.next_cursor
    )
    assert [(line.credit, line.balance) for line in second.lines] == [(D("12"), D("178.55"))]
    assert second.next_cursor is None
    assert second.opening_balance == D("120") and second.closing_balance == D("178.55")
    assert not second.first_page


def test_general_ledger_refuses_other_companies_accounts_and_bad_cursors(session, ledger):
    with session.begin():
        globex_cash = _accounts(session, ledger.other_company_id)["1000"]
    with pytest.raises(InvalidReference):
        reports.general_ledger(session, ledger.company_id, globex_cash, NOV_1, NOV_30)
    with pytest.raises(ValidationFailed, match="cursor"):
        reports.general_ledger(session, ledger.company_id, ledger.accounts["1000"], NOV_1, NOV_30, cursor="x")
    with pytest.raises(ValidationFailed, match="limit"):
        reports.general_ledger(session, ledger.company_id, ledger.accounts["1000"], NOV_1, NOV_30, limit=0)


def test_general_ledger_account_by_code(session, ledger):
    account = reports.resolve_account(session, ledger.company_id, "6000")
    gl = reports.general_ledger(session, ledger.company_id, account.id, period="2026-11")
    assert [line.debit for line in gl.lines] == [D("500")]
    assert gl.opening_balance == 0 and gl.closing_balance == D("500")


# -- profit and loss -------------------------------------------------------------------------------


def test_profit_and_loss_shows_income_and_expenses_as_positive_figures(session, ledger):
    pnl = reports.profit_and_loss(session, ledger.company_id, NOV_1, NOV_30)

    assert [(r.account_code, r.amount) for r in pnl.income] == [("4000", D("60")), ("4010", D("-10"))]
    assert [(r.account_code, r.amount) for r in pnl.expenses] == [("5000", D("30")), ("6000", D("500"))]
    assert (pnl.total_income, pnl.total_expenses, pnl.net_result) == (D("50"), D("530"), D("-480"))
    assert [r.net_result for r in pnl.results] == [D("-480")]

    two_months = reports.profit_and_loss(session, ledger.company_id, dt.date(2026, 10, 1), NOV_30)
    assert (two_months.total_income, two_months.net_result) == (D("150"), D("-380"))


def test_profit_and_loss_by_store(session, ledger):
    pnl = reports.profit_and_loss(session, ledger.company_id, NOV_1, NOV_30, group_by="store_id")

    results = {r.label: (r.income, r.expenses, r.net_result) for r in pnl.results}
    assert results == {
        None: (D("0"), D("500"), D("-500")),
        "A": (D("0"), D("30"), D("-30")),
        "B": (D("50"), D("0"), D("50")),
    }
    assert sum(r.net_result for r in pnl.results) == pnl.net_result == D("-480")
    with pytest.raises(ValidationFailed, match="one dimension"):
        reports.profit_and_loss(session, ledger.company_id, NOV_1, NOV_30, group_by="store_id,channel")


# -- balance sheet ---------------------------------------------------------------------------------


def test_balance_sheet_balances_with_the_unclosed_result(session, ledger):
    bs = reports.balance_sheet(session, ledger.company_id, NOV_30)

    assert [(r.account_code, r.balance) for r in bs.assets] == [
        ("1000", D("178.55")),
        ("1100", D("9500")),
        ("1300", D("40")),
        ("1400", D("170")),
    ]
    assert [(r.account_code, r.balance) for r in bs.liabilities] == [("2000", D("240")), ("2100", D("28.55"))]
    assert [(r.account_code, r.balance) for r in bs.equity] == [("3000", D("10000")), (None, D("-380"))]
    assert bs.unclosed_result == D("-380")
    assert bs.total_assets == bs.total_liabilities_and_equity == D("9888.55")
    assert bs.balanced


def test_balance_sheet_at_an_earlier_date(session, ledger):
    bs = reports.balance_sheet(session, ledger.company_id, dt.date(2026, 10, 31))
    assert bs.total_assets == D("10120") and bs.unclosed_result == D("100") and bs.balanced
    empty = reports.balance_sheet(session, ledger.company_id, dt.date(2026, 1, 1))
    assert empty.assets == [] and empty.balanced


# -- tax report ------------------------------------------------------------------------------------


def test_tax_report_per_tax_code_and_month(session, ledger):
    tax = reports.tax_report(session, ledger.company_id, dt.date(2026, 10, 1), dt.date(2026, 12, 31))

    figures = {
        (r.period, r.tax_code): (r.base_collected, r.tax_collected, r.base_deductible, r.tax_deductible)
        for r in tax.rows
    }
    assert figures == {
        ("2026-10", "FR-VAT-20"): (D("100"), D("20"), D("0"), D("0")),
        # 50 sold, 200 sold and reversed, 10 returned
        ("2026-11", "FR-VAT-20"): (D("40"), D("8"), D("200"), D("40")),
        ("2026-11", "FR-VAT-5.5"): (D("10"), D("0.55"), D("0"), D("0")),
        ("2026-12", "FR-VAT-20"): (D("10"), D("2"), D("0"), D("0")),
    }
    assert [(r.period, r.tax_code) for r in tax.rows] == sorted(figures)
    assert {p.period: p.net_payable for p in tax.periods} == {
        "2026-10": D("20"),
        "2026-11": D("-31.45"),
        "2026-12": D("2"),
    }
    assert (tax.total_collected, tax.total_deductible, tax.net_payable) == (D("30.55"), D("40"), D("-9.45"))


def test_tax_report_of_the_reversal_days_is_zero(session, ledger):
    tax = reports.tax_report(session, ledger.company_id, dt.date(2026, 11, 25), dt.date(2026, 11, 26))
    assert [(r.tax_collected, r.base_collected) for r in tax.rows] == [(D("0"), D("0"))]


# -- CSV -------------------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_report_exports_csv_matching_its_figures(session, ledger):
    tb = reports.trial_balance(session, ledger.company_id, NOV_1, NOV_30, group_by=["store_id"])
    rows = read_csv(tb.to_csv())
    assert len(rows) == len(tb.rows)
    assert list(rows[0]) == [
        "account_code",
        "account_name",
        "account_type",
        "store_id",
        "opening_balance",
        "period_debit",
        "period_credit",
        "closing_balance",
    ]
    cash_b = next(r for r in rows if r["account_code"] == "1000" and r["store_id"] == "B")
    assert cash_b["closing_balance"] == "58.55" and cash_b["opening_balance"] == "0.00"
    assert sum(D(r["period_debit"]) for r in rows) == D("1332.55")

    gl = read_csv(
        reports.general_ledger(session, ledger.company_id, ledger.accounts["1000"], NOV_1, NOV_30).to_csv()
    )
    assert [r["kind"] for r in gl] == ["opening", "line", "line", "line", "line", "closing"]
    assert gl[0]["balance"] == "120.00" and gl[-1]["balance"] == "178.55"

    pnl = read_csv(reports.profit_and_loss(session, ledger.company_id, NOV_1, NOV_30).to_csv())
    assert [(r["section"], r["account_code"], r["amount"]) for r in pnl] == [
        ("income", "4000", "60.00"),
        ("income", "4010", "-10.00"),
        ("expense", "5000", "30.00"),
        ("expense", "6000", "500.00"),
    ]

    bs = read_csv(reports.balance_sheet(session, ledger.company_id, NOV_30).to_csv())
    assert sum(D(r["balance"]) for r in bs if r["section"] == "asset") == D("9888.55")
    assert bs[-1] == {
        "section": "equity",
        "account_code": "",
        "account_name": reports.UNCLOSED_RESULT_NAME,
        "balance": "-380.00",
    }

    tax = read_csv(reports.tax_report(session, ledger.company_id, NOV_1, NOV_30).to_csv())
    assert tax[0] == {
        "period": "2026-11",
        "tax_code": "FR-VAT-20",
        "base_collected": "40.00",
        "tax_collected": "8.00",
        "base_deductible": "200.00",
        "tax_deductible": "40.00",
        "net_payable": "-32.00",
    }


def test_parse_date_accepts_only_plain_iso_dates():
    assert reports.parse_date("2026-11-30", "date_to") == NOV_30
    assert reports.parse_date(None, "date_to") is None
    for bad in ("2026-13-01", "20261130", "1700000000", "yesterday", "1899-12-31", "2200-01-01"):
        with pytest.raises(ValidationFailed) as raised:
            reports.parse_date(bad, "date_to")
        assert raised.value.problems[0].field == "date_to"
