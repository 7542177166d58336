"""Exchange rates, booking at the rate of the date, and period-end revaluation (services, real database)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import fx, services
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, ValidationFailed
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company

D = Decimal
MAR = dt.date(2026, 3, 1)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class Books:
    """The ACME ledger seen through the services, each call in its own transaction."""

    def __init__(self, runtime: Runtime, company_id: uuid.UUID) -> None:
        self.runtime = runtime
        self.company_id = company_id
        self.ctx = CommandContext(system_principal("test"))

    def company(self, session: Any) -> Company:
        return session.get(Company, self.company_id)

    def account(self, code: str) -> uuid.UUID:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(Account.id).where(Account.company_id == self.company_id, Account.code == code)
            )

    def rate(self, currency: str, date: str, value: str, **kwargs: Any) -> a.ExchangeRate:
        with transaction(self.runtime.session_factory) as session:
            return fx.set_rate(
                session,
                self.ctx,
                self.company(session),
                currency=currency,
                rate_date=day(date),
                rate=D(value),
                **kwargs,
            )

    def post(self, date: str, *lines: tuple[str, str, str, str], rate: str | None = None) -> a.JournalEntry:
        """``post("2026-03-02", ("1101", "debit", "1000", "USD"), ("4000", "credit", "1000", "USD"))``."""
        with transaction(self.runtime.session_factory) as session:
            return services.post_entry(
                session,
                self.ctx,
                company=self.company(session),
                journal_code="MISC",
                date=day(date),
                reference="test",
                lines=[
                    services.LineInput(
                        self.account(code), side, D(amount), currency, rate=D(rate) if rate else None
                    )
                    for code, side, amount, currency in lines
                ],
            )

    def revalue(self, as_of: str) -> fx.RevaluationResult:
        with transaction(self.runtime.session_factory) as session:
            return fx.revalue(session, self.ctx, self.company(session), day(as_of))

    def balance(self, code: str, as_of: str, currency: str | None = None) -> tuple[Decimal, Decimal]:
        """(company-currency balance, foreign amount) of an account's posted lines up to ``as_of``."""
        query = select(
            func.coalesce(func.sum(a.JournalLine.debit), D(0))
            - func.coalesce(func.sum(a.JournalLine.credit), D(0)),
            func.coalesce(func.sum(a.JournalLine.amount_currency), D(0)),
        ).where(
            a.JournalLine.account_id == self.account(code),
            a.JournalLine.state == "posted",
            a.JournalLine.date <= day(as_of),
        )
        if currency:
            query = query.where(a.JournalLine.currency == currency)
        with self.runtime.session_factory() as session:
            value, amount = session.execute(query).one()
        return value, amount

    def count(self, table: Any) -> int:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(table))

    def events(self, type_: str) -> list[Event]:
        with self.runtime.session_factory() as session:
            return list(session.scalars(select(Event).where(Event.type == type_).order_by(Event.position)))

    def entry(self, entry_id: uuid.UUID) -> a.JournalEntry:
        with self.runtime.session_factory() as session:
            return session.get(a.JournalEntry, entry_id)


