"""Matching posted lines, undoing it, and the aged open-items report (services, real database)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from retailcore.access.model import system_principal
from retailcore.accounting import reconciliation as r
from retailcore.accounting import services
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, InvalidReference, NotFound, ValidationFailed
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company

D = Decimal


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class Ledger:
    """One company's ledger through the services, each call in its own transaction."""

    def __init__(self, runtime: Runtime, company_id: uuid.UUID) -> None:
        self.runtime = runtime
        self.company_id = company_id
        self.ctx = CommandContext(system_principal("test"))

    def account(self, code: str) -> uuid.UUID:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(Account.id).where(Account.company_id == self.company_id, Account.code == code)
            )

    def post(self, date: str, debit: str, credit: str, amount: str, *, post: bool = True) -> list[uuid.UUID]:
        """Post ``amount`` from account ``credit`` to account ``debit``; return [debit line, credit line]."""
        with transaction(self.runtime.session_factory) as session:
            company = session.get(Company, self.company_id)
            entry = services.post_entry(
                session,
                self.ctx,
                company=company,
                journal_code="MISC",
                date=day(date),
                reference=f"{debit}/{credit} {amount}",
                lines=[
                    services.LineInput(self.account(debit), "debit", D(amount), company.currency, label="dr"),
                    services.LineInput(
                        self.account(credit), "credit", D(amount), company.currency, label="cr"
                    ),
                ],
                post=post,
            )
            return [line.id for line in entry.lines]

    def line(self, date: str, debit: str, credit: str, amount: str, *, post: bool = True) -> uuid.UUID:
        """As :meth:`post`, returning the line on the reconcilable account (1210 or 2000)."""
        debit_line, credit_line = self.post(date, debit, credit, amount, post=post)
        return debit_line if debit in ("1210", "2000") else credit_line

    def reconcile(self, *line_ids: uuid.UUID) -> r.ReconciliationResult:
        with transaction(self.runtime.session_factory) as session:
            return r.reconcile(session, self.ctx, self.company_id, list(line_ids))

    def unreconcile(self, reconciliation_id: uuid.UUID, company_id: uuid.UUID | None = None) -> list[r.Match]:
        with transaction(self.runtime.session_factory) as session:
            return r.unreconcile(session, self.ctx, company_id or self.company_id, reconciliation_id)

    def open_items(self, as_of: str, account: str | None = None) -> r.OpenItemsReport:
        with self.runtime.session_factory() as session:
            return r.open_items(
                session, self.company_id, self.account(account) if account else None, day(as_of)
            )

    def count(self, table: Any) -> int:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(table))

    def events(self, type_: str) -> list[Event]:
        with self.runtime.session_factory() as session:
            return list(session.scalars(select(Event).where(Event.type == type_).order_by(Event.position)))


@pytest.fixture
def ledger(runtime: Runtime, company: dict[str, Any]) -> Ledger:
    """ACME's books. 1210 receivables and 2000 payables are reconcilable; 1000 cash, 4000 sales and
    6000 rent are not."""
    return Ledger(runtime, uuid.UUID(company["id"]))


