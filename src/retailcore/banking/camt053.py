"""Reading ISO 20022 CAMT.053 (bank-to-customer statement) files, and what every statement parser
produces.

A file is read whole before anything is written and refused at the first problem, naming the entry and
its line: not a CAMT.053 document (any ``urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN`` namespace is
read: the elements used here are the same from version 02 on), XML cut short or malformed, a statement
without an account, an unknown currency, an entry without an amount, a direction (``CdtDbtInd``) or a
booking date, an amount that is not an exact decimal in its currency's minor units, and a statement
whose opening balance plus its booked entries is not its closing balance.

Read per ``Stmt``: ``Acct/Id/IBAN`` (or ``Acct/Id/Othr/Id``), ``Acct/Ccy``, the balances ``Bal`` of type
``OPBD`` and ``CLBD`` (``Amt@Ccy``, ``CdtDbtInd``, ``Dt/Dt``); per ``Ntry``: ``Amt@Ccy``, ``CdtDbtInd``,
``RvslInd``, ``Sts`` (``BOOK``; pending and information entries are skipped), ``BookgDt``, ``ValDt``,
``AcctSvcrRef``, ``AddtlNtryInf`` and, from ``NtryDtls/TxDtls``, ``Refs/EndToEndId``, ``RmtInf/Ustrd``
and ``RltdPties`` (the debtor of a credit, the creditor of a debit: name and account).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from lxml import etree

from retailcore.core.currencies import is_currency, minor_unit
from retailcore.core.errors import FieldProblem, ValidationFailed

NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d{2}$")
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class ParsedEntry:
    """One booked entry, signed: a credit (money in) is positive."""

    number: int
    """Its rank in the statement (1 is the first entry)."""
    line: int
    amount: Decimal
    currency: str
    booked_on: dt.date
    value_on: dt.date | None = None
    reference: str | None = None
    end_to_end_id: str | None = None
    remittance: str = ""
    counterparty: str | None = None
    counterparty_iban: str | None = None


@dataclass
class ParsedStatement:
    """One statement of one account; balances signed, None when the file states none."""

    account: str
    currency: str | None
    reference: str
    opening: Decimal | None = None
    closing: Decimal | None = None
    opening_on: dt.date | None = None
    closing_on: dt.date | None = None
    entries: list[ParsedEntry] = field(default_factory=list)


class StatementRefused(ValidationFailed):
    """A statement file that cannot be imported; ``where`` names the entry and line."""

    def __init__(self, where: str, message: str, line: int | None = None) -> None:
        field_name = f"file.line.{line}" if line else "file"
        super().__init__(
            f"{where}: {message}", code="bank-statement-refused", problems=[FieldProblem(field_name, message)]
        )
        self.line = line


def amount(text: str | None, code: str, where: str, line: int | None) -> Decimal:
    value = (text or "").strip()
    if not _DECIMAL.match(value):
        raise StatementRefused(where, f"{text!r} is not an amount", line)
    number = Decimal(value)
    if -number.as_tuple().exponent > minor_unit(code):  # type: ignore[operator]
        raise StatementRefused(where, f"{value} has more decimals than {code} has", line)
    return number


def currency(code: str | None, where: str, line: int | None) -> str:
    value = (code or "").strip().upper()
    if not is_currency(value):
        raise StatementRefused(where, f"unknown currency {code!r}", line)
    return value


def date(text: str | None, where: str, what: str, line: int | None) -> dt.date:
    value = (text or "").strip()
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise StatementRefused(where, f"{what}: {text!r} is not a date", line) from None


def check_balances(statement: ParsedStatement, where: str) -> None:
    """Opening + booked entries = closing, when both balances are given."""
    if statement.opening is None or statement.closing is None:
        return
    total = statement.opening + sum((e.amount for e in statement.entries), Decimal(0))
    if total != statement.closing:
        raise StatementRefused(
            where,
            f"opening balance {statement.opening} + entries {total - statement.opening}"
            f" = {total}, not the closing balance {statement.closing}",
        )


class _Reader:
    def __init__(self, ns: str) -> None:
        self.ns = {"c": ns}

    def one(self, node: etree._Element, path: str) -> etree._Element | None:
        found = node.find(path, self.ns)
        return found

    def text(self, node: etree._Element, path: str) -> str | None:
        found = node.find(path, self.ns)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def all(self, node: etree._Element, path: str) -> list[etree._Element]:
        return node.findall(path, self.ns)


def _signed(indicator: str | None, value: Decimal, where: str, line: int | None) -> Decimal:
    if indicator == "CRDT":
        return value
    if indicator == "DBIT":
        return -value
    raise StatementRefused(where, f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT", line)


def parse(content: bytes) -> list[ParsedStatement]:
    """The statements of a CAMT.053 document (see the module for what is read and refused)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or None
        raise StatementRefused(f"line {line}", f"not well-formed XML ({exc.msg})", line) from None
    ns = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not NAMESPACE.match(ns):
        raise StatementRefused("file", f"not a CAMT.053 document (root {root.tag})", root.sourceline)
    r = _Reader(ns)
    statements = r.all(root, "c:BkToCstmrStmt/c:Stmt")
    if not statements:
        raise StatementRefused("file", "no statement (BkToCstmrStmt/Stmt)", root.sourceline)
    return [_statement(r, node, index) for index, node in enumerate(statements, start=1)]