@pytest.fixture
def books(runtime: Runtime, client: Any, admin: dict[str, str], company: dict[str, Any]) -> Books:
    """ACME (EUR, generic chart) plus 1101, a reconcilable USD bank account."""
    response = client.post(
        "/api/v1/accounts",
        json={
            "company_id": company["id"],
            "code": "1101",
            "name": "Bank - USD account",
            "type": "asset",
            "role": "bank",
            "reconcilable": True,
            "currency": "USD",
        },
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return Books(runtime, uuid.UUID(company["id"]))


def assert_balanced(entry: a.JournalEntry) -> None:
    """Company currency balances in debit/credit; every currency balances in amount_currency."""
    assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
    per_currency: dict[str, Decimal] = defaultdict(Decimal)
    for line in entry.lines:
        per_currency[line.currency] += line.amount_currency
        assert not (line.debit and line.credit)
    assert all(total == 0 for total in per_currency.values()), per_currency


# -- rates -----------------------------------------------------------------------------------------


def test_set_rate_stores_the_exact_rate_and_records_an_event(books):
    row = books.rate("USD", "2026-03-14", "0.92345678")

    assert row.rate == D("0.92345678") and row.currency == "USD" and row.rate_date == day("2026-03-14")
    [event] = books.events("ExchangeRateSet")
    assert event.aggregate_id == row.id
    assert event.payload == {
        "currency": "USD",
        "date": "2026-03-14",
        "rate": "0.92345678",
        "previous_rate": None,
        "source": "manual",
    }


def test_a_second_rate_for_the_same_date_is_refused_unless_replace(books):
    first = books.rate("USD", "2026-03-14", "0.92")

    with pytest.raises(Conflict) as refused:
        books.rate("USD", "2026-03-14", "0.93")
    assert refused.value.code == "exchange-rate-exists"
    assert [p.field for p in refused.value.problems] == ["date"]

    replaced = books.rate("USD", "2026-03-14", "0.93", replace=True)
    assert replaced.id == first.id and replaced.rate == D("0.93")
    assert books.count(a.ExchangeRate) == 1
    assert [e.payload["previous_rate"] for e in books.events("ExchangeRateSet")] == [None, "0.92"]


@pytest.mark.parametrize(
    ("currency", "rate", "code", "field"),
    [
        ("EUR", "1", "company-currency", "currency"),
        ("XYZ", "1", "unknown-currency", "currency"),
        ("usd", "1", "unknown-currency", "currency"),
        ("USD", "0", "invalid-rate", "rate"),
        ("USD", "-1.2", "invalid-rate", "rate"),
        ("USD", "1.123456789", "invalid-rate", "rate"),
        ("USD", "123456789012", "invalid-rate", "rate"),
        ("USD", "NaN", "invalid-rate", "rate"),
        ("USD", "0.100000000000000000000000000001", "invalid-rate", "rate"),  # 30 decimals, not 0.1
    ],
)
def test_bad_rates_are_refused_and_write_nothing(books, currency, rate, code, field):
    with pytest.raises(ValidationFailed) as refused:
        books.rate(currency, "2026-03-14", rate)

    assert refused.value.code == code
    assert [p.field for p in refused.value.problems] == [field]
    assert books.count(a.ExchangeRate) == 0
    assert books.events("ExchangeRateSet") == []


def test_a_float_rate_is_refused(books):
    with (
        pytest.raises(ValidationFailed, match="not float"),
        transaction(books.runtime.session_factory) as session,
    ):
        fx.set_rate(
            session,
            books.ctx,
            books.company(session),
            currency="USD",
            rate_date=MAR,
            rate=1.08,  # type: ignore[arg-type]
        )


def test_trailing_zeros_beyond_eight_places_are_not_extra_precision(books):
    assert books.rate("USD", "2026-03-14", "1.0845000000000").rate == D("1.0845")


def test_list_rates_filters_by_currency_and_dates(books):
    for date, value in (("2026-03-01", "0.90"), ("2026-03-10", "0.91"), ("2026-03-20", "0.92")):
        books.rate("USD", date, value)
    books.rate("GBP", "2026-03-10", "1.15")

    with books.runtime.session_factory() as session:
        everything = fx.list_rates(session, books.company_id)
        usd_window = fx.list_rates(
            session, books.company_id, currency="USD", date_from=day("2026-03-05"), date_to=day("2026-03-20")
        )
        with pytest.raises(ValidationFailed):
            fx.list_rates(session, books.company_id, date_from=day("2026-03-20"), date_to=day("2026-03-01"))

    assert [(r.currency, r.rate_date.isoformat()) for r in everything] == [
        ("GBP", "2026-03-10"),
        ("USD", "2026-03-01"),
        ("USD", "2026-03-10"),
        ("USD", "2026-03-20"),
    ]
    assert [r.rate for r in usd_window] == [D("0.91"), D("0.92")]


# -- booking at the rate of the transaction date ---------------------------------------------------


def test_a_foreign_line_is_booked_at_the_latest_rate_on_or_before_its_date(books):
    books.rate("USD", "2026-03-14", "0.92")
    books.rate("USD", "2026-03-16", "0.95")  # after the transaction: must not be used

    entry = books.post("2026-03-15", ("1101", "debit", "100.00", "USD"), ("4000", "credit", "100.00", "USD"))

    bank, sales = entry.lines
    assert (bank.currency, bank.amount_currency, bank.rate, bank.debit, bank.credit) == (
        "USD", D("100.00"), D("0.92"), D("92.00"), D(0)
    )  # fmt: skip
    assert (sales.amount_currency, sales.rate, sales.debit, sales.credit) == (
        D("-100.00"), D("0.92"), D(0), D("92.00")
    )  # fmt: skip
    with books.runtime.session_factory() as session:
        company = books.company(session)
        assert fx.rate_lookup(session, company, "USD", day("2026-03-15")) == D("0.92")
        assert fx.rate_lookup(session, company, "USD", day("2026-03-16")) == D("0.95")
        assert fx.rate_lookup(session, company, "EUR", day("2026-03-16")) == D(1)


def test_a_rate_of_the_day_itself_wins_and_posted_entries_keep_their_rate(books):
    books.rate("USD", "2026-03-14", "0.92")
    before = books.post("2026-03-15", ("1101", "debit", "10.01", "USD"), ("4000", "credit", "10.01", "USD"))

    books.rate("USD", "2026-03-15", "0.925")
    after = books.post("2026-03-15", ("1101", "debit", "10.01", "USD"), ("4000", "credit", "10.01", "USD"))

    assert before.lines[0].debit == D("9.21")  # 10.01 x 0.92 = 9.2092
    assert after.lines[0].debit == D("9.26")  # 10.01 x 0.925 = 9.25925, half up
    assert books.entry(before.id).lines[0].rate == D("0.92")


def test_without_a_rate_on_or_before_the_date_nothing_is_posted(books):
    books.rate("USD", "2026-03-14", "0.92")

    with pytest.raises(ValidationFailed) as refused:
        books.post("2026-03-13", ("1101", "debit", "100", "USD"), ("4000", "credit", "100", "USD"))

    assert refused.value.code == "no-exchange-rate"
    assert "no USD exchange rate on or before 2026-03-13" in refused.value.detail
    assert [p.field for p in refused.value.problems] == ["currency"]
    assert books.count(a.JournalEntry) == 0


# -- CSV import ------------------------------------------------------------------------------------


def import_csv(books: Books, text: str, **kwargs: Any) -> fx.RatesImportReport:
    with transaction(books.runtime.session_factory) as session:
        return fx.import_rates(session, books.ctx, books.company(session), text, **kwargs)


def test_import_reads_every_row_in_any_column_order(books):
    seen: list[tuple[int, int]] = []
    report = import_csv(
        books,
        "\ufeffCurrency,Date,Rate\nusd,2026-03-01,0.90\nUSD,2026-03-02,0.9012\n\nGBP,2026-03-01,1.15\n",
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (report.created, report.replaced, report.unchanged) == (3, 0, 0)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with books.runtime.session_factory() as session:
        rates = {
            (r.currency, r.rate_date.isoformat()): r.rate for r in fx.list_rates(session, books.company_id)
        }
    assert rates == {
        ("USD", "2026-03-01"): D("0.90"),
        ("USD", "2026-03-02"): D("0.9012"),
        ("GBP", "2026-03-01"): D("1.15"),
    }
    assert len(books.events("ExchangeRateSet")) == 3


def test_import_is_all_or_nothing_and_names_every_bad_line(books):
    text = (
        "date,currency,rate\n"
        "2026-03-01,USD,0.90\n"  # line 2: fine
        "2026-3-2,USD,0.91\n"  # line 3: bad date
        "2026-03-03,EUR,1\n"  # line 4: company currency
        "2026-03-04,USD,0,92\n"  # line 5: a decimal comma splits the cell
        "2026-03-05,USD,abc\n"  # line 6: not a number
        "2026-03-06,USD,-1\n"  # line 7: not positive
        "2026-03-01,USD,0.90\n"  # line 8: same currency and date as line 2
    )
    with pytest.raises(fx.RatesImportRejected) as rejected:
        import_csv(books, text)

    assert [(e.line, e.column) for e in rejected.value.rows] == [
        (3, "date"),
        (4, "currency"),
        (5, None),
        (6, "rate"),
        (7, "rate"),
        (8, None),
    ]
    assert "already on line 2" in str(rejected.value.rows[-1])
    assert rejected.value.problems[0].field == "line.3.date"
    assert books.count(a.ExchangeRate) == 0
    assert books.events("ExchangeRateSet") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("2026-03-01,USD,0.9\n", "missing column(s) date, currency, rate"),
        ("date,currency\n2026-03-01,USD\n", "missing column(s) rate"),
        ("date,currency,rate,note\n", "unknown column(s) note"),
        ("date,currency,rate\n", "no rates"),
    ],
)
def test_import_needs_a_header_and_rows(books, text, message):
    with pytest.raises(fx.RatesImportRejected) as rejected:
        import_csv(books, text)

    assert rejected.value.rows[0].line == 1
    assert message in rejected.value.rows[0].message


