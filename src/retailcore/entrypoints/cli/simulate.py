"""``retailcore simulate``: realistic trading through the public services (see docs/simulation.md).

Progress bars go to stderr; the summary table (or ``--json``) to stdout.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.options import date_option
from retailcore.simulation import Options
from retailcore.simulation import simulate as run_simulation
from retailcore.simulation.profile import PROFILE
from retailcore.simulation.shopify import ShopifyWeb, Webhook
from retailcore.simulation.simulator import FAULTS


def _scale(value: str) -> Decimal:
    try:
        scale = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"'{value}' is not a number", param_hint="--scale") from None
    if not scale.is_finite() or scale <= 0 or scale > 100:
        raise typer.BadParameter(f"'{value}' is not a number above 0 and at most 100", param_hint="--scale")
    return scale


def _return_rates(values: list[str] | None) -> tuple[tuple[str, int], ...]:
    rates = []
    for value in values or []:
        category, _, percent = value.partition("=")
        if not category.strip() or not percent.strip().isdigit() or int(percent) > 100:
            raise typer.BadParameter(
                f"'{value}' is not CATEGORY=PERCENT (a whole percent, 0 to 100)", param_hint="--return-rate"
            )
        rates.append((category.strip(), int(percent)))
    return tuple(rates)


def _faults(values: list[str] | None) -> tuple[str, ...]:
    for value in values or []:
        if value not in FAULTS:
            raise typer.BadParameter(
                f"'{value}' is not one of {', '.join(FAULTS)}", param_hint="--plant-fault"
            )
    return tuple(dict.fromkeys(values or []))


def simulate(
    stores: Annotated[
        int, typer.Option(min=1, max=999, help="Stores that trade (S01..; reused if they exist).")
    ] = 40,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days of trading.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same trading.")] = 1,
    start: Annotated[
        dt.date | None,
        date_option("--start", help="First day (default: DAYS before today; history ends yesterday)."),
    ] = None,
    company: Annotated[
        str, typer.Option(help="Company code; created (with stores, catalog, stock) if missing.")
    ] = "SIM",
    scale: Annotated[
        str, typer.Option(help="Multiplies the daily numbers of sales and orders, e.g. 0.1.")
    ] = "1",
    return_rate: Annotated[
        list[str] | None,
        typer.Option(
            help="CATEGORY=PERCENT: share of sold lines returned for a top category (Apparel, Footwear,"
            " Food...; default=N for the others). Repeatable.",
        ),
    ] = None,
    web_via: Annotated[
        Literal["shopify"] | None,
        typer.Option(
            "--web-via",
            help="shopify: the web shop's card-paid orders are delivered as signed Shopify webhooks to"
            " the API's webhook endpoint (served on a local port for the run; needs"
            " RETAILCORE_CONNECTOR_KEY), some repeated, some out of order.",
        ),
    ] = None,
    settlement_files: Annotated[
        Path | None,
        typer.Option(
            "--settlement-files",
            help="Write the gateways' settlement reports and the bank's CAMT.053 statements here (they are"
            " imported through the settlements and bank services either way).",
            file_okay=False,
        ),
    ] = None,
    plant_fault: Annotated[
        list[str] | None,
        typer.Option(
            "--plant-fault",
            help="A fault for the close checklist to find: unsettled-capture (a store card capture Adyen"
            " never settles) or stock-difference (an entry on the inventory account by hand). Repeatable.",
        ),
    ] = None,
    replenishment: Annotated[
        Literal["minmax", "forecast"],
        typer.Option(
            "--replenishment",
            help="minmax: stores and warehouse refilled by min/target days (default). forecast: after a"
            " week, the back office suggests and accepts replenishment from demand estimates each day.",
        ),
    ] = "minmax",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate a specialty retailer's trading: POS, web, marketplace, b2b, stock and the books."""
    options = Options(
        company=company,
        stores=stores,
        days=days,
        seed=seed,
        start=start,
        scale=_scale(scale),
        return_rates=_return_rates(return_rate),
        settlement_files=settlement_files,
        faults=_faults(plant_fault),
    )
    runtime = errors.runtime()
    err = output.console(stderr=True)
    progress = output.progress_bar(err)
    tasks: dict[str, Any] = {}

    def report(kind: str, done: int, total: int) -> None:
        if kind not in tasks:
            tasks[kind] = progress.add_task(
                "simulated days" if kind == "days" else "  stores today", total=total
            )
        progress.update(tasks[kind], completed=done, total=total)

    try:
        with progress, _webhook_endpoint(runtime, web_via) as shopify:
            summary = run_simulation(
                runtime.session_factory,
                options,
                progress=report,
                shopify=shopify,
                profile=replace(PROFILE, replenishment=replenishment),
            )
    except RetailcoreError as exc:
        raise errors.refused(exc) from None
    if summary is None:
        err.print(f"company {company} is already simulated up to yesterday: nothing to do")
        return
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    output.print_table(output.console(), _table(summary))


def _flat(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows = []
        for key, item in value.items():
            rows += _flat(f"{prefix} {key}".strip(), item)
        return rows
    if isinstance(value, bool):
        return [(prefix.replace("_", " "), "yes" if value else "NO")]
    if isinstance(value, list):  # the ground truth: each entry flattened, its ticket ids counted
        if all(isinstance(item, dict) for item in value):
            return [row for n, item in enumerate(value, 1) for row in _flat(f"{prefix} {n}", item)]
        return [(prefix.replace("_", " "), f"{len(value)} (listed in --json)")]
    return [(prefix.replace("_", " "), str(value))]


def _table(summary: dict[str, Any]) -> output.Listing:
    rows = [list(row) for key, value in summary.items() if key != "company" for row in _flat(key, value)]
    return output.Listing(
        f"Simulation of {summary['company']}: {summary['days']} days, {summary['stores']} stores",
        [output.text("figure"), output.amount("value")],
        rows,
    )


@contextmanager
def _webhook_endpoint(runtime: Any, web_via: str | None) -> Iterator[ShopifyWeb | None]:
    """``--web-via shopify``: the API served by uvicorn on a free local port for the run (in a thread
    of this process, on the same database), and a sender that POSTs each webhook to it over one
    keep-alive HTTP connection."""
    if web_via is None:
        yield None
        return
    import uvicorn

    from retailcore.entrypoints.api.app import create_app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise errors.fail("the webhook endpoint could not be served", exit_code=errors.CANNOT_RUN)
        threading.Event().wait(0.05)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(webhook: Webhook) -> int:
        for attempt in (1, 2):
            try:
                connection.request("POST", webhook.path, body=webhook.body, headers=webhook.headers)
                response = connection.getresponse()
                response.read()
                return response.status
            except (ConnectionError, http.client.HTTPException):
                connection.close()  # the server closed an idle keep-alive: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    try:
        yield ShopifyWeb(send=send, connector_key=runtime.settings.connector_key)
    finally:
        connection.close()
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
