"""Gateways, settlement imports, mismatches: the rules of the flow (issue 17, decision 0035).

- **A gateway is master data**: its code (what card payments name), the format of its files, its
  settlement currency and five accounts: clearing (captures wait there), fee, chargeback (disputed
  amounts until won or lost), transit (settled, on the way to the bank) and bank. ``stripe`` and
  ``adyen`` are created on first import with the accounts of the chart's roles; others through
  ``/gateways``. Creating and changing a gateway are events (``GatewayCreated``, ``GatewayChanged``).
- **Import is idempotent per file and per line**: a file whose SHA-256 was imported for the gateway
  answers the first import's result and writes nothing; a line whose key the gateway already sent is
  skipped (a line first seen without its payout gets its batch when the payout's file brings it).
- **A bad file writes nothing**: the parser reads it whole before any write and refuses it at the first
  bad line, with its number.
- **Set-based**: new lines go in as one bulk insert, matching is a few ``UPDATE`` statements
  (``matching``), posting one event per payout batch and currency built from a ``GROUP BY``.
- **Posting through the ledger's rules** (``gateway-settlement``): per batch, the gross of charges and
  refunds against the clearing account, their fees to the fee account, the net to transit; disputes'
  amounts to the chargeback account and their fees to the fee account, out of transit; costs billed
  apart to the fee account; the payout line from transit to the bank. Each entry balances because each
  line does (``net = gross - fee``, checked when parsing).
- **A settled refund confirms our pending card refund** (``returns.services.confirm_card_refund``).
- **What disagrees becomes a mismatch** (:func:`raise_mismatches`, the one place they are created),
  classified, with the amount at risk and a suggested resolution. Resolving one is an event
  (``SettlementMismatchResolved``) and may post an adjustment (``SettlementMismatchAdjusted``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from retailcore.accounting import fx
from retailcore.accounting.services import account_for_role
from retailcore.accounting.tables import JournalEntry
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Account, Company
from retailcore.monitoring import services as monitoring
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.pos.tables import PosSession
from retailcore.returns import services as returns
from retailcore.settlements import adyen, generic_csv, matching, stripe
from retailcore.settlements import commands as c
from retailcore.settlements.parsing import ParsedLine
from retailcore.settlements.tables import Gateway, Mismatch, SettlementBatch, SettlementFile, SettlementLine

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: the CLI's progress bar."""

DEFAULT_ROLES = {
    "clearing": "card_clearing",
    "fee": "gateway_fees",
    "chargeback": "dispute_receivable",
    "transit": "cash_in_transit",
    "bank": "bank",
}
SELF_CREATING = ("stripe", "adyen", "csv")
"""Gateway codes created on first import, with the format of the same name (`csv` reads a mapping)."""
SUGGESTIONS = {
    "fee_difference": "Check the fee against the contract; claim the difference or write it off.",
    "partial_capture": "Settled less than captured: refund or cancel the uncaptured rest of the payment.",
    "refund_unknown": "The gateway refunded what our books do not show: find the refund and record it.",
    "chargeback": "Answer the dispute; when decided, it is won (its reversal line) or resolved as lost.",
    "timing": "Not paid out yet: it comes with the next payout; nothing to do unless it stays.",
    "currency_conversion": "Book the exchange difference (resolve with exchange_difference).",
    "missing_capture": "The order exists but its payment was never captured here: capture it or investigate.",
    "duplicate": "The gateway settled this charge twice: claim it back from the gateway.",
    "unmatched": "No capture or refund of ours matches: investigate and post the adjustment.",
}


# -- gateways -----------------------------------------------------------------------------------------


def _account(session: Session, company: Company, ref: str | None, role: str, field: str) -> Account:
    if ref is None:
        return account_for_role(session, company.id, role)
    query = select(Account).where(Account.company_id == company.id)
    try:
        query = query.where(Account.id == uuid.UUID(ref))
    except ValueError:
        query = query.where(Account.code == ref)
    found = session.scalar(query)
    if found is None:
        raise InvalidReference(f"no account {ref}", problems=[FieldProblem(field, f"no account {ref}")])
    return found


def _codes(session: Session, gateway: Gateway) -> dict[str, str]:
    ids = {name: getattr(gateway, f"{name}_account_id") for name in DEFAULT_ROLES}
    codes = dict(session.execute(select(Account.id, Account.code).where(Account.id.in_(ids.values()))).all())
    return {f"{name}_account": codes[account_id] for name, account_id in ids.items()}


def gateway_view(session: Session, gateway: Gateway) -> c.GatewayView:
    return c.GatewayView(
        id=gateway.id,
        company_id=gateway.company_id,
        code=gateway.code,
        name=gateway.name,
        format=gateway.format,
        currency=gateway.currency,
        fee_rate=gateway.fee_rate,
        fee_fixed=gateway.fee_fixed,
        active=gateway.active,
        **_codes(session, gateway),
    )


def find_gateway(session: Session, company: Company, code: str) -> Gateway | None:
    return session.scalar(select(Gateway).where(Gateway.company_id == company.id, Gateway.code == code))


def gateway_by_code(session: Session, company: Company, code: str, field: str | None = None) -> Gateway:
    """The gateway of ``code``: 404 when missing, or, when it is named by the input ``field`` (a list's
    filter), a 422 naming it."""
    found = find_gateway(session, company, code)
    if found is None:
        if field:
            raise InvalidReference(f"no gateway {code}", problems=[FieldProblem(field, "no such gateway")])
        raise NotFound(f"no gateway {code}")
    return found