def test_reimporting_keeps_equal_rates_and_refuses_changed_ones_unless_replace(books):
    import_csv(books, "date,currency,rate\n2026-03-01,USD,0.90\n2026-03-02,USD,0.91\n")

    again = import_csv(books, "date,currency,rate\n2026-03-01,USD,0.9\n2026-03-03,USD,0.92\n")
    assert (again.created, again.replaced, again.unchanged) == (1, 0, 1)

    with pytest.raises(fx.RatesImportRejected) as rejected:
        import_csv(books, "date,currency,rate\n2026-03-03,USD,0.92\n2026-03-02,USD,0.99\n")
    assert [(e.line, e.column) for e in rejected.value.rows] == [(3, "rate")]
    assert "already has the rate 0.91" in rejected.value.rows[0].message

    replaced = import_csv(books, "date,currency,rate\n2026-03-02,USD,0.99\n", replace=True)
    assert (replaced.created, replaced.replaced, replaced.unchanged) == (0, 1, 0)
    with books.runtime.session_factory() as session:
        assert fx.rate_lookup(session, books.company(session), "USD", day("2026-03-02")) == D("0.99")


def test_a_long_history_is_imported_in_chunks(books):
    days = [MAR + dt.timedelta(days=n) for n in range(fx.IMPORT_CHUNK + 100)]
    text = "date,currency,rate\n" + "".join(
        f"{date.isoformat()},{currency},{rate}\n"
        for date in days
        for currency, rate in (("USD", "0.9"), ("GBP", "1.15"))
    )

    report = import_csv(books, text)

    assert report.created == 2 * len(days)
    assert books.count(a.ExchangeRate) == 2 * len(days)
    assert len(books.events("ExchangeRateSet")) == 2 * len(days)
    with books.runtime.session_factory() as session:
        assert fx.rate_lookup(session, books.company(session), "GBP", days[-1]) == D("1.15")


