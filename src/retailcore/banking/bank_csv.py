"""Reading a bank's CSV export through a column mapping (the banks that send no CAMT.053).

The mapping names the file's columns (by header name, never by position)::

    {"columns": {"date": "Booking date", "amount": "Amount", "currency": "Currency",
                 "reference": "Bank reference", "remittance": "Details", "counterparty": "Name",
                 "counterparty_iban": "Account", "end_to_end_id": "E2E", "value_date": "Value date",
                 "balance": "Balance"},
     "delimiter": ",", "decimal": "."}

``date`` and either ``amount`` (signed, credit positive) or ``credit`` and ``debit`` (two unsigned
columns) are required; ``currency`` defaults to the account's. With a ``balance`` column (the running
balance after each row), the statement's opening balance is the first row's balance minus its amount,
its closing balance the last row's, and every row's balance is checked; without one, the statement has
no balances. A bad file is refused at its first bad line, nothing written.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

from retailcore.banking.camt053 import ParsedEntry, ParsedStatement, StatementRefused, check_balances
from retailcore.banking.camt053 import currency as currency_of
from retailcore.banking.camt053 import date as date_of
from retailcore.core.currencies import minor_unit

KNOWN = (
    "date",
    "amount",
    "credit",
    "debit",
    "currency",
    "reference",
    "remittance",
    "counterparty",
    "counterparty_iban",
    "end_to_end_id",
    "value_date",
    "balance",
)
_SIGNED = re.compile(r"^[+-]?\d+(\.\d+)?$")


def _mapping(mapping: dict[str, Any] | None) -> tuple[dict[str, str], str, str]:
    if not mapping or not isinstance(mapping.get("columns"), dict):
        raise StatementRefused("mapping", "a CSV statement needs a mapping with columns (docs/payments.md)")
    columns = {str(k): str(v) for k, v in mapping["columns"].items()}
    unknown = sorted(set(columns) - set(KNOWN))
    if unknown:
        raise StatementRefused("mapping", f"unknown column role(s) {', '.join(unknown)}")
    if "date" not in columns or not ("amount" in columns or {"credit", "debit"} <= set(columns)):
        raise StatementRefused("mapping", "date and amount (or credit and debit) are required")
    delimiter = str(mapping.get("delimiter", ","))
    decimal = str(mapping.get("decimal", "."))
    if len(delimiter) != 1 or decimal not in (".", ","):
        raise StatementRefused("mapping", "delimiter is one character, decimal '.' or ','")
    return columns, delimiter, decimal


def _amount(text: str, decimal: str, code: str, where: str, line: int, blank_is_zero: bool) -> Decimal:
    value = text.strip().replace(" ", "")
    if decimal == ",":
        value = value.replace(".", "").replace(",", ".")
    if not value and blank_is_zero:
        return Decimal(0)
    if not _SIGNED.match(value):
        raise StatementRefused(where, f"{text!r} is not an amount", line)
    number = Decimal(value)
    if -number.as_tuple().exponent > minor_unit(code):  # type: ignore[operator]
        raise StatementRefused(where, f"{text!r} has more decimals than {code} has", line)
    return number


def parse(text: str, mapping: dict[str, Any] | None, account: str, account_currency: str) -> ParsedStatement:
    """One statement of ``account`` from the CSV ``text`` (the header is line 1)."""
    columns, delimiter, decimal = _mapping(mapping)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise StatementRefused("line 1", "the file is empty", 1) from None
    except csv.Error as exc:
        raise StatementRefused("line 1", f"not CSV ({exc})", 1) from None
    missing = [name for name in columns.values() if name not in header]
    if missing:
        raise StatementRefused("line 1", f"wrong header: no column {', '.join(missing)}", 1)
    statement = ParsedStatement(account=account, currency=account_currency, reference="")
    previous: Decimal | None = None
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or fields == [""]:
                continue
            where = f"line {line}"
            if len(fields) != len(header):
                raise StatementRefused(
                    where, f"the row has {len(fields)} fields, the header {len(header)} (truncated?)", line
                )
            row = dict(zip(header, fields, strict=True))

            def get(role: str, row: dict[str, str] = row) -> str:
                return (row.get(columns[role], "") if role in columns else "").strip()

            code = currency_of(get("currency"), where, line) if get("currency") else account_currency
            if "amount" in columns:
                value = _amount(get("amount"), decimal, code, where, line, blank_is_zero=False)
            else:
                credit = _amount(get("credit"), decimal, code, where, line, blank_is_zero=True)
                debit = _amount(get("debit"), decimal, code, where, line, blank_is_zero=True)
                if credit < 0 or debit < 0:
                    raise StatementRefused(where, "credit and debit are amounts without a sign", line)
                value = credit - debit
            if value == 0:
                raise StatementRefused(where, "an entry of zero", line)
            if code != account_currency:
                raise StatementRefused(where, f"currency {code}, the account's is {account_currency}", line)
            number = len(statement.entries) + 1
            statement.entries.append(
                ParsedEntry(
                    number=number,
                    line=line,
                    amount=value,
                    currency=code,
                    booked_on=date_of(get("date"), where, columns["date"], line),
                    value_on=date_of(get("value_date"), where, "value_date", line)
                    if get("value_date")
                    else None,
                    reference=get("reference") or None,
                    end_to_end_id=get("end_to_end_id") or None,
                    remittance=get("remittance")[:1000],
                    counterparty=get("counterparty") or None,
                    counterparty_iban=get("counterparty_iban").replace(" ", "").upper() or None,
                )
            )
            if "balance" in columns:
                balance = _amount(get("balance"), decimal, code, where, line, blank_is_zero=False)
                if previous is None:
                    statement.opening = balance - value
                elif previous + value != balance:
                    raise StatementRefused(
                        where, f"balance {balance} is not the previous {previous} plus {value}", line
                    )
                previous = balance
    except csv.Error as exc:
        raise StatementRefused(f"line {reader.line_num}", f"not CSV ({exc})", reader.line_num) from None
    if statement.entries:
        statement.opening_on = min(e.booked_on for e in statement.entries)
        statement.closing_on = max(e.booked_on for e in statement.entries)
        statement.reference = f"{statement.opening_on}..{statement.closing_on}"
    statement.closing = previous
    check_balances(statement, "file")
    return statement