@pytest.fixture
def globex(runtime: Runtime, client: Any, admin: dict[str, str]) -> Ledger:
    response = client.post(
        "/api/v1/companies",
        json={"code": "GLOBEX", "name": "Globex Corp", "currency": "USD", "country": "US"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return Ledger(runtime, uuid.UUID(response.json()["id"]))


# -- reconcile -------------------------------------------------------------------------------------


def test_a_payment_settles_the_oldest_invoice_first_and_partly_the_next(ledger):
    invoice_1 = ledger.line("2026-03-01", "1210", "4000", "100.00")
    invoice_2 = ledger.line("2026-03-10", "1210", "4000", "50.00")
    payment = ledger.line("2026-03-20", "1000", "1210", "120.00")

    result = ledger.reconcile(payment, invoice_2, invoice_1)  # order of the request does not matter

    assert [(m.debit_line_id, m.credit_line_id, m.amount) for m in result.matches] == [
        (invoice_1, payment, D("100.00")),
        (invoice_2, payment, D("20.00")),
    ]
    assert [(line.line_id, line.side, line.amount, line.matched, line.residual) for line in result.lines] == [
        (payment, "credit", D("120.00"), D("120.00"), D(0)),
        (invoice_2, "debit", D("50.00"), D("20.00"), D("30.00")),
        (invoice_1, "debit", D("100.00"), D("100.00"), D(0)),
    ]
    assert not result.fully_reconciled
    assert result.matched_total == D("120.00")
    with ledger.runtime.session_factory() as session:
        rows = list(session.scalars(select(a.LineMatch)))
    assert {row.reconciliation_id for row in rows} == {result.reconciliation_id}
    assert sorted(row.amount for row in rows) == [D("20.00"), D("100.00")]
    assert {row.account_id for row in rows} == {ledger.account("1210")}
    [recorded] = ledger.events("LinesReconciled")
    assert recorded.aggregate_id == result.reconciliation_id
    assert recorded.payload["residuals"] == {
        str(payment): "0.00",
        str(invoice_2): "30.00",
        str(invoice_1): "0.00",
    }
    assert recorded.payload["fully_reconciled"] is False

    # the second payment closes what was left of invoice 2
    payment_2 = ledger.line("2026-03-25", "1000", "1210", "30.00")
    second = ledger.reconcile(invoice_2, payment_2)

    assert [(m.debit_line_id, m.credit_line_id, m.amount) for m in second.matches] == [
        (invoice_2, payment_2, D("30.00"))
    ]
    assert [line.residual for line in second.lines] == [D(0), D(0)]
    assert second.fully_reconciled


def test_an_overpayment_leaves_the_payment_open(ledger):
    invoice = ledger.line("2026-03-01", "1210", "4000", "100.00")
    payment = ledger.line("2026-03-02", "1000", "1210", "150.00")

    result = ledger.reconcile(invoice, payment)

    assert [(line.line_id, line.residual) for line in result.lines] == [
        (invoice, D(0)),
        (payment, D("50.00")),
    ]
    assert not result.fully_reconciled


def test_payables_match_the_same_way_credit_invoice_against_debit_payment(ledger):
    bill = ledger.line("2026-03-01", "6000", "2000", "80.00")
    payment = ledger.line("2026-03-05", "2000", "1000", "80.00")

    result = ledger.reconcile(bill, payment)

    assert [(m.debit_line_id, m.credit_line_id, m.amount) for m in result.matches] == [
        (payment, bill, D("80.00"))
    ]
    assert result.fully_reconciled


def assert_nothing_written(ledger: Ledger) -> None:
    assert ledger.count(a.LineMatch) == 0
    assert ledger.events("LinesReconciled") == []


def test_lines_of_different_accounts_are_refused(ledger):
    receivable = ledger.line("2026-03-01", "1210", "4000", "10.00")
    payable = ledger.line("2026-03-01", "6000", "2000", "10.00")

    with pytest.raises(ValidationFailed) as refused:
        ledger.reconcile(receivable, payable)

    assert refused.value.code == "different-accounts"
    assert_nothing_written(ledger)


def test_lines_of_a_non_reconcilable_account_are_refused(ledger):
    _, sale = ledger.post("2026-03-01", "1000", "4000", "10.00")
    refund, _ = ledger.post("2026-03-02", "4000", "1000", "10.00")

    with pytest.raises(ValidationFailed) as refused:
        ledger.reconcile(sale, refund)

    assert refused.value.code == "account-not-reconcilable"
    assert_nothing_written(ledger)


def test_draft_lines_are_refused(ledger):
    invoice = ledger.line("2026-03-01", "1210", "4000", "10.00", post=False)
    payment = ledger.line("2026-03-02", "1000", "1210", "10.00")

    with pytest.raises(ValidationFailed) as refused:
        ledger.reconcile(payment, invoice)

    assert refused.value.code == "line-not-posted"
    assert [p.field for p in refused.value.problems] == ["line_ids.1"]
    assert_nothing_written(ledger)


def test_a_fully_matched_line_is_refused(ledger):
    invoice = ledger.line("2026-03-01", "1210", "4000", "10.00")
    payment = ledger.line("2026-03-02", "1000", "1210", "10.00")
    ledger.reconcile(invoice, payment)
    another = ledger.line("2026-03-03", "1000", "1210", "5.00")

    with pytest.raises(Conflict) as refused:
        ledger.reconcile(invoice, another)

    assert refused.value.code == "line-already-reconciled"
    assert [p.field for p in refused.value.problems] == ["line_ids.0"]
    assert ledger.count(a.LineMatch) == 1


def test_another_companys_line_is_reported_like_an_unknown_one(ledger, globex):
    invoice = ledger.line("2026-03-01", "1210", "4000", "10.00")
    theirs = globex.line("2026-03-02", "1000", "1210", "10.00")

    with pytest.raises(InvalidReference) as foreign:
        ledger.reconcile(invoice, theirs)
    with pytest.raises(InvalidReference) as unknown:
        ledger.reconcile(invoice, uuid.uuid4())

    assert foreign.value.code == unknown.value.code == "line-not-found"
    assert (
        [p.field for p in foreign.value.problems]
        == [p.field for p in unknown.value.problems]
        == ["line_ids.1"]
    )
    assert_nothing_written(ledger)


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ("none", "validation-failed"),
        ("twice", "duplicate-line"),
        ("debits", "nothing-to-match"),
    ],
)
def test_requests_that_cannot_match_anything_are_refused(ledger, lines, code):
    first = ledger.line("2026-03-01", "1210", "4000", "10.00")
    second = ledger.line("2026-03-02", "1210", "4000", "20.00")
    ids = {"none": [], "twice": [first, second, first], "debits": [first, second]}[lines]

    with pytest.raises(ValidationFailed) as refused:
        ledger.reconcile(*ids)

    assert refused.value.code == code
    assert_nothing_written(ledger)