# -- revaluation -----------------------------------------------------------------------------------


@pytest.fixture
def march(books: Books) -> Books:
    """Open foreign balances at the end of March 2026.

    USD at 0.90 from 1 March: bank 1101 +1000 USD (900.00), receivable 1210 +500 USD (450.00), payable
    2000 -200 USD (-180.00) against rent. GBP at 1.15: receivable 1210 +10.30 GBP (11.845 -> 11.85).
    Income and expense accounts also hold USD lines but are not monetary: never revalued.
    """
    books.rate("USD", "2026-03-01", "0.90")
    books.rate("GBP", "2026-03-01", "1.15")
    books.post("2026-03-02", ("1101", "debit", "1000", "USD"), ("4000", "credit", "1000", "USD"))
    books.post("2026-03-05", ("1210", "debit", "500", "USD"), ("4000", "credit", "500", "USD"))
    books.post("2026-03-06", ("6000", "debit", "200", "USD"), ("2000", "credit", "200", "USD"))
    books.post("2026-03-07", ("1210", "debit", "10.30", "GBP"), ("4000", "credit", "10.30", "GBP"))
    books.rate("USD", "2026-03-31", "0.9234")
    books.rate("GBP", "2026-03-31", "1.25")
    return books


def test_revaluation_posts_gains_and_losses_and_reverses_them_the_next_day(march):
    result = march.revalue("2026-03-31")

    assert [
        (b.account_code, b.currency, b.amount_currency, b.booked, b.revalued, b.difference)
        for b in result.balances
    ] == [
        ("1101", "USD", D("1000"), D("900.00"), D("923.40"), D("23.40")),
        ("1210", "GBP", D("10.30"), D("11.85"), D("12.88"), D("1.03")),  # 12.875, half up
        ("1210", "USD", D("500"), D("450.00"), D("461.70"), D("11.70")),
        ("2000", "USD", D("-200"), D("-180.00"), D("-184.68"), D("-4.68")),
    ]
    assert (result.total_gain, result.total_loss) == (D("36.13"), D("4.68"))

    entry, reversal = march.entry(result.entry.id), march.entry(result.reversal.id)
    assert (entry.date, entry.number, entry.state) == (day("2026-03-31"), "FX/2026/000001", "posted")
    assert (reversal.date, reversal.number, reversal.reversal_of_id) == (
        day("2026-04-01"),
        "FX/2026/000002",
        entry.id,
    )
    codes = {march.account(code): code for code in ("1101", "1210", "2000", "4310", "7110")}
    # lines keep the order revalue wrote them in: by account and currency, each with its counter line
    assert [(codes[line.account_id], line.currency, line.debit, line.credit) for line in entry.lines] == [
        ("1101", "USD", D("23.40"), D(0)),
        ("4310", "USD", D(0), D("23.40")),
        ("1210", "GBP", D("1.03"), D(0)),
        ("4310", "GBP", D(0), D("1.03")),
        ("1210", "USD", D("11.70"), D(0)),
        ("4310", "USD", D(0), D("11.70")),
        ("2000", "USD", D(0), D("4.68")),
        ("7110", "USD", D("4.68"), D(0)),
    ]
    assert all(line.amount_currency == 0 for line in entry.lines + reversal.lines)
    assert [(line.debit, line.credit) for line in reversal.lines] == [
        (line.credit, line.debit) for line in entry.lines
    ]
    assert_balanced(entry)
    assert_balanced(reversal)

    # revalued at the period end, back at historical values the next day
    assert march.balance("1101", "2026-03-31") == (D("923.40"), D("1000"))
    assert march.balance("1101", "2026-04-01") == (D("900.00"), D("1000"))
    assert march.balance("2000", "2026-03-31") == (D("-184.68"), D("-200"))
    assert march.balance("4310", "2026-03-31")[0] == D("-36.13")
    assert march.balance("7110", "2026-03-31")[0] == D("4.68")
    assert march.balance("4310", "2026-04-01")[0] == D(0)
    # income and expense lines in USD keep their historical value
    assert march.balance("4000", "2026-03-31", "USD") == (D("-1350.00"), D("-1500"))
    assert march.balance("6000", "2026-03-31") == (D("180.00"), D("200"))

    [event] = march.events("LedgerRevalued")
    assert event.aggregate_id == fx.revaluation_key(march.company_id, day("2026-03-31"))
    assert event.payload["entry_number"] == "FX/2026/000001"
    assert event.payload["reversal_id"] == str(reversal.id)
    assert [b["difference"] for b in event.payload["balances"]] == ["23.40", "1.03", "11.70", "-4.68"]