def list_gateways(
    session: Session, company: Company, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.GatewayView], uuid.UUID | None]:
    query = select(Gateway).where(Gateway.company_id == company.id)
    rows, next_cursor = keyset_page(session, query, Gateway.id, limit, cursor)
    return [gateway_view(session, row) for row in rows], next_cursor


def create_gateway(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateGateway
) -> c.GatewayView:
    if find_gateway(session, company, body.code) is not None:
        raise Conflict(f"gateway {body.code} exists", problems=[FieldProblem("code", "already exists")])
    gateway = Gateway(
        id=new_id(),
        company_id=company.id,
        code=body.code,
        name=body.name or body.code,
        format=body.format,
        currency=body.currency or company.currency,
        fee_rate=body.fee_rate,
        fee_fixed=body.fee_fixed,
        **{
            f"{name}_account_id": _account(
                session, company, getattr(body, f"{name}_account"), role, f"{name}_account"
            ).id
            for name, role in DEFAULT_ROLES.items()
        },
    )
    session.add(gateway)
    session.flush()
    view = gateway_view(session, gateway)
    _record(session, ctx, company, "GatewayCreated", gateway.id, gateway=view.model_dump(mode="json"))
    return view


def update_gateway(
    session: Session, ctx: CommandContext, company: Company, code: str, body: c.UpdateGateway
) -> c.GatewayView:
    gateway = gateway_by_code(session, company, code)
    before = gateway_view(session, gateway).model_dump(mode="json")
    for name in ("name", "format", "currency", "fee_rate", "fee_fixed", "active"):
        if name in body.model_fields_set and getattr(body, name) is not None:
            setattr(gateway, name, getattr(body, name))
    for name, role in DEFAULT_ROLES.items():
        ref = getattr(body, f"{name}_account")
        if ref is not None:
            setattr(
                gateway, f"{name}_account_id", _account(session, company, ref, role, f"{name}_account").id
            )
    session.flush()
    view = gateway_view(session, gateway)
    after = view.model_dump(mode="json")
    if after != before:
        _record(session, ctx, company, "GatewayChanged", gateway.id, before=before, after=after)
    return view


def _record(
    session: Session,
    ctx: CommandContext,
    company: Company,
    type_: str,
    aggregate_id: uuid.UUID,
    **payload: Any,
) -> Any:
    return record(
        session,
        ctx,
        type=type_,
        company_id=company.id,
        aggregate_type="settlement",
        aggregate_id=aggregate_id,
        payload=payload,
    )


# -- import -------------------------------------------------------------------------------------------


def parse(fmt: str, text: str, mapping: dict[str, Any] | None) -> list[ParsedLine]:
    if fmt == "stripe":
        return stripe.parse(text)
    if fmt == "adyen":
        return adyen.parse(text)
    return generic_csv.parse(text, mapping)