# -- unreconcile -----------------------------------------------------------------------------------


def test_unreconcile_removes_one_reconciliation_and_reopens_its_lines(ledger, globex):
    invoice = ledger.line("2026-03-01", "1210", "4000", "100.00")
    payment_1 = ledger.line("2026-03-02", "1000", "1210", "60.00")
    payment_2 = ledger.line("2026-03-03", "1000", "1210", "40.00")
    first = ledger.reconcile(invoice, payment_1)
    second = ledger.reconcile(invoice, payment_2)
    assert ledger.open_items("2026-03-31").items == []

    removed = ledger.unreconcile(second.reconciliation_id)

    assert [(m.debit_line_id, m.credit_line_id, m.amount) for m in removed] == [
        (invoice, payment_2, D("40.00"))
    ]
    assert ledger.count(a.LineMatch) == 1  # the first reconciliation stays
    report = ledger.open_items("2026-03-31")
    assert [(i.line_id, i.matched, i.residual, i.open_balance) for i in report.items] == [
        (invoice, D("60.00"), D("40.00"), D("40.00")),
        (payment_2, D(0), D("40.00"), D("-40.00")),
    ]
    [recorded] = ledger.events("LinesUnreconciled")
    assert recorded.aggregate_id == second.reconciliation_id
    assert recorded.payload["matches"][0]["amount"] == "40.00"

    with pytest.raises(NotFound):
        ledger.unreconcile(second.reconciliation_id)  # already gone
    with pytest.raises(NotFound):
        ledger.unreconcile(first.reconciliation_id, company_id=globex.company_id)  # not theirs
    assert ledger.count(a.LineMatch) == 1


# -- open items ------------------------------------------------------------------------------------


@pytest.fixture
def aged(ledger: Ledger) -> dict[str, uuid.UUID]:
    """Receivables of every age as of 2026-06-30, one partly paid, one paid after the report date,
    and a supplier bill."""
    lines = {
        "A": ledger.line("2026-06-30", "1210", "4000", "10.00"),  # age 0
        "B": ledger.line("2026-05-31", "1210", "4000", "20.00"),  # 30
        "C": ledger.line("2026-05-30", "1210", "4000", "30.00"),  # 31
        "D": ledger.line("2026-05-01", "1210", "4000", "40.00"),  # 60
        "E": ledger.line("2026-04-30", "1210", "4000", "50.00"),  # 61
        "F": ledger.line("2026-04-01", "1210", "4000", "60.00"),  # 90
        "G": ledger.line("2026-03-31", "1210", "4000", "70.00"),  # 91
        "P": ledger.line("2026-06-15", "1000", "1210", "25.00"),  # pays part of G
        "Q": ledger.line("2026-07-05", "1000", "1210", "40.00"),  # pays D, after the report date
        "H": ledger.line("2026-07-01", "1210", "4000", "5.00"),  # after the report date
        "S": ledger.line("2026-06-10", "6000", "2000", "80.00"),  # a bill: credit on payables
    }
    ledger.reconcile(lines["G"], lines["P"])
    ledger.reconcile(lines["D"], lines["Q"])
    return lines


