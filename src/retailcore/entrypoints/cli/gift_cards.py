"""``retailcore gift-cards ...``: issue a gift card, read a card's balance and movements.

For back-office staff and implementers. Every command runs as the system principal and calls the public
services of :mod:`retailcore.payments.services`, one transaction per command. Like every command:
results on stdout, errors on stderr, exit 1 on an expected failure (2 for usage errors such as a
malformed amount or date); ``--output table|json|csv``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.decimals import canonical
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.options import date_option
from retailcore.eventlog.services import CommandContext
from retailcore.payments import commands as c
from retailcore.payments import services as svc

app = typer.Typer(help="Gift cards: issue one, read a card's balance and movements.", no_args_is_help=True)

MOVEMENT_COLUMNS = (
    output.key("created_at", "when"),
    output.key("kind"),
    output.amount("amount"),
    output.amount("balance_after", "balance"),
    output.text("reference"),
)
CARD_COLUMNS = (
    output.key("last4"),
    output.amount("balance"),
    output.key("currency"),
    output.key("state"),
    output.key("origin"),
    output.key("expires_on", "expires", blank="never"),
    output.key("id", drop=1),
)


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not an amount", param_hint="AMOUNT") from None
    if not amount.is_finite() or amount <= 0:
        raise typer.BadParameter(f"{value!r} is not a positive amount", param_hint="AMOUNT")
    return amount


def _card_row(card: c.GiftCardView) -> list[object]:
    return [card.last4, card.balance, card.currency, card.state, card.origin, card.expires_on, card.id]


@app.command("issue")
def issue(
    amount: Annotated[str, typer.Argument(help="What the card holds at first, e.g. 50.00.")],
    company: CompanyOption = None,
    given: Annotated[
        bool, typer.Option("--given", help="Given away (a promotion, goodwill): booked as a cost, not paid.")
    ] = False,
    paid_by: Annotated[
        str, typer.Option("--paid-by", help="How a sold card was paid: cash, card or on_account.")
    ] = "card",
    expires_on: Annotated[
        dt.date | None,
        date_option("--expires-on", help="Last day of use (default: the company's policy)."),
    ] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Issue a gift card and print its code: shown this once, only its hash is kept."""
    out = output.console()
    try:
        body = c.IssueGiftCard(
            amount=_amount(amount),
            origin="given" if given else "sold",
            paid_by=paid_by,  # type: ignore[arg-type]
            expires_on=expires_on,
        )
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(messages, param_hint="--paid-by") from None
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            issued = svc.issue_gift_card(
                session, CommandContext(system_principal("cli:gift-cards:issue")), target, body
            )
    except RetailcoreError as exc:
        raise refused(exc) from None
    if output_format is not output.Format.table:
        columns = (output.key("code"), *CARD_COLUMNS)
        listing = output.Listing("Gift card", columns, [[issued.code, *_card_row(issued)]])
        output.emit(listing, output_format, document=issued.model_dump(mode="json"))
        return
    expiry = issued.expires_on.isoformat() if issued.expires_on else "never"
    out.print(
        f"gift card [bold]{escape(issued.code or '')}[/] issued:"
        f" {canonical(issued.balance)} {issued.currency}, {issued.origin}, expires {expiry}",
        highlight=False,
    )
    out.print("the code is shown this once: only its hash is kept", highlight=False)


@app.command("balance")
def balance(
    code: Annotated[str, typer.Argument(help="The card's code (case, spaces and dashes do not matter).")],
    company: CompanyOption = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """A card's balance and its movements (JSON: the card as the API serves it; CSV: its movements)."""
    out = output.console()
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            card = svc.gift_card_balance(session, target, code)
    except RetailcoreError as exc:
        raise refused(exc) from None
    rows = [[m.created_at, m.kind, m.amount, m.balance_after, m.reference] for m in card.movements]
    listing = output.Listing("Movements", MOVEMENT_COLUMNS, rows, empty="no movements")
    if output_format is not output.Format.table:
        output.emit(listing, output_format, document=card.model_dump(mode="json"))
        return
    expiry = card.expires_on.isoformat() if card.expires_on else "never"
    out.print(
        f"gift card ****{escape(card.last4)}  [bold]{canonical(card.balance)} {card.currency}[/]"
        f"  {card.state}, expires {expiry}",
        highlight=False,
    )
    output.print_table(out, listing)
