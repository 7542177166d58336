"""The ``retailcore`` command line.

Every command reads the database from ``RETAILCORE_DATABASE_URL`` (default ``sqlite:///./retailcore.db``).
Expected failures print one clear message on stderr and exit with status 1, or 2 for usage, configuration
and connection errors (see :mod:`.errors`); listings print a table, JSON or CSV (see :mod:`.output`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from retailcore.access.model import Role, system_principal
from retailcore.access.services import (
    CreateToken,
    create_token,
    find_token,
    issue_token,
    list_tokens,
    parse_role,
    revoke_token,
    scope_label,
)
from retailcore.access.users import create_user, list_users
from retailcore.adapters import migrations
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import FieldProblem, RetailcoreError
from retailcore.entrypoints.api.orphans import PARENT_PID
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli import analytics as analytics_cli
from retailcore.entrypoints.cli import anomalies as anomalies_cli
from retailcore.entrypoints.cli import bank as bank_cli
from retailcore.entrypoints.cli import closing as closing_cli
from retailcore.entrypoints.cli import connectors as connectors_cli
from retailcore.entrypoints.cli import coupons as coupons_cli
from retailcore.entrypoints.cli import discounts as discounts_cli
from retailcore.entrypoints.cli import exceptions as exceptions_cli
from retailcore.entrypoints.cli import exports as export_cli
from retailcore.entrypoints.cli import forecast as forecast_cli
from retailcore.entrypoints.cli import gift_cards as gift_cards_cli
from retailcore.entrypoints.cli import groups as groups_cli
from retailcore.entrypoints.cli import ledger as ledger_cli
from retailcore.entrypoints.cli import marketplace as marketplace_cli
from retailcore.entrypoints.cli import orders as orders_cli
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli import pos as pos_cli
from retailcore.entrypoints.cli import promotions as promotions_cli
from retailcore.entrypoints.cli import relay as relay_cli
from retailcore.entrypoints.cli import replenish as replenish_cli
from retailcore.entrypoints.cli import reports as report_cli
from retailcore.entrypoints.cli import returns as returns_cli
from retailcore.entrypoints.cli import settlements as settlements_cli
from retailcore.entrypoints.cli import simulate as simulate_cli
from retailcore.entrypoints.cli import stock as stock_cli
from retailcore.entrypoints.cli import users as users_cli
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import CANNOT_RUN, Commands, fail, refused
from retailcore.entrypoints.cli.errors import runtime as _runtime
from retailcore.eventlog.services import CommandContext

app = typer.Typer(cls=Commands, help="retailcore: one transaction model for retail.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports from files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(import_app, name="import")
app.add_typer(report_cli.app, name="report")
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(anomalies_cli.app, name="anomalies")
app.add_typer(forecast_cli.app, name="forecast")
app.add_typer(export_cli.app, name="export")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(stock_cli.app, name="stock")
app.add_typer(orders_cli.app, name="orders")
app.add_typer(returns_cli.app, name="returns")
app.add_typer(pos_cli.app, name="pos")
app.add_typer(discounts_cli.app, name="discounts")
app.add_typer(gift_cards_cli.app, name="gift-cards")
app.add_typer(promotions_cli.app, name="promotions")
app.add_typer(coupons_cli.app, name="coupons")
app.add_typer(connectors_cli.app, name="connectors")
app.add_typer(exceptions_cli.app, name="exceptions")
app.add_typer(replenish_cli.app, name="replenish")
app.add_typer(settlements_cli.app, name="settlements")
app.add_typer(bank_cli.app, name="bank")
app.add_typer(closing_cli.app, name="close")
app.add_typer(groups_cli.app, name="groups")
app.add_typer(users_cli.app, name="users")
app.command("simulate")(simulate_cli.simulate)
app.command("relay")(relay_cli.relay)
import_app.command("marketplace")(marketplace_cli.import_marketplace)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
"""Where ``retailcore serve`` listens unless told otherwise (and where the demo's first calls go)."""


def _upgrade(runtime: Runtime) -> None:
    migrations.upgrade(runtime.engine)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema to the latest (or the given) revision."""
    runtime = _runtime(creates_database=True)
    migrations.upgrade(runtime.engine, revision)
    out.print(f"database at revision {migrations.current_revision(runtime.engine)}")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})  # "-1" is a revision
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Step the schema back (for developers; data in dropped tables is lost)."""
    runtime = _runtime()
    migrations.downgrade(runtime.engine, revision)
    out.print(f"database at revision {migrations.current_revision(runtime.engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the newest one this code knows."""
    runtime = _runtime()
    current = migrations.current_revision(runtime.engine)
    head = migrations.head_revision(runtime.engine)
    out.print(f"current: {current or 'empty'}  head: {head}")
    if current != head:
        raise typer.Exit(3)


@app.command()
def init(
    demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo company, stores and ~200 products.")
    ] = False,
    api_url: Annotated[
        str,
        typer.Option(help="Where the API will be served, for the first calls --demo prints."),
    ] = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
) -> None:
    """Create the schema; with --demo also load demo data and print an admin token."""
    from retailcore.masterdata.demo import demo_loaded, load_demo

    runtime = _runtime(creates_database=True)
    _upgrade(runtime)
    out.print(f"database ready: {runtime.settings.database_url}")
    if not demo:
        out.print("next: retailcore token create --role admin")
        return
    with transaction(runtime.session_factory) as session:
        company = demo_loaded(session)
        if company is not None:
            out.print(f"demo company {company.code} already loaded")
        else:
            with output.progress_bar(err) as progress:
                task = progress.add_task("loading demo products", total=200)
                company = load_demo(
                    session,
                    CommandContext(system_principal("cli:init")),
                    progress=lambda done: progress.update(task, completed=done),
                )
            out.print(f"demo company {company.code} loaded")
        finance = create_token(
            session, role=Role.finance, company=company.code, name="demo-finance", created_by="cli:init"
        )
        admin = create_token(session, role=Role.admin, name="demo-admin", created_by="cli:init")
        if not any(u.username == DEMO_USER for u in list_users(session)):
            # The demo's back-office login, in the demo's own database only (docs/ui.md).
            create_user(
                session, DEMO_USER, DEMO_PASSWORD, Role.admin, company=company.code, created_by="cli:init"
            )
    for line in demo_welcome(company.code, finance.token, admin.token, dt.date.today(), api_url):
        print(line)


DEMO_USER = "demo"
DEMO_PASSWORD = "retailcore-demo"
"""The demo's back-office login (an admin of the demo company), created by ``init --demo`` only."""


def demo_welcome(
    company: str,
    finance_token: str,
    admin_token: str,
    today: dt.date,
    api_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
) -> list[str]:
    """What ``init --demo`` prints after loading: both tokens, labelled, and two first calls that work as
    printed once the API is served at ``api_url``; the admin token alone on the last line, for scripts."""
    base = f"{api_url.rstrip('/')}/api/v1"
    # From the month of the demo's opening stock (60 days back) to today.
    start = (today - dt.timedelta(days=60)).replace(day=1)
    trial_balance = f"{base}/reports/trial-balance?date_from={start.isoformat()}&date_to={today.isoformat()}"
    return [
        f"finance token of {company} (its books and reports; shown once):",
        finance_token,
        "first calls, once the API is served (make demo, or retailcore serve):",
        f"  curl -H 'Authorization: Bearer {finance_token}' '{trial_balance}'",
        f"  curl -H 'Authorization: Bearer {admin_token}' '{base}/orders?company_id={company}&limit=5'",
        "admin token (installation-wide; shown once; send it as 'Authorization: Bearer <token>'):",
        admin_token,
    ]


WORKER_HEALTHCHECK_SECONDS = 60


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="TCP port.")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) and the back office (at /)."""
    import uvicorn

    runtime = _runtime()
    if migrations.current_revision(runtime.engine) != migrations.head_revision(runtime.engine):
        raise fail(
            "the database has no retailcore schema, or an older one",
            hint="run 'retailcore db upgrade' first",
            exit_code=CANNOT_RUN,
        )
    out.print(
        f"serving retailcore on http://{host}:{port}  (back office: http://{host}:{port}/;"
        f" API docs: http://{host}:{port}/docs)"
    )
    if workers > 1 and not runtime.settings.session_key:
        # A random key per worker: a sign-in made by one worker would be refused by the next.
        err.print(
            "warning: RETAILCORE_SESSION_KEY is not set, so each worker signs back-office sessions with a"
            " key of its own; set it for several workers or API nodes (docs/scaling.md)"
        )
    if workers > 1:
        # Each worker watches that this process is alive, and stops when it is not.
        os.environ[PARENT_PID] = str(os.getpid())
    uvicorn.run(
        "retailcore.entrypoints.api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # A worker that does not answer the supervisor's health check in time is killed and restarted.
        # Importing the application takes seconds on a loaded machine (uvicorn's default: 5 s), and a
        # worker killed while it imports never serves: give it time instead.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


_DURATION = re.compile(r"(?P<amount>[1-9][0-9]*)(?P<unit>[dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _expiry(expires_in: str | None, expires_at: str | None) -> dt.datetime | None:
    """``--expires-in 30d|12h|90m`` or ``--expires-at`` an ISO 8601 instant (no offset: UTC)."""
    if expires_in and expires_at:
        raise typer.BadParameter("give --expires-in or --expires-at, not both", param_hint="--expires-in")
    if expires_in:
        match = _DURATION.fullmatch(expires_in.strip())
        if match is None:
            raise typer.BadParameter(
                f"'{expires_in}' is not a duration like 30d, 12h or 90m", param_hint="--expires-in"
            )
        return utcnow() + dt.timedelta(**{_UNITS[match["unit"]]: int(match["amount"])})
    if expires_at:
        try:
            instant = dt.datetime.fromisoformat(expires_at)
        except ValueError:
            raise typer.BadParameter(
                f"'{expires_at}' is not an ISO 8601 date and time", param_hint="--expires-at"
            ) from None
        return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
    return None


def _when(instant: dt.datetime | None, never: str = "-") -> str:
    return f"{instant.astimezone(dt.UTC):%Y-%m-%d %H:%M}Z" if instant else never


@token_app.command("create")
def token_create(
    role: Annotated[
        str, typer.Option(help="cashier | store_manager | finance | integration | pricing_manager | admin")
    ],
    company: Annotated[str | None, typer.Option(help="Company code or id the token is scoped to.")] = None,
    store: Annotated[str | None, typer.Option(help="Store code or id (needs --company).")] = None,
    name: Annotated[str | None, typer.Option(help="A name to recognise the token by.")] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime: 30d, 12h or 90m (at most 5 years).")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="Expiry instant, ISO 8601 (UTC without an offset).")
    ] = None,
) -> None:
    """Create an API token. The token is printed once, alone on the last line."""
    expiry = _expiry(expires_in, expires_at)
    runtime = _runtime()
    try:
        request = CreateToken(
            role=parse_role(role), company=company, store=store, name=name, expires_at=expiry
        )
        with transaction(runtime.session_factory) as session:
            issued = issue_token(session, CommandContext(system_principal("cli")), request)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except RetailcoreError as exc:
        raise refused(exc) from None
    scope = (
        "installation-wide"
        if issued.company_id is None
        else f"company {company}" + (f", store {store}" if store else "")
    )
    until = f", expires {_when(issued.expires_at)}" if issued.expires_at else ""
    out.print(f"{issued.role} token {issued.id} ({scope}{until}); store it now, it is not shown again:")
    print(issued.token)


@token_app.command("list")
def token_list(
    company: Annotated[str | None, typer.Option(help="Only this company's tokens (code or id).")] = None,
    all_states: Annotated[
        bool, typer.Option("--all", help="Revoked and expired tokens too, not only the active ones.")
    ] = False,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """List tokens, oldest first: prefix, name, role, scope, created, expires, last used, state."""
    runtime = _runtime()
    operator = system_principal("cli")
    rows: list[list[object]] = []
    try:
        with runtime.session_factory() as session:
            company_id = company_named(session, company).id if company else None
            cursor = None
            while True:
                page, cursor = list_tokens(
                    session,
                    operator,
                    company_id=company_id,
                    state="all" if all_states else "active",
                    limit=500,
                    cursor=cursor,
                )
                rows += [
                    [
                        token.prefix,
                        token.name,
                        token.role,
                        scope_label(session, token),
                        token.created_at,
                        token.expires_at,
                        token.last_used_at,
                        token.state,
                    ]
                    for token in page
                ]
                if cursor is None:
                    break
    except RetailcoreError as exc:
        raise refused(exc) from None
    columns = [
        output.key("prefix"),
        output.text("name"),
        output.key("role"),
        output.key("scope"),
        output.key("created_at", "created", drop=3),
        output.key("expires_at", "expires", drop=1, blank="never"),
        output.key("last_used_at", "last used", drop=2, blank="never"),
        output.key("state"),
    ]
    empty = "no tokens" if all_states else "no active tokens (--all lists revoked and expired ones too)"
    output.emit(output.Listing("API tokens", columns, rows, empty=empty), output_format)


@token_app.command("revoke")
def token_revoke(
    token: Annotated[
        str, typer.Argument(help="The token's id, its prefix (or the start of it), or the token.")
    ],
) -> None:
    """Revoke a token: every server process refuses it from now on. Revoking twice changes nothing."""
    runtime = _runtime()
    ctx = CommandContext(system_principal("cli"))
    try:
        with transaction(runtime.session_factory) as session:
            row = find_token(session, ctx.principal, token)
            already = row.revoked_at is not None
            revoked = revoke_token(session, ctx, row.id)
            scope = scope_label(session, row)
    except RetailcoreError as exc:
        raise refused(exc) from None
    what = f"{revoked.role} token {revoked.prefix} ({escape(revoked.name)}, {escape(scope)})"
    if already:
        out.print(
            f"{what} was already revoked at {_when(revoked.revoked_at)} by {escape(str(revoked.revoked_by))}"
        )
    else:
        out.print(f"revoked {what}")


@import_app.command("products")
def import_products_command(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row (see docs/import.md).")],
    company: CompanyOption = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows and report the invalid ones.")
    ] = False,
) -> None:
    """Create or update products from a CSV file, all or nothing unless --skip-invalid."""
    from retailcore.masterdata.importing import ImportRejected, import_products

    if not file.is_file():
        raise fail(f"no such file: {file}")
    runtime = _runtime()
    try:
        with transaction(runtime.session_factory) as session:
            target = company_named(session, company)
            with output.progress_bar(err) as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                report = import_products(
                    session,
                    CommandContext(system_principal("cli:import")),
                    target,
                    file,
                    skip_invalid=skip_invalid,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
    except ImportRejected as exc:
        problems = [FieldProblem(f"line {problem.line}", problem.message) for problem in exc.problems]
        raise fail(f"{exc} nothing was imported", problems=problems) from None
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(
        f"imported {report.created} new and {report.updated} changed products"
        f" ({report.unchanged} unchanged) into {target.code}"
    )
    if report.skipped:
        err.print(f"skipped {len(report.skipped)} invalid rows:")
        for problem in report.skipped:
            err.print(f"  line {problem.line}: {problem.message}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="retailcore")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