def test_open_items_are_aged_into_buckets_with_totals(ledger, aged):
    report = ledger.open_items("2026-06-30")

    names = {line_id: name for name, line_id in aged.items()}
    assert [
        (names[i.line_id], i.account_code, i.age_days, i.bucket, i.matched, i.residual, i.open_balance)
        for i in report.items
    ] == [
        ("G", "1210", 91, ">90", D("25.00"), D("45.00"), D("45.00")),
        ("F", "1210", 90, "61-90", D(0), D("60.00"), D("60.00")),
        ("E", "1210", 61, "61-90", D(0), D("50.00"), D("50.00")),
        ("D", "1210", 60, "31-60", D(0), D("40.00"), D("40.00")),  # Q pays it only on 5 July
        ("C", "1210", 31, "31-60", D(0), D("30.00"), D("30.00")),
        ("B", "1210", 30, "0-30", D(0), D("20.00"), D("20.00")),
        ("A", "1210", 0, "0-30", D(0), D("10.00"), D("10.00")),
        ("S", "2000", 20, "0-30", D(0), D("80.00"), D("-80.00")),
    ]
    receivables, payables = report.accounts
    assert (receivables.account_code, receivables.items, receivables.open_balance) == ("1210", 7, D("255.00"))
    assert receivables.buckets == {
        "0-30": D("30.00"),
        "31-60": D("70.00"),
        "61-90": D("110.00"),
        ">90": D("45.00"),
    }
    assert (payables.account_code, payables.items, payables.open_balance) == ("2000", 1, D("-80.00"))
    assert payables.buckets == {"0-30": D("-80.00"), "31-60": D(0), "61-90": D(0), ">90": D(0)}
    assert report.buckets == {
        "0-30": D("-50.00"),
        "31-60": D("70.00"),
        "61-90": D("110.00"),
        ">90": D("45.00"),
    }
    assert report.total == D("175.00")
    first = report.items[0]
    assert (first.entry_number, first.date, first.currency, first.side) == (
        "MISC/2026/000007", day("2026-03-31"), "EUR", "debit"
    )  # fmt: skip


def test_open_items_later_see_the_later_payment_and_can_be_limited_to_one_account(ledger, aged):
    later = ledger.open_items("2026-07-05", account="1210")

    names = {line_id: name for name, line_id in aged.items()}
    assert [(names[i.line_id], i.age_days, i.bucket) for i in later.items] == [
        ("G", 96, ">90"),
        ("F", 95, ">90"),
        ("E", 66, "61-90"),
        ("C", 36, "31-60"),
        ("B", 35, "31-60"),
        ("A", 5, "0-30"),
        ("H", 4, "0-30"),
    ]
    assert later.total == D("220.00")
    assert [t.account_code for t in later.accounts] == ["1210"]


def test_open_items_refuse_an_unknown_or_non_reconcilable_account(ledger, globex):
    with ledger.runtime.session_factory() as session:
        with pytest.raises(ValidationFailed) as not_reconcilable:
            r.open_items(session, ledger.company_id, ledger.account("4000"), day("2026-06-30"))
        with pytest.raises(InvalidReference) as foreign:
            r.open_items(session, ledger.company_id, globex.account("1210"), day("2026-06-30"))

    assert not_reconcilable.value.code == "account-not-reconcilable"
    assert [p.field for p in foreign.value.problems] == ["account_id"]


def test_open_items_take_one_query_however_many_lines(ledger, runtime):
    def statements() -> int:
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        event.listen(runtime.engine, "before_cursor_execute", count)
        try:
            ledger.open_items("2026-06-30")
        finally:
            event.remove(runtime.engine, "before_cursor_execute", count)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])

    for n in range(3):
        invoice = ledger.line("2026-03-01", "1210", "4000", "10.00")
        ledger.reconcile(invoice, ledger.line("2026-03-02", "1000", "1210", f"{n % 9 + 1}.00"))
    few = statements()
    for n in range(12):
        invoice = ledger.line("2026-03-01", "1210", "4000", "10.00")
        ledger.reconcile(invoice, ledger.line("2026-03-02", "1000", "1210", f"{n % 9 + 1}.00"))
    many = statements()

    assert few == many == 1
    assert len(ledger.open_items("2026-06-30").items) == 15
