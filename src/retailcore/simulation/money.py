"""The money side of the simulation (decision 0042): the gateways and the bank as master data, the
gateways' settlement files and the bank's statements written in the real formats and imported through
the real services (``settlements.services.import_file``, ``banking.services.import_statement``), so
matching and posting follow the path a retailer's files take.

- **Gateways**: ``adyen`` (the store terminals, Adyen's settlement details report), ``stripe`` (the web
  shop, Stripe's payout reconciliation CSV), ``amazon`` and ``shopify`` (generic CSV with
  :data:`CSV_MAPPING`). They share the chart's card clearing account (captures post there by role);
  each has its own payouts-in-transit account (``1011``..``1014``), so the safe's cash
  (``cash_in_transit``) never mixes with a gateway's payouts.
- **A payout per gateway and day**: on payout day ``X`` the gateway settles what was captured up to day
  ``X - delay`` and not settled yet (one line per capture, with the payment's own reference and the
  order's number, the fee of the contract), and every refund recorded up to ``X`` of a payment it has
  settled or settles now (one line per payment: what was refunded since). The payout is the net.
- **Bank statements**: one CAMT.053 per payout day, the payouts and the stores' cash deposits booked on
  that day; its opening balance is the previous statement's closing balance.
- **Deterministic**: every reference is derived from the company, the payment or the day (hashes), so a
  seed gives the same files.
- **Planted mismatches** (the ``settlement-mismatches`` fault, :func:`plant_mismatches`): about one line
  in :data:`PLANT_EVERY` settles differently from our books, chosen by a hash of the line (no draw of
  the run's random streams, so every other figure of the run is drawn as without it), and each is
  kept as ground truth: a ``SimulationGroundTruthRecorded`` event of kind ``mismatch`` naming the
  exceptions console's key and the triage class (decision 0076).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from retailcore.banking import commands as bc
from retailcore.banking import services as banking
from retailcore.banking.tables import BankStatement
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import commands as mc
from retailcore.masterdata import services as ms
from retailcore.masterdata import tables as t
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.settlements import commands as sc
from retailcore.settlements import services as settlements
from retailcore.settlements.tables import SettlementLine
from retailcore.simulation.campaigns import record_truth

CENT = Decimal("0.01")
ZERO = Decimal(0)
BANK_CODE = "MAIN"
GATEWAYS: tuple[tuple[str, str, str, str], ...] = (
    ("adyen", "adyen", "1011", "Adyen payouts in transit"),
    ("stripe", "stripe", "1012", "Stripe payouts in transit"),
    ("amazon", "csv", "1013", "Amazon disbursements in transit"),
    ("shopify", "csv", "1014", "Shopify payouts in transit"),
)
"""``(code, format, transit account, its name)``."""
CSV_MAPPING: dict[str, Any] = {
    "columns": {
        "line_id": "Transaction ID",
        "date": "Date",
        "type": "Type",
        "currency": "Currency",
        "gross": "Gross",
        "fee": "Fee",
        "net": "Net",
        "reference": "Payment Reference",
        "order_ref": "Order",
        "batch": "Settlement ID",
    },
    "types": {"Order": "charge", "Refund": "refund", "Disbursement": "payout"},
}
"""The column mapping of the generic CSV gateways' settlement reports (``amazon``, ``shopify``)."""
ADYEN_HEADER = (
    "Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,"
    "TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,"
    "Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),"
    "Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number,Reserved4,"
    "Reserved5,Reserved6,Reserved7,Reserved8,Reserved9,Reserved10"
)
STRIPE_HEADER = (
    "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,"
    "source_id,description,automatic_payout_id,automatic_payout_effective_at_utc,charge_id,"
    "payment_intent_id,payment_metadata[order_id]"
)
CSV_HEADER = "Transaction ID,Date,Type,Currency,Gross,Fee,Net,Payment Reference,Order,Settlement ID"


