"""``retailcore coupons generate``: a batch of unguessable coupon codes for a promotion.

For back-office staff preparing a mailing or printed vouchers. Runs as the system principal and calls
:func:`retailcore.promotions.coupons.generate_coupons` in one transaction. The codes are shown once: on
standard output, or written to ``--out FILE.csv`` (``GET /coupons/batches/{batch}.csv`` lists them
again). Like every command: errors on stderr, exit 1 on an expected failure, 2 on a usage error;
``--output table|json|csv``; the progress bar is on standard error.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import fail, refused
from retailcore.eventlog.services import CommandContext
from retailcore.promotions import coupon_commands as c
from retailcore.promotions import coupons as svc

app = typer.Typer(help="Coupons: generate a batch of codes for a promotion.", no_args_is_help=True)


@app.command("generate")
def generate(
    promotion: Annotated[str, typer.Option("--promotion", help="The promotion's code (or id).")],
    count: Annotated[int, typer.Option("--count", min=1, max=c.MAX_BATCH, help="How many codes.")],
    company: CompanyOption = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Letters and digits before each code.")
    ] = None,
    max_uses: Annotated[
        int | None, typer.Option("--max-uses", min=1, help="Uses of each code (default 1: single-use).")
    ] = 1,
    max_uses_per_customer: Annotated[
        int | None,
        typer.Option("--max-uses-per-customer", min=1, help="Uses per customer (default: no limit)."),
    ] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="A name for the batch (default: a new id).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the codes to this CSV file instead of printing them.")
    ] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """Generate COUNT codes for a promotion; shown (or written) this once."""
    try:
        body = c.GenerateCoupons(
            promotion=promotion,
            count=count,
            prefix=prefix,
            max_uses=max_uses,
            max_uses_per_customer=max_uses_per_customer,
            batch=batch,
        )
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise typer.BadParameter(messages) from None
    if out is not None and out.exists():
        raise fail(f"{out} exists: the codes are written to a new file only")
    runtime = errors.runtime()
    err = output.console(stderr=True)
    try:
        with output.progress_bar(err, disable=output_format is not output.Format.table) as bar:
            task = bar.add_task("drawing codes", total=count)
            with transaction(runtime.session_factory) as session:
                target = company_named(session, company)
                made = svc.generate_coupons(
                    session,
                    CommandContext(system_principal("cli:coupons:generate")),
                    target,
                    body,
                    progress=lambda done: bar.update(task, completed=done),
                )
                bar.update(task, description="written", completed=made.count)
    except RetailcoreError as exc:
        raise refused(exc) from None
    if out is not None:
        with out.open("x", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["code", "batch", "promotion"])
            writer.writerows([code, made.batch, promotion] for code in made.codes)
        output.console().print(f"{made.count} codes of batch {made.batch} written to {out}", highlight=False)
        return
    columns = (output.key("code"), output.key("batch"))
    listing = output.Listing(
        f"Coupons of batch {made.batch}", columns, [[code, made.batch] for code in made.codes]
    )
    output.emit(listing, output_format, document=made.model_dump(mode="json"))