def _decoded(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ValidationFailed(
            f"line {line}: not UTF-8 text",
            code="settlement-file-refused",
            problems=[FieldProblem(f"file.line.{line}", "not UTF-8 text")],
        ) from None


def import_file(
    session: Session,
    ctx: CommandContext,
    company: Company,
    gateway_code: str,
    filename: str,
    content: bytes | str,
    mapping: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> c.ImportResult:
    """Import one settlement file (see the module's rules). Raises before any write on a bad file."""
    raw = content.encode() if isinstance(content, str) else content
    digest = hashlib.sha256(raw).hexdigest()
    gateway = find_gateway(session, company, gateway_code)
    if gateway is None and gateway_code not in SELF_CREATING:
        raise InvalidReference(
            f"no gateway {gateway_code}: create it with POST /gateways",
            problems=[FieldProblem("gateway", f"no gateway {gateway_code}")],
        )
    if gateway is not None:
        done = session.scalar(
            select(SettlementFile).where(
                SettlementFile.company_id == company.id,
                SettlementFile.gateway_id == gateway.id,
                SettlementFile.content_sha256 == digest,
            )
        )
        if done is not None:
            return c.ImportResult.model_validate({**done.result, "replayed": True})
    fmt = gateway.format if gateway is not None else gateway_code
    parsed = parse(fmt, _decoded(content), mapping)
    if progress:
        progress("parsed", len(parsed), len(parsed))
    if gateway is None:
        create_gateway(session, ctx, company, c.CreateGateway(code=gateway_code, format=fmt))  # type: ignore[arg-type]
        gateway = gateway_by_code(session, company, gateway_code)
    file = SettlementFile(
        id=new_id(),
        company_id=company.id,
        gateway_id=gateway.id,
        filename=filename[:255],
        content_sha256=digest,
        lines_read=len(parsed),
        lines_new=0,
        imported_by=ctx.actor,
    )
    session.add(file)
    session.flush()
    new, late = _new_lines(session, gateway, parsed)
    batches = _batches(session, company, gateway, [line for line in parsed if line.batch])
    rows = [_row(company, gateway, file, line, batches) for line in new]
    for start in range(0, len(rows), 10_000):
        insert_rows(session, SettlementLine.__table__, rows[start : start + 10_000])
        if progress:
            progress("stored", min(start + 10_000, len(rows)), len(rows))
    _learn_payouts(session, gateway, file, late, batches)
    matched = matching.match_file(session, company.id, gateway.code, file.id)
    if progress:
        progress("matched", len(rows), len(rows))
    _confirm_refunds(session, ctx, company, gateway, file)
    found = classify(session, ctx, company, gateway, file)
    # This file may have settled what earlier ones left open (a payout, a dispute won).
    refresh_console(session, ctx, company, gateway, ("timing", "chargeback"), raised=False)
    if progress:
        progress("classified", len(rows), len(rows))
    entries = _post(session, ctx, company, gateway, file)
    entries += _realize_foreign(session, ctx, company, gateway, file)
    if progress:
        progress("posted", len(rows), len(rows))
    file.lines_new = len(rows)
    result = c.ImportResult(
        file_id=file.id,
        gateway=gateway.code,
        filename=file.filename,
        replayed=False,
        lines_read=len(parsed),
        lines_new=len(rows),
        matched=matched,
        mismatches=found,
        batches=sorted({line.batch for line in parsed if line.batch}),
        entries=entries,
    )
    file.result = result.model_dump(mode="json")
    _record(session, ctx, company, "SettlementFileImported", file.id, **{**file.result, "sha256": digest})
    return result


def _new_lines(
    session: Session, gateway: Gateway, parsed: Sequence[ParsedLine]
) -> tuple[list[ParsedLine], list[ParsedLine]]:
    """The lines not seen before (the first of a key repeated in the file), and those seen before
    without a payout that now come with one."""
    keys = list(dict.fromkeys(line.line_key for line in parsed))
    known: dict[str, uuid.UUID | None] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        known.update(
            session.execute(
                select(SettlementLine.line_key, SettlementLine.batch_id).where(
                    SettlementLine.company_id == gateway.company_id,
                    SettlementLine.gateway_id == gateway.id,
                    SettlementLine.line_key.in_(chunk),
                )
            ).all()
        )
    seen: set[str] = set()
    new, late = [], []
    for line in parsed:
        if line.line_key in seen:
            continue
        seen.add(line.line_key)
        if line.line_key not in known:
            new.append(line)
        elif known[line.line_key] is None and line.batch:
            late.append(line)
    return new, late


def _batches(
    session: Session, company: Company, gateway: Gateway, lines: Sequence[ParsedLine]
) -> dict[str, uuid.UUID]:
    wanted = {line.batch: line.currency for line in lines if line.batch}
    ids: dict[str, uuid.UUID] = dict(
        session.execute(
            select(SettlementBatch.reference, SettlementBatch.id).where(
                SettlementBatch.company_id == company.id,
                SettlementBatch.gateway_id == gateway.id,
                SettlementBatch.reference.in_(list(wanted)),
            )
        ).all()
    )
    for reference, currency in wanted.items():
        if reference not in ids:
            batch = SettlementBatch(
                id=new_id(),
                company_id=company.id,
                gateway_id=gateway.id,
                reference=reference,
                currency=currency,
            )
            session.add(batch)
            ids[reference] = batch.id
    session.flush()
    return ids


def _row(
    company: Company, gateway: Gateway, file: SettlementFile, line: ParsedLine, batches: dict[str, uuid.UUID]
) -> dict[str, Any]:
    window_from, window_to = matching.window(line.occurred_on)
    return {
        "id": new_id(),
        "company_id": company.id,
        "gateway_id": gateway.id,
        "file_id": file.id,
        "batch_id": batches[line.batch] if line.batch else None,
        "line_number": line.line_number,
        "line_key": line.line_key,
        "kind": line.kind,
        "gateway_type": line.gateway_type[:64],
        "occurred_on": line.occurred_on,
        "currency": line.currency,
        "gross": line.gross,
        "fee": line.fee,
        "net": line.net,
        "reference": line.reference,
        "reference2": line.reference2,
        "order_ref": line.order_ref,
        "original_currency": line.original_currency,
        "original_gross": line.original_gross,
        "description": line.description,
        "window_from": window_from,
        "window_to": window_to,
        "payment_id": None,
        "match": None,
    }


def _learn_payouts(
    session: Session,
    gateway: Gateway,
    file: SettlementFile,
    late: Sequence[ParsedLine],
    batches: dict[str, uuid.UUID],
) -> None:
    """Lines first seen before their payout get its batch now, and their timing mismatch is resolved;
    each batch's payout line sets what it paid and when."""
    lines = SettlementLine.__table__
    for line in late:
        assert line.batch is not None
        line_id = session.scalar(
            update(lines)
            .where(
                lines.c.company_id == gateway.company_id,
                lines.c.gateway_id == gateway.id,
                lines.c.line_key == line.line_key,
            )
            .values(batch_id=batches[line.batch])
            .returning(lines.c.id)
        )
        session.execute(
            update(Mismatch)
            .where(Mismatch.line_id == line_id, Mismatch.kind == "timing", Mismatch.state == "open")
            .values(
                state="resolved",
                note=f"paid out in batch {line.batch} ({file.filename})",
                resolved_at=utcnow(),
                resolved_by="settlement import",
            )
        )
    payouts = session.execute(
        select(lines.c.batch_id, func.sum(lines.c.net), func.max(lines.c.occurred_on))
        .where(lines.c.file_id == file.id, lines.c.kind == "payout", lines.c.batch_id.is_not(None))
        .group_by(lines.c.batch_id)
    ).all()
    for batch_id, net, day in payouts:
        session.execute(
            update(SettlementBatch).where(SettlementBatch.id == batch_id).values(payout=-net, paid_on=day)
        )


def _confirm_refunds(
    session: Session, ctx: CommandContext, company: Company, gateway: Gateway, file: SettlementFile
) -> None:
    """A settled refund confirms our pending card refund of that amount to that payment, if any."""
    refunds = session.execute(
        select(SettlementLine.gross, OrderPaymentRow.reference)
        .join(OrderPaymentRow, OrderPaymentRow.id == SettlementLine.payment_id)
        .where(SettlementLine.file_id == file.id, SettlementLine.kind == "refund")
        .order_by(SettlementLine.line_number)
    ).all()
    for gross, reference in refunds:
        returns.confirm_card_refund(session, ctx, company, gateway.code, reference, -gross)


# -- mismatches ---------------------------------------------------------------------------------------


def raise_mismatches(
    session: Session,
    ctx: CommandContext,
    company: Company,
    gateway: Gateway,
    file: SettlementFile,
    found: Sequence[dict[str, Any]],
) -> int:
    """The one place mismatches are created (one bulk insert): ``found`` holds ``line_id``, ``kind``,
    ``amount_at_risk``, ``currency``, ``since`` and ``details``. A later exceptions console subscribes
    here (or to the ``SettlementMismatchesRaised`` event this records: the gateway, the file whose
    lines they are, and how many of each class)."""
    if not found:
        return 0
    rows = [
        {
            "id": new_id(),
            "company_id": company.id,
            "gateway_id": gateway.id,
            "line_id": item["line_id"],
            "kind": item["kind"],
            "amount_at_risk": item["amount_at_risk"],
            "currency": item["currency"],
            "since": item["since"],
            "suggestion": SUGGESTIONS[item["kind"]],
            "details": item.get("details", {}),
            "state": "open",
            "note": "",
            "created_at": utcnow(),
        }
        for item in found
    ]
    insert_rows(session, Mismatch.__table__, rows)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["kind"]] += 1
    refresh_console(session, ctx, company, gateway, counts)
    _record(
        session,
        ctx,
        company,
        "SettlementMismatchesRaised",
        gateway.id,
        gateway=gateway.code,
        file_id=file.id,
        counts=dict(sorted(counts.items())),
    )
    return len(rows)


CONSOLE_SEVERITY = dict.fromkeys(("chargeback", "missing_capture", "refund_unknown", "duplicate"), "high")
"""The exceptions console's severity of a mismatch class (the others: medium)."""


def refresh_console(
    session: Session,
    ctx: CommandContext,
    company: Company,
    gateway: Gateway,
    kinds: Iterable[str],
    *,
    raised: bool = True,
) -> None:
    """The exceptions console holds one ``payment_mismatch`` per gateway and mismatch class while any of
    that class is open, with their count and the money at risk when last raised (a person works the
    class there, the lines in ``/mismatches``); it is resolved when the last one is. ``raised``: new
    mismatches of these classes were just raised (else only a resolution is looked for)."""
    for kind in sorted(set(kinds)):
        key = f"settlement:{gateway.code}:{kind}"
        open_ones = session.execute(
            select(Mismatch.currency, func.count(), func.sum(Mismatch.amount_at_risk))
            .where(Mismatch.gateway_id == gateway.id, Mismatch.kind == kind, Mismatch.state == "open")
            .group_by(Mismatch.currency)
            .order_by(func.count().desc())
        ).all()
        if not open_ones:
            monitoring.resolve_key(
                session, ctx, company.id, key, note=f"no open {kind} mismatch at {gateway.code} any more"
            )
            continue
        if not raised:
            continue
        count = sum(n for _, n, _ in open_ones)
        currency, _, at_risk = open_ones[0]  # the console's money is one currency: the largest group's
        monitoring.record(
            session,
            ctx,
            company.id,
            type="payment_mismatch",
            key=key,
            severity=CONSOLE_SEVERITY.get(kind, "medium"),
            message=f"{count} open {kind.replace('_', ' ')} mismatch(es) in {gateway.code}'s settlements",
            amount_at_risk=at_risk or Decimal(0),
            currency=currency,
            occurrences=count,
            details={"gateway": gateway.code, "mismatch_kind": kind, "open": count, "see": "/mismatches"},
        )


def classify(
    session: Session, ctx: CommandContext, company: Company, gateway: Gateway, file: SettlementFile
) -> int:
    """Find what disagrees among the file's new lines (after matching) and raise it as mismatches."""
    line, payment = SettlementLine, OrderPaymentRow
    rows = session.execute(
        select(
            line.id,
            line.kind,
            line.gross,
            line.fee,
            line.net,
            line.currency,
            line.occurred_on,
            line.batch_id,
            line.reference,
            line.order_ref,
            line.original_currency,
            line.original_gross,
            line.payment_id,
            payment.captured,
            payment.refunded,
            OrderRow.currency.label("booked_currency"),
        )
        .outerjoin(payment, payment.id == line.payment_id)
        .outerjoin(OrderRow, OrderRow.id == payment.order_id)
        .where(line.file_id == file.id)
        .order_by(line.line_number)
    ).all()
    duplicates = set(session.scalars(_duplicates(file)))
    unmatched_refs = {
        r.order_ref for r in rows if r.payment_id is None and r.kind == "charge" and r.order_ref
    }
    known_orders = _orders_named(session, company, unmatched_refs)
    refund_payments = {r.payment_id for r in rows if r.kind == "refund" and r.payment_id is not None}
    settled_refunds = _settled_refunds(session, refund_payments)
    found: list[dict[str, Any]] = []

    def add(r: Any, kind: str, at_risk: Decimal, **details: Any) -> None:
        found.append(
            {
                "line_id": r.id,
                "kind": kind,
                "amount_at_risk": at_risk,
                "currency": r.currency,
                "since": r.occurred_on,
                "details": {
                    key: str(round_to_currency(value, r.currency)) if isinstance(value, Decimal) else value
                    for key, value in details.items()
                },
            }
        )

    for r in rows:
        if r.batch_id is None and r.kind != "payout":
            add(r, "timing", r.net, reference=r.reference)
        if r.kind == "charge":
            if r.id in duplicates:
                add(r, "duplicate", r.gross, reference=r.reference)
                continue
            if r.payment_id is None:
                if r.order_ref in known_orders:
                    add(r, "missing_capture", r.gross, order_number=r.order_ref)
                else:
                    add(r, "unmatched", r.gross, reference=r.reference, order_ref=r.order_ref)
                continue
            if r.captured == 0:
                add(r, "missing_capture", r.gross, reference=r.reference)
                continue
            if r.booked_currency not in (None, r.currency):
                # Sold in another currency (a foreign-currency till): the gateway converted it, the
                # difference to what was booked is posted as realized (_realize_foreign). Only the
                # foreign amount can disagree with the capture.
                if r.original_currency == r.booked_currency and r.original_gross != r.captured:
                    add(r, "partial_capture", r.captured - r.original_gross, captured=r.captured,
                        settled=r.original_gross, currency_of_sale=r.booked_currency)  # fmt: skip
            elif r.gross != r.captured:
                kind = "currency_conversion" if r.original_currency else "partial_capture"
                add(
                    r,
                    kind,
                    r.captured - r.gross,
                    captured=r.captured,
                    settled=r.gross,
                    original_currency=r.original_currency,
                    original_gross=r.original_gross,
                )
            if gateway.fee_rate is not None:
                expected = round_to_currency(
                    r.gross * gateway.fee_rate + (gateway.fee_fixed or 0), r.currency
                )
                if r.fee != expected:
                    add(r, "fee_difference", r.fee - expected, fee=r.fee, expected=expected)
        elif r.kind == "partial_capture_reversal":
            add(r, "partial_capture", -r.gross, reference=r.reference)
        elif r.kind == "refund":
            if r.payment_id is None:
                add(r, "refund_unknown", -r.gross, reference=r.reference)
            elif settled_refunds.get(r.payment_id, Decimal(0)) > r.refunded:
                over = settled_refunds[r.payment_id] - r.refunded
                add(r, "refund_unknown", min(-r.gross, over), refunded_here=r.refunded, settled=-r.gross)
        elif r.kind == "dispute":
            add(r, "chargeback", -r.net, disputed=-r.gross, fee=r.fee, reference=r.reference)
        elif r.kind == "refund_failure":
            add(r, "unmatched", r.gross, reference=r.reference, reason="the gateway could not pay our refund")
        elif r.kind == "adjustment":
            add(r, "unmatched", r.net, reference=r.reference)
    raised = raise_mismatches(session, ctx, company, gateway, file, found)
    _disputes_won(session, file)
    return raised


def _duplicates(file: SettlementFile) -> Any:
    """Charge lines of the file whose payment reference the gateway already settled under another key."""
    line = SettlementLine.__table__
    earlier = line.alias("earlier")
    return select(line.c.id).where(
        line.c.file_id == file.id,
        line.c.kind == "charge",
        line.c.reference.is_not(None),
        select(earlier.c.id)
        .where(
            earlier.c.company_id == line.c.company_id,
            earlier.c.gateway_id == line.c.gateway_id,
            earlier.c.reference == line.c.reference,
            earlier.c.kind == "charge",
            earlier.c.id != line.c.id,
            (earlier.c.file_id != line.c.file_id) | (earlier.c.line_number < line.c.line_number),
        )
        .exists(),
    )


def _orders_named(session: Session, company: Company, numbers: Iterable[str]) -> set[str]:
    wanted = list(numbers)
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        found.update(
            session.scalars(
                select(OrderRow.number).where(
                    OrderRow.company_id == company.id, OrderRow.number.in_(wanted[start : start + 1000])
                )
            )
        )
    return found


def _settled_refunds(session: Session, payment_ids: set[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    if not payment_ids:
        return {}
    return dict(
        session.execute(
            select(SettlementLine.payment_id, -func.sum(SettlementLine.gross))
            .where(SettlementLine.payment_id.in_(list(payment_ids)), SettlementLine.kind == "refund")
            .group_by(SettlementLine.payment_id)
        ).all()
    )


def _disputes_won(session: Session, file: SettlementFile) -> None:
    """A dispute reversal resolves the open chargeback mismatch of the same payment: the dispute is won
    (its amount comes back from the chargeback account with the reversal's posting)."""
    line = SettlementLine.__table__
    reversal = line.alias("reversal")
    disputed = select(line.c.id).where(
        line.c.kind == "dispute",
        select(reversal.c.id)
        .where(
            reversal.c.file_id == file.id,
            reversal.c.kind == "dispute_reversal",
            reversal.c.gateway_id == line.c.gateway_id,
            reversal.c.reference == line.c.reference,
        )
        .exists(),
    )
    session.execute(
        update(Mismatch)
        .where(Mismatch.line_id.in_(disputed), Mismatch.kind == "chargeback", Mismatch.state == "open")
        .values(
            state="resolved",
            note="dispute won: reversed by the gateway",
            resolved_at=utcnow(),
            resolved_by="settlement import",
        )
        .execution_options(synchronize_session=False)
    )


# -- posting ------------------------------------------------------------------------------------------


def _post(
    session: Session, ctx: CommandContext, company: Company, gateway: Gateway, file: SettlementFile
) -> list[uuid.UUID]:
    """One ``GatewaySettlementPosted`` event per payout batch and currency of the file's new lines."""
    line = SettlementLine
    groups = session.execute(
        select(
            line.batch_id,
            line.currency,
            line.kind,
            func.sum(line.gross),
            func.sum(line.fee),
            func.sum(line.net),
            func.max(line.occurred_on),
        )
        .where(line.file_id == file.id)
        .group_by(line.batch_id, line.currency, line.kind)
    ).all()
    sums: dict[tuple[uuid.UUID | None, str], dict[str, Any]] = {}
    for batch_id, currency, kind, gross, fee, net, day in groups:
        total = sums.setdefault((batch_id, currency), defaultdict(lambda: Decimal(0)))
        total["date"] = max(total.get("date") or day, day)
        if kind == "dispute":
            total["disputes_amount"] -= gross
            total["disputes_fee"] += fee
            total["disputes_net"] -= net
        elif kind == "dispute_reversal":
            total["won_amount"] += gross
            total["won_fee"] += fee
            total["won_net"] += net
        elif kind == "fee":
            total["costs"] -= net
        elif kind == "payout":
            total["payout"] -= net
        else:
            total["captures_gross"] += gross
            total["captures_fee"] += fee
            total["captures_net"] += net
    references: dict[uuid.UUID, str] = {}
    for batch_id, reference, banked_by in session.execute(
        select(SettlementBatch.id, SettlementBatch.reference, SettlementBatch.banked_by).where(
            SettlementBatch.id.in_([key[0] for key in sums if key[0] is not None])
        )
    ):
        references[batch_id] = reference
        if banked_by is not None:  # the bank's statement already moved this payout out of transit
            for (summed_batch, _), total in sums.items():
                if summed_batch == batch_id:
                    total.pop("payout", None)
    accounts = _codes(session, gateway)
    entries: list[uuid.UUID] = []
    for (batch_id, currency), total in sorted(sums.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        day = total.pop("date")
        batch = references.get(batch_id, "unpaid")
        event = _record(
            session,
            ctx,
            company,
            "GatewaySettlementPosted",
            batch_id or file.id,
            gateway=gateway.code,
            batch=batch,
            file_id=file.id,
            currency=currency,
            date=day.isoformat(),
            reference=f"{gateway.code} {batch}",
            **accounts,
            **{name: amount for name, amount in total.items() if amount != 0},
        )
        session.flush()
        entry = session.scalar(select(JournalEntry.id).where(JournalEntry.event_id == event.id))
        if entry is not None:
            entries.append(entry)
    return entries


def _realize_foreign(
    session: Session, ctx: CommandContext, company: Company, gateway: Gateway, file: SettlementFile
) -> list[uuid.UUID]:
    """The realized exchange difference of the file's charges and refunds that settle, in the company's
    currency, card payments a foreign-currency till booked at its session's rate (decision 0062).

    The settlement's own entry credited the clearing account what arrived; here, per payout batch,
    currency and booked rate, the foreign amount leaves the clearing account at the booked rate and
    the difference goes to the realized gain or loss (``accounting.fx.realize``). The foreign amount of
    a line is the gateway's ``original_gross`` when it names the sale's currency, else (a charge) the
    captured amount. Runs once per file's new lines: a file imported again writes nothing."""
    line, payment, order = SettlementLine, OrderPaymentRow, OrderRow
    rows = session.execute(
        select(
            line.batch_id,
            line.kind,
            line.gross,
            line.original_currency,
            line.original_gross,
            line.occurred_on,
            payment.captured,
            order.currency,
            PosSession.rate,
        )
        .join(payment, payment.id == line.payment_id)
        .join(order, order.id == payment.order_id)
        .join(PosSession, PosSession.id == order.pos_session_id)
        .where(
            line.file_id == file.id,
            line.kind.in_(("charge", "refund")),
            line.currency == company.currency,
            order.currency != line.currency,
            PosSession.rate.is_not(None),
        )
        .order_by(line.line_number)
    ).all()
    groups: dict[tuple[uuid.UUID | None, str, Decimal], dict[str, Any]] = {}
    for r in rows:
        if r.original_currency == r.currency and r.original_gross is not None:
            foreign = abs(r.original_gross) if r.gross >= 0 else -abs(r.original_gross)
        elif r.kind == "charge":
            foreign = r.captured
        else:
            continue  # a refund without its foreign amount: left to the revaluation and the console
        group = groups.setdefault(
            (r.batch_id, r.currency, r.rate),
            {"foreign": Decimal(0), "settled": Decimal(0), "day": r.occurred_on},
        )
        group["foreign"] += foreign
        group["settled"] += r.gross
        group["day"] = max(group["day"], r.occurred_on)
    references = dict(
        session.execute(
            select(SettlementBatch.id, SettlementBatch.reference).where(
                SettlementBatch.id.in_([key[0] for key in groups if key[0] is not None])
            )
        ).all()
    )
    clearing = _codes(session, gateway)["clearing_account"]
    entries: list[uuid.UUID] = []
    for (batch_id, currency, rate), group in sorted(
        groups.items(), key=lambda item: (str(item[0][0]), item[0][1], item[0][2])
    ):
        if group["foreign"] == 0:
            continue
        done = fx.realize(
            session,
            ctx,
            company,
            aggregate_type="settlement",
            aggregate_id=batch_id or file.id,
            account_code=clearing,
            currency=currency,
            rate=rate,
            foreign=group["foreign"],
            settled=group["settled"],
            date=group["day"],
            what=f"{gateway.code} {references.get(batch_id, 'unpaid')} {currency} at {rate}",
        )
        entries += done.entries
    return entries


# -- reading ------------------------------------------------------------------------------------------


def _gateway_codes(session: Session, company: Company) -> dict[uuid.UUID, str]:
    return dict(
        session.execute(select(Gateway.id, Gateway.code).where(Gateway.company_id == company.id)).all()
    )


def list_batches(
    session: Session, company: Company, gateway: str | None, limit: int, cursor: uuid.UUID | None
) -> tuple[list[c.BatchView], uuid.UUID | None]:
    query = select(SettlementBatch).where(SettlementBatch.company_id == company.id)
    if gateway:
        query = query.where(
            SettlementBatch.gateway_id == gateway_by_code(session, company, gateway, field="gateway").id
        )
    batches, next_cursor = keyset_page(session, query, SettlementBatch.id, limit, cursor)
    return batch_views(session, company, batches), next_cursor


def get_batch(session: Session, company: Company, batch_id: uuid.UUID) -> c.BatchView:
    """One settlement batch (payout) of the company, with its totals as :func:`list_batches` gives them."""
    batch = session.get(SettlementBatch, batch_id)
    if batch is None or batch.company_id != company.id:
        raise NotFound(f"no settlement batch {batch_id}")
    return batch_views(session, company, [batch])[0]


def batch_views(session: Session, company: Company, batches: Sequence[SettlementBatch]) -> list[c.BatchView]:
    """The batches with their lines' count and gross, fee and net totals (payout lines left out)."""
    codes = _gateway_codes(session, company)
    totals = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                SettlementLine.batch_id,
                func.count(),
                func.sum(SettlementLine.gross),
                func.sum(SettlementLine.fee),
                func.sum(SettlementLine.net),
            )
            .where(SettlementLine.batch_id.in_([b.id for b in batches]), SettlementLine.kind != "payout")
            .group_by(SettlementLine.batch_id)
        )
    }
    zero = Decimal(0)
    return [
        c.BatchView(
            id=b.id,
            gateway=codes[b.gateway_id],
            reference=b.reference,
            currency=b.currency,
            lines=totals.get(b.id, (0,))[0],
            gross=totals.get(b.id, (0, zero))[1],
            fees=totals.get(b.id, (0, zero, zero))[2],
            net=totals.get(b.id, (0, zero, zero, zero))[3],
            payout=b.payout,
            paid_on=b.paid_on,
        )
        for b in batches
    ]


def list_lines(
    session: Session,
    company: Company,
    *,
    batch_id: uuid.UUID | None = None,
    file_id: uuid.UUID | None = None,
    matched: bool | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[c.LineView], uuid.UUID | None]:
    query = select(SettlementLine).where(SettlementLine.company_id == company.id)
    if batch_id is not None:
        query = query.where(SettlementLine.batch_id == batch_id)
    if file_id is not None:
        query = query.where(SettlementLine.file_id == file_id)
    if matched is not None:
        query = query.where(
            SettlementLine.payment_id.is_not(None) if matched else SettlementLine.payment_id.is_(None)
        )
    rows, next_cursor = keyset_page(session, query, SettlementLine.id, limit, cursor)
    batches = dict(
        session.execute(
            select(SettlementBatch.id, SettlementBatch.reference).where(
                SettlementBatch.id.in_({r.batch_id for r in rows if r.batch_id})
            )
        ).all()
    )
    orders = {
        payment_id: (order_id, number)
        for payment_id, order_id, number in session.execute(
            select(OrderPaymentRow.id, OrderRow.id, OrderRow.number)
            .join(
                OrderRow,
                and_(
                    OrderRow.company_id == OrderPaymentRow.company_id, OrderRow.id == OrderPaymentRow.order_id
                ),
            )
            .where(OrderPaymentRow.id.in_({r.payment_id for r in rows if r.payment_id}))
        )
    }
    return [
        c.LineView(
            id=r.id,
            batch=batches.get(r.batch_id) if r.batch_id else None,
            line_number=r.line_number,
            line_key=r.line_key,
            kind=r.kind,
            gateway_type=r.gateway_type,
            occurred_on=r.occurred_on,
            currency=r.currency,
            gross=r.gross,
            fee=r.fee,
            net=r.net,
            reference=r.reference,
            order_ref=r.order_ref,
            payment_id=r.payment_id,
            order_id=orders.get(r.payment_id, (None, None))[0],
            order_number=orders.get(r.payment_id, (None, None))[1],
            match=r.match,
        )
        for r in rows
    ], next_cursor


def _line_keys(session: Session, rows: Sequence[Mismatch]) -> dict[uuid.UUID, str]:
    ids = [row.line_id for row in rows]
    query = select(SettlementLine.id, SettlementLine.line_key).where(SettlementLine.id.in_(ids))
    return dict(session.execute(query).all())


def mismatch_view(
    row: Mismatch, today: dt.date, codes: dict[uuid.UUID, str], keys: dict[uuid.UUID, str]
) -> c.MismatchView:
    key = keys.get(row.line_id, "")
    return c.MismatchView(
        id=row.id,
        gateway=codes.get(row.gateway_id, ""),
        line_id=row.line_id,
        line_key=key,
        kind=row.kind,
        amount_at_risk=row.amount_at_risk,
        currency=row.currency,
        since=row.since,
        age_days=(today - row.since).days,
        suggestion=row.suggestion,
        details=row.details or {},
        state=row.state,
        note=row.note,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        entry_id=row.entry_id,
    )


def list_mismatches(
    session: Session,
    company: Company,
    *,
    state: str | None = None,
    kind: str | None = None,
    today: dt.date | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[c.MismatchView], uuid.UUID | None]:
    query = select(Mismatch).where(Mismatch.company_id == company.id)
    if state:
        query = query.where(Mismatch.state == state)
    if kind:
        query = query.where(Mismatch.kind == kind)
    rows, next_cursor = keyset_page(session, query, Mismatch.id, limit, cursor)
    codes = _gateway_codes(session, company)
    day = today or utcnow().date()
    keys = _line_keys(session, rows)
    return [mismatch_view(row, day, codes, keys) for row in rows], next_cursor


def resolve_mismatch(
    session: Session, ctx: CommandContext, company: Company, mismatch_id: uuid.UUID, body: c.ResolveMismatch
) -> c.MismatchView:
    """Close a mismatch with a note; post the adjustment asked for. Resolving it again is refused."""
    row = session.scalar(
        select(Mismatch)
        .where(Mismatch.id == mismatch_id, Mismatch.company_id == company.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"no mismatch {mismatch_id}")
    if row.state != "open":
        raise Conflict(f"mismatch {mismatch_id} is already resolved", code="mismatch-resolved")
    gateway = session.get(Gateway, row.gateway_id)
    assert gateway is not None
    line = session.get(SettlementLine, row.line_id)
    assert line is not None
    today = (ctx.occurred_at or utcnow()).date()
    adjustment = _adjustment(session, company, gateway, row, line, body.adjustment)
    if adjustment is not None:
        event = _record(
            session,
            ctx,
            company,
            "SettlementMismatchAdjusted",
            row.id,
            kind=row.kind,
            reference=line.reference or line.line_key,
            currency=row.currency,
            date=today.isoformat(),
            gateway=gateway.code,
            **adjustment,
        )
        session.flush()
        row.entry_id = session.scalar(select(JournalEntry.id).where(JournalEntry.event_id == event.id))
    row.state, row.note, row.resolved_at, row.resolved_by = "resolved", body.note, utcnow(), ctx.actor
    session.flush()
    refresh_console(session, ctx, company, session.get(Gateway, row.gateway_id), [row.kind], raised=False)
    view = mismatch_view(row, today, _gateway_codes(session, company), {line.id: line.line_key})
    _record(
        session,
        ctx,
        company,
        "SettlementMismatchResolved",
        row.id,
        kind=row.kind,
        adjustment=body.adjustment,
        note=body.note,
        entry_id=row.entry_id,
    )
    return view


def _adjustment(
    session: Session, company: Company, gateway: Gateway, row: Mismatch, line: SettlementLine, how: str
) -> dict[str, Any] | None:
    """The accounts and amount of a resolution's posting (debit, credit, amount), or None."""
    if how == "none":
        return None
    codes = _codes(session, gateway)
    if how == "dispute_lost":
        if row.kind != "chargeback":
            raise ValidationFailed(
                "only a chargeback is lost", problems=[FieldProblem("adjustment", "not a chargeback")]
            )
        loss = account_for_role(session, company.id, "chargebacks").code
        return {"debit_account": loss, "credit_account": codes["chargeback_account"], "amount": -line.gross}
    amount = row.amount_at_risk
    if how == "exchange_difference":
        if amount >= 0:
            loss = account_for_role(session, company.id, "fx_realized_loss").code
            return {"debit_account": loss, "credit_account": codes["clearing_account"], "amount": amount}
        gain = account_for_role(session, company.id, "fx_realized_gain").code
        return {"debit_account": codes["clearing_account"], "credit_account": gain, "amount": -amount}
    # write_off: what stays in the clearing account goes to the gateway's fee account.
    return {
        "debit_account": codes["fee_account"],
        "credit_account": codes["clearing_account"],
        "amount": amount,
    }