def test_revaluation_lines_on_reconcilable_accounts_are_matched_with_their_reversal(march):
    result = march.revalue("2026-03-31")

    with march.runtime.session_factory() as session:
        matches = list(session.scalars(select(a.LineMatch)))
    by_line = {
        line.id: line for line in march.entry(result.entry.id).lines + march.entry(result.reversal.id).lines
    }
    pairs = sorted(
        (by_line[m.debit_line_id].date.isoformat(), by_line[m.credit_line_id].date.isoformat(), m.amount)
        for m in matches
    )
    # 1101, 1210 GBP and 1210 USD went up (debit on the 31st), 2000 went down (credit on the 31st)
    assert pairs == [
        ("2026-03-31", "2026-04-01", D("1.03")),
        ("2026-03-31", "2026-04-01", D("11.70")),
        ("2026-03-31", "2026-04-01", D("23.40")),
        ("2026-04-01", "2026-03-31", D("4.68")),
    ]
    assert len(march.events("LinesReconciled")) == 4


def test_the_next_period_is_revalued_from_historical_values(march):
    march.revalue("2026-03-31")
    march.rate("USD", "2026-04-30", "0.88")

    april = march.revalue("2026-04-30")

    assert [(b.account_code, b.currency, b.booked, b.difference) for b in april.balances] == [
        ("1101", "USD", D("900.00"), D("-20.00")),
        ("1210", "GBP", D("11.85"), D("1.03")),
        ("1210", "USD", D("450.00"), D("-10.00")),
        ("2000", "USD", D("-180.00"), D("4.00")),
    ]
    assert (april.total_gain, april.total_loss) == (D("5.03"), D("30.00"))
    assert april.entry.number == "FX/2026/000003"
    assert_balanced(march.entry(april.entry.id))
    assert march.balance("1101", "2026-04-30") == (D("880.00"), D("1000"))