def digest(*parts: object, size: int = 16) -> str:
    """A deterministic hex reference from ``parts``."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:size]


def psp_reference(client_uuid: uuid.UUID) -> str:
    """The 16-digit reference an Adyen terminal gives a card payment (derived from the sale's id)."""
    return str(int(digest("psp", client_uuid), 16) % 10**16).zfill(16)


def iban_of(company_code: str) -> str:
    """A deterministic French IBAN (check digits computed) for the company's main account."""
    bban = f"30006000{int(digest('iban', company_code), 16) % 10**11:011d}89"
    numeric = "".join(str(int(ch, 36)) for ch in bban + "FR00")
    return f"FR{98 - int(numeric) % 97:02d}{bban}"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _booked(line: Line, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(line.day or day, dt.time(5))


def _fmt(value: Decimal) -> str:
    return f"{value:.2f}"


# -- master data -----------------------------------------------------------------------------------------


def ensure_master_data(session: Session, ctx: CommandContext, company: t.Company, codes: list[str]) -> None:
    """The transit accounts and gateways of ``codes``, and the main bank account, created when missing."""
    have = set(session.scalars(select(t.Account.code).where(t.Account.company_id == company.id)))
    for code, fmt, transit, name in GATEWAYS:
        if code not in codes:
            continue
        if transit not in have:
            ms.create(
                session,
                ctx,
                ms.ACCOUNT,
                mc.CreateAccount(
                    company_id=company.id, code=transit, name=name, type="asset", reconcilable=True
                ),
            )
        if settlements.find_gateway(session, company, code) is None:
            settlements.create_gateway(
                session,
                ctx,
                company,
                sc.CreateGateway(code=code, name=code.capitalize(), format=fmt, transit_account=transit),  # type: ignore[arg-type]
            )
    if banking.find_account(session, company, BANK_CODE) is None:
        banking.create_account(
            session,
            ctx,
            company,
            bc.CreateBankAccount(
                company_id=company.id, code=BANK_CODE, name="Compte courant", iban=iban_of(company.code)
            ),
        )


# -- settlement files -------------------------------------------------------------------------------------


@dataclass
class Line:
    kind: str  # charge | refund
    payment_id: uuid.UUID
    reference: str
    order: str
    amount: Decimal
    fee: Decimal
    on: dt.datetime
    day: dt.date | None = None
    """A refund's booking day at the gateway (the day of the file that first carried it)."""
    planted: tuple[str, str] | None = None
    """A difference planted in this line: ``(the settlements' mismatch kind, the triage class)``."""

    @property
    def key(self) -> str:
        """What the gateway's own ids derive from: the order and the payment's reference (both given by
        the seed), never our random row ids, so a seed gives the same files."""
        return f"{self.order}/{self.reference}"


@dataclass
class Payout:
    gateway: str
    batch: str
    day: dt.date
    lines: list[Line]
    paid: bool = True
    """False: the batch is not paid out yet (its net is not above zero): no payout line."""

    @property
    def net(self) -> Decimal:
        return sum(
            (line.amount - line.fee if line.kind == "charge" else -line.amount for line in self.lines), ZERO
        )


def due_lines(
    session: Session,
    company: t.Company,
    gateway: str,
    captured_before: dt.datetime,
    rate: int,
    never: set[uuid.UUID],
) -> list[Line]:
    """What the gateway settles now: captures before ``captured_before`` not settled yet, and refunds not
    settled yet of the payments it has settled or settles now (``never``: payments it leaves out)."""
    payment, order, line = OrderPaymentRow, OrderRow, SettlementLine
    settled = (
        select(line.payment_id.label("payment_id"))
        .where(line.company_id == company.id, line.kind == "charge", line.payment_id.is_not(None))
        .subquery()
    )
    refunded = (
        select(line.payment_id.label("payment_id"), func.sum(line.gross).label("gross"))
        .where(line.company_id == company.id, line.kind == "refund", line.payment_id.is_not(None))
        .group_by(line.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(
            payment.id,
            payment.reference,
            payment.captured,
            payment.refunded,
            order.number,
            order.ordered_at,
            settled.c.payment_id,
            refunded.c.gross,
        )
        .join(order, and_(order.company_id == payment.company_id, order.id == payment.order_id))
        .outerjoin(settled, settled.c.payment_id == payment.id)
        .outerjoin(refunded, refunded.c.payment_id == payment.id)
        .where(
            payment.company_id == company.id,
            payment.gateway == gateway,
            payment.kind == "card",
            payment.captured > ZERO,
            order.ordered_at < captured_before,
        )
        .order_by(order.ordered_at, order.number, payment.position)
    ).all()
    lines: list[Line] = []
    for payment_id, reference, captured, refunds, number, ordered_at, done, settled_refunds in rows:
        if payment_id in never:
            continue
        if done is None:
            fee = _money(captured * rate / 10000)
            lines.append(Line("charge", payment_id, reference or "", number, captured, fee, ordered_at))
        open_refund = refunds + (settled_refunds or ZERO)
        if open_refund > 0:
            lines.append(Line("refund", payment_id, reference or "", number, open_refund, ZERO, ordered_at))
    return lines


MISMATCH_FAULT = "settlement-mismatches"
PLANT_EVERY = 20
PLANTS = {
    # line kind -> (settlements' mismatch kind, triage class, how the gateway's line differs)
    "charge": ("partial_capture", "amount_difference"),
    "refund": ("refund_unknown", "refund_mismatch"),
}


def plant_mismatches(gateway: str, lines: list[Line]) -> list[Line]:
    """The planted ``settlement-mismatches``: a charge settled at 90 % of its capture (the settlements
    raise ``partial_capture``), a refund settled 5.00 above ours (``refund_unknown``); about one line of
    each kind in :data:`PLANT_EVERY`, chosen by a hash of the line, each marked ``planted``."""
    for line in lines:
        if line.planted is not None or line.kind not in PLANTS:
            continue
        if int(digest("plant", gateway, line.key, line.kind), 16) % PLANT_EVERY:
            continue
        if line.kind == "charge":
            line.amount = _money(line.amount * Decimal("0.9"))
            line.fee = min(line.fee, line.amount)
        else:
            line.amount += Decimal("5.00")
        line.planted = PLANTS[line.kind]
    return lines


def record_planted(session: Session, ctx: CommandContext, company: t.Company, payout: Payout) -> int:
    """The ground truth of the payout's planted lines, once each (a batch carried to the next payout
    brings its lines again): the exceptions console's key of the mismatch and its class."""
    recorded = 0
    for line in payout.lines:
        if line.planted is None:
            continue
        kind, klass = line.planted
        record_truth(
            session,
            ctx,
            company.id,
            f"mismatch/{line.key}",
            {
                "kind": "mismatch",
                "exception_key": f"settlement:{payout.gateway}:{kind}",
                "exception_type": "payment_mismatch",
                "mismatch_kind": kind,
                "class": klass,
                "gateway": payout.gateway,
                "order": line.order,
                "reference": line.reference,
                "line": line.kind,
                "day": payout.day,
            },
        )
        line.planted = None
        recorded += 1
    return recorded


def batch_reference(company: t.Company, gateway: str, day: dt.date) -> str:
    if gateway == "adyen":
        return str(day.toordinal() - dt.date(2000, 1, 1).toordinal())
    if gateway == "stripe":
        return f"po_{digest(company.code, gateway, day, size=24)}"
    return f"{gateway.upper()}-{company.code}-{day:%Y%m%d}"


def settlement_file(company: t.Company, payout: Payout, currency: str) -> tuple[str, str]:
    """The payout's settlement report, in its gateway's own format: ``(filename, text)``."""
    day = payout.day
    paid = dt.datetime.combine(day, dt.time(6))
    if payout.gateway == "adyen":
        merchant = f"{company.code}POS"
        rows = [ADYEN_HEADER.split(",")]
        for line in payout.lines:
            gross, net, fee = _fmt(line.amount), _fmt(line.amount - line.fee), _fmt(line.fee)
            if line.kind == "charge":
                when, kind = line.on, "Settled"
                amounts = ["", gross, "1", currency, "", net, fee, "", "", ""]
            else:
                when, kind = _booked(line, day), "Refunded"
                amounts = [gross, "", "1", currency, gross, "", "", "", "", ""]
            modification = digest("mod", line.key, line.kind, line.day or day)
            rows.append(
                [company.code, merchant, line.reference, line.order, "visa", f"{when:%Y-%m-%d %H:%M:%S}",
                 "UTC", kind, modification, currency, *amounts, "visadebit", "", payout.batch, *[""] * 7]
            )  # fmt: skip
        rows += [
            [company.code, merchant, "", "", "", f"{paid:%Y-%m-%d %H:%M:%S}", "UTC", "MerchantPayout",
             f"TX{payout.batch}XT batch {payout.batch}, {merchant}", currency, "", "", "1", currency,
             _fmt(payout.net), "", "", "", "", "", "", "", payout.batch, *[""] * 7]
        ][: int(payout.paid)]  # fmt: skip
        return f"settlement_detail_report_batch_{payout.batch}.csv", _csv(rows)
    if payout.gateway == "stripe":
        effective = f"{paid:%Y-%m-%d %H:%M:%S}"
        rows = [STRIPE_HEADER.split(",")]
        for line in payout.lines:
            charge = f"ch_{digest('ch', line.key, size=24)}"
            if line.kind == "charge":
                txn = f"txn_{digest('txn', line.key, 'charge', size=24)}"
                source, category, gross, fee, created = charge, "charge", line.amount, line.fee, line.on
            else:
                txn = f"txn_{digest('txn', line.key, 'refund', line.day or day, size=24)}"
                source = f"re_{digest('re', line.key, line.day or day, size=24)}"
                category, gross, fee, created = "refund", -line.amount, ZERO, _booked(line, day)
            rows.append(
                [txn, f"{created:%Y-%m-%d %H:%M:%S}", effective, currency.lower(), _fmt(gross), _fmt(fee),
                 _fmt(gross - fee), category, source, f"{category} {line.order}", payout.batch, effective,
                 charge, line.reference, line.order]
            )  # fmt: skip
        rows += [
            [f"txn_{digest('txn', payout.batch, size=24)}", effective, effective, currency.lower(),
             _fmt(-payout.net), "0.00", _fmt(-payout.net), "payout", payout.batch, "STRIPE PAYOUT",
             payout.batch, effective, "", "", ""]
        ][: int(payout.paid)]  # fmt: skip
        return f"stripe_payout_reconciliation_{payout.batch}.csv", _csv(rows)
    rows = [CSV_HEADER.split(",")]
    for line in payout.lines:
        if line.kind == "charge":
            key, kind, gross, fee = (
                f"{payout.gateway}-{digest(line.key)}",
                "Order",
                line.amount,
                line.fee,
            )
            when = line.on
        else:
            key, kind, gross, fee = (
                f"{payout.gateway}-{digest(line.key, line.day or day)}",
                "Refund",
                -line.amount,
                ZERO,
            )
            when = _booked(line, day)
        rows.append(
            [key, f"{when:%Y-%m-%d}", kind, currency, _fmt(gross), _fmt(fee), _fmt(gross - fee),
             line.reference, line.order, payout.batch]
        )  # fmt: skip
    rows += [
        [f"{payout.batch}-PAYOUT", f"{day:%Y-%m-%d}", "Disbursement", currency, _fmt(-payout.net), "0.00",
         _fmt(-payout.net), "", "", payout.batch]
    ][: int(payout.paid)]  # fmt: skip
    return f"{payout.gateway}_settlement_{payout.batch}.csv", _csv(rows)


def import_settlement(
    session: Session, ctx: CommandContext, company: t.Company, payout: Payout, directory: Path | None
) -> Any:
    name, text = settlement_file(company, payout, company.currency)
    if directory is not None:
        folder = directory / "settlements" / payout.gateway
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    mapping = CSV_MAPPING if payout.gateway not in ("adyen", "stripe") else None
    result = settlements.import_file(session, ctx, company, payout.gateway, name, text, mapping=mapping)
    record_planted(session, ctx, company, payout)
    return result


# -- bank statements --------------------------------------------------------------------------------------


@dataclass
class BankEntry:
    amount: Decimal
    reference: str
    remittance: str
    counterparty: str


def opening_balance(session: Session, company: t.Company) -> tuple[Decimal, int]:
    """The closing balance of the main account's last statement (zero before the first) and the next
    statement's sequence number."""
    account = banking.find_account(session, company, BANK_CODE)
    if account is None:
        return ZERO, 1
    last = session.scalars(
        select(BankStatement)
        .where(BankStatement.bank_account_id == account.id, BankStatement.closing.is_not(None))
        .order_by(BankStatement.closing_on.desc(), BankStatement.id.desc())
    ).first()
    count = session.scalar(select(func.count()).where(BankStatement.bank_account_id == account.id)) or 0
    return (last.closing if last and last.closing is not None else ZERO), count + 1


def _balance(code: str, amount: Decimal, currency: str, day: dt.date) -> str:
    side = "CRDT" if amount >= 0 else "DBIT"
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{currency}">{_fmt(abs(amount))}</Amt>'
        f"<CdtDbtInd>{side}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


def camt053(
    company: t.Company, iban: str, day: dt.date, sequence: int, opening: Decimal, entries: list[BankEntry]
) -> str:
    """A CAMT.053.001.02 statement of one day."""
    currency = company.currency
    closing = opening + sum((e.amount for e in entries), ZERO)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
        "<BkToCstmrStmt>",
        f"<GrpHdr><MsgId>{company.code}-{day:%Y%m%d}</MsgId><CreDtTm>{day.isoformat()}T22:00:00</CreDtTm></GrpHdr>",
        f"<Stmt><Id>STMT-{day:%Y%m%d}-{currency}</Id><ElctrncSeqNb>{sequence}</ElctrncSeqNb>",
        f"<CreDtTm>{day.isoformat()}T22:00:00</CreDtTm>",
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>",
        _balance("OPBD", opening, currency, day),
        _balance("CLBD", closing, currency, day),
    ]
    for number, entry in enumerate(entries, start=1):
        side = "CRDT" if entry.amount >= 0 else "DBIT"
        parts.append(
            f'<Ntry><NtryRef>{number}</NtryRef><Amt Ccy="{currency}">{_fmt(abs(entry.amount))}</Amt>'
            f"<CdtDbtInd>{side}</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>{day.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{day.isoformat()}</Dt></ValDt><AcctSvcrRef>{escape(entry.reference)}</AcctSvcrRef>"
            "<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RltdPties><Dbtr><Nm>{escape(entry.counterparty)}</Nm></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{escape(entry.remittance)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    parts += ["</Stmt>", "</BkToCstmrStmt>", "</Document>"]
    return "\n".join(parts) + "\n"


def import_statement(
    session: Session,
    ctx: CommandContext,
    company: t.Company,
    day: dt.date,
    entries: list[BankEntry],
    directory: Path | None,
) -> Any:
    account = banking.find_account(session, company, BANK_CODE)
    assert account is not None
    opening, sequence = opening_balance(session, company)
    text = camt053(company, account.iban, day, sequence, opening, entries)
    name = f"camt053_{account.code}_{day:%Y%m%d}.xml"
    if directory is not None:
        folder = directory / "bank"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return banking.import_statement(session, ctx, company, name, text.encode())


def mapping_file(directory: Path) -> None:
    """The generic CSV gateways' mapping beside their files (what ``retailcore settlements import
    --mapping`` reads)."""
    folder = directory / "settlements"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "csv_mapping.json").write_text(json.dumps(CSV_MAPPING, indent=2) + "\n", encoding="utf-8")


__all__ = ["CSV_MAPPING", "GATEWAYS", "ensure_master_data", "iban_of", "psp_reference"]