def _statement(r: _Reader, node: etree._Element, index: int) -> ParsedStatement:
    where = f"statement {index}"
    account = r.text(node, "c:Acct/c:Id/c:IBAN") or r.text(node, "c:Acct/c:Id/c:Othr/c:Id")
    if account is None:
        raise StatementRefused(where, "no account (Acct/Id/IBAN)", node.sourceline)
    declared = r.text(node, "c:Acct/c:Ccy")
    statement = ParsedStatement(
        account=account.replace(" ", "").upper(),
        currency=currency(declared, where, node.sourceline) if declared else None,
        reference=r.text(node, "c:Id") or r.text(node, "c:ElctrncSeqNb") or f"statement {index}",
    )
    for balance in r.all(node, "c:Bal"):
        kind = r.text(balance, "c:Tp/c:CdOrPrtry/c:Cd")
        if kind not in ("OPBD", "CLBD"):
            continue
        line = balance.sourceline
        amt = r.one(balance, "c:Amt")
        if amt is None:
            raise StatementRefused(f"{where}, balance {kind}", "no amount", line)
        code = currency(amt.get("Ccy"), f"{where}, balance {kind}", line)
        statement.currency = statement.currency or code
        value = _signed(
            r.text(balance, "c:CdtDbtInd"),
            amount(amt.text, code, f"{where}, balance {kind}", line),
            f"{where}, balance {kind}",
            line,
        )
        day = r.text(balance, "c:Dt/c:Dt") or r.text(balance, "c:Dt/c:DtTm")
        on = date(day, f"{where}, balance {kind}", "Dt", line) if day else None
        if kind == "OPBD":
            statement.opening, statement.opening_on = value, on
        else:
            statement.closing, statement.closing_on = value, on
    for number, entry in enumerate(r.all(node, "c:Ntry"), start=1):
        parsed = _entry(r, entry, f"{where}, entry {number} (line {entry.sourceline})", number)
        if parsed is not None:
            statement.entries.append(parsed)
    if statement.currency is None and statement.entries:
        statement.currency = statement.entries[0].currency
    for entry in statement.entries:
        if entry.currency != statement.currency:
            raise StatementRefused(
                f"{where}, entry {entry.number} (line {entry.line})",
                f"currency {entry.currency}, the statement's is {statement.currency}",
                entry.line,
            )
    if statement.closing_on is None and statement.entries:
        statement.closing_on = max(e.booked_on for e in statement.entries)
    check_balances(statement, where)
    return statement


def _entry(r: _Reader, node: etree._Element, where: str, number: int) -> ParsedEntry | None:
    line = node.sourceline
    status = r.text(node, "c:Sts/c:Cd") or r.text(node, "c:Sts")
    if status is not None and status != "BOOK":
        return None  # pending (PDNG) and information (INFO) entries are not on the balance
    amt = r.one(node, "c:Amt")
    if amt is None:
        raise StatementRefused(where, "no amount (Amt)", line)
    code = currency(amt.get("Ccy"), where, line)
    value = _signed(r.text(node, "c:CdtDbtInd"), amount(amt.text, code, where, line), where, line)
    if r.text(node, "c:RvslInd") == "true":
        value = -value  # a reversal books the opposite of its indicator
    booked = r.text(node, "c:BookgDt/c:Dt") or r.text(node, "c:BookgDt/c:DtTm")
    if booked is None:
        raise StatementRefused(where, "no booking date (BookgDt)", line)
    valued = r.text(node, "c:ValDt/c:Dt") or r.text(node, "c:ValDt/c:DtTm")
    tx = r.one(node, "c:NtryDtls/c:TxDtls")
    texts = []
    end_to_end = counterparty = counterparty_iban = None
    if tx is not None:
        end_to_end = r.text(tx, "c:Refs/c:EndToEndId")
        if end_to_end == "NOTPROVIDED":
            end_to_end = None
        texts += [t.text.strip() for t in r.all(tx, "c:RmtInf/c:Ustrd") if t.text and t.text.strip()]
        party = "c:RltdPties/c:Dbtr" if value > 0 else "c:RltdPties/c:Cdtr"
        account = "c:RltdPties/c:DbtrAcct" if value > 0 else "c:RltdPties/c:CdtrAcct"
        counterparty = r.text(tx, f"{party}/c:Nm") or r.text(tx, f"{party}/c:Pty/c:Nm")
        counterparty_iban = r.text(tx, f"{account}/c:Id/c:IBAN")
    extra = r.text(node, "c:AddtlNtryInf")
    if extra:
        texts.append(extra)
    return ParsedEntry(
        number=number,
        line=line or 0,
        amount=value,
        currency=code,
        booked_on=date(booked, where, "BookgDt", line),
        value_on=date(valued, where, "ValDt", line) if valued else None,
        reference=r.text(node, "c:AcctSvcrRef"),
        end_to_end_id=end_to_end,
        remittance=" / ".join(texts)[:1000],
        counterparty=counterparty,
        counterparty_iban=counterparty_iban.replace(" ", "").upper() if counterparty_iban else None,
    )