def test_the_same_date_is_revalued_once(march):
    march.revalue("2026-03-31")
    entries = march.count(a.JournalEntry)

    with pytest.raises(Conflict) as refused:
        march.revalue("2026-03-31")

    assert refused.value.code == "already-revalued"
    assert [p.field for p in refused.value.problems] == ["as_of"]
    assert march.count(a.JournalEntry) == entries
    assert len(march.events("LedgerRevalued")) == 1


def test_nothing_to_revalue_posts_nothing(books):
    books.post("2026-03-02", ("1100", "debit", "50", "EUR"), ("4000", "credit", "50", "EUR"))
    books.rate("USD", "2026-03-01", "0.90")
    books.post("2026-03-02", ("6000", "debit", "10", "USD"), ("4000", "credit", "10", "USD"))  # not monetary

    result = books.revalue("2026-03-31")

    assert (result.entry, result.reversal, result.balances) == (None, None, [])
    assert books.count(a.JournalEntry) == 2
    assert books.events("LedgerRevalued") == []


def test_a_balance_already_at_the_closing_rate_is_reported_but_not_posted(books):
    books.rate("USD", "2026-03-01", "0.90")
    books.post("2026-03-02", ("1101", "debit", "100", "USD"), ("4000", "credit", "100", "USD"))

    result = books.revalue("2026-03-31")

    assert result.entry is None
    assert [(b.account_code, b.difference) for b in result.balances] == [("1101", D(0))]


def test_a_currency_without_a_rate_stops_the_revaluation_and_writes_nothing(march):
    # CHF booked at a rate given on the line: the table has no CHF rate for the period end
    march.post("2026-03-10", ("1210", "debit", "100", "CHF"), ("4000", "credit", "100", "CHF"), rate="1.05")
    entries = march.count(a.JournalEntry)

    with pytest.raises(ValidationFailed) as refused:
        march.revalue("2026-03-31")

    assert refused.value.code == "no-exchange-rate"
    assert march.count(a.JournalEntry) == entries
    assert march.count(a.LineMatch) == 0
    assert march.events("LedgerRevalued") == []


def test_a_locked_period_is_not_revalued(march):
    with transaction(march.runtime.session_factory) as session:
        services.move_lock_date(session, march.ctx, march.company_id, day("2026-03-31"))

    with pytest.raises(Conflict) as refused:
        march.revalue("2026-03-31")

    assert refused.value.code == "period-locked"
    assert march.events("LedgerRevalued") == []
