"""``retailcore discounts ...``: the tills' manual discount limits, and how discounts post.

Every command runs as the system principal and calls :mod:`retailcore.orders.discounts` (the services
the API calls), one transaction per command. Results on stdout, errors on stderr, exit 1 on an expected
failure, 2 on a usage error (an amount that is not one); ``--output table|json|csv``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named, store_codes
from retailcore.entrypoints.cli.errors import refused
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import store_id_in_scope
from retailcore.orders import discounts as svc

app = typer.Typer(
    help="Manual discount limits of the tills, and net or contra-revenue posting.", no_args_is_help=True
)

COLUMNS = (
    output.key("store", blank="(company)"),
    output.amount("max_percent", "max %"),
    output.amount("max_amount", "max amount"),
    output.key("updated_by", "set by"),
)


def _decimal(value: str | None, hint: str) -> Decimal | None:
    if value is None:
        return None
    try:
        found = Decimal(value.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number", param_hint=hint) from None
    if not found.is_finite():
        raise typer.BadParameter(f"{value!r} is not a number", param_hint=hint)
    return found


def _show(session: object, company: object, views: list[svc.DiscountPolicyView], fmt: output.Format) -> None:
    stores = store_codes(session, company)  # type: ignore[arg-type]
    rows = [
        [stores.get(v.store_id) if v.store_id else None, v.max_percent, v.max_amount, v.updated_by]
        for v in views
    ]
    document = [v.model_dump(mode="json") for v in views]
    output.emit(output.Listing("Manual discount limits", COLUMNS, rows), fmt, document=document)


@app.command("limits")
def limits(company: CompanyOption = None, output_format: output.OutputOption = output.Format.table) -> None:
    """List the company's manual discount limit and its stores'."""
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            _show(session, target, svc.list_policies(session, target, None, limit=10_000)[0], output_format)
    except RetailcoreError as exc:
        raise refused(exc) from None


@app.command("set-limit")
def set_limit(
    company: CompanyOption = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Code or id of the store; omitted: the company's limit.")
    ] = None,
    max_percent: Annotated[
        str | None, typer.Option("--max-percent", help="Percent of the line a cashier may take off.")
    ] = None,
    max_amount: Annotated[
        str | None, typer.Option("--max-amount", help="Amount per line a cashier may take off.")
    ] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Set the most a cashier takes off a POS line by hand (neither option: no limit)."""
    try:
        percent, amount = _decimal(max_percent, "--max-percent"), _decimal(max_amount, "--max-amount")
        body = svc.SetDiscountPolicy(max_percent=percent, max_amount=amount)
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(messages) from None
    runtime = errors.runtime()
    ctx = CommandContext(system_principal("cli:discounts:set-limit"))
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            if store is not None:
                store_id = store_id_in_scope(session, ctx.principal, store, company=target, field="--store")
                body = body.model_copy(update={"store_id": store_id})
            view = svc.set_policy(session, ctx, target, body)
            _show(session, target, [view], output_format)
    except RetailcoreError as exc:
        raise refused(exc) from None


@app.command("posting")
def posting(
    mode: Annotated[
        Literal["net", "contra"] | None,
        typer.Argument(help="net or contra; omitted: show the current mode."),
    ] = None,
    company: CompanyOption = None,
) -> None:
    """Show or choose how discounts post: net of revenue, or to the sales_discounts account."""
    runtime = errors.runtime()
    out = output.console()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            if mode is None:
                view = svc.posting_view(session, target)
            else:
                request = svc.SetDiscountPosting(posting=mode)
                view = svc.set_posting(
                    session, CommandContext(system_principal("cli:discounts:posting")), target, request
                )
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(f"{target.code}: discounts post {view.posting}", highlight=False)
