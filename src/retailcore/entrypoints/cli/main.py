"""The ``retailcore`` command line.

Every command reads the database from ``RETAILCORE_DATABASE_URL`` (default ``sqlite:///./retailcore.db``).
Expected failures print one clear message on stderr and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import DBAPIError
from typer.core import TyperGroup

from retailcore.access.model import Role, system_principal
from retailcore.access.services import create_token, resolve_company
from retailcore.adapters import migrations
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.api.orphans import PARENT_PID
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.cli import ledger as ledger_cli
from retailcore.entrypoints.cli import orders as orders_cli
from retailcore.entrypoints.cli import pos as pos_cli
from retailcore.entrypoints.cli import reports as report_cli
from retailcore.entrypoints.cli import simulate as simulate_cli
from retailcore.entrypoints.cli import stock as stock_cli
from retailcore.eventlog.services import CommandContext


def _missing_schema(error: DBAPIError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined table (SQLSTATE 42P01)."""
    driver_error = error.orig
    return "no such table" in str(driver_error) or getattr(driver_error, "sqlstate", None) == "42P01"


class _Commands(TyperGroup):
    """Every command: a database that was never migrated (or is behind the code) is a clear error."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DBAPIError as error:
            if not _missing_schema(error):
                raise
            err.print(
                "[bold red]error:[/] the database has no retailcore schema, or an older one: run"
                " 'retailcore db upgrade' (or 'retailcore init --demo' for a demo) first",
                highlight=False,
            )
            raise typer.Exit(1) from None


app = typer.Typer(cls=_Commands, help="retailcore: one transaction model for retail.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports from files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(import_app, name="import")
app.add_typer(report_cli.app, name="report")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(stock_cli.app, name="stock")
app.add_typer(orders_cli.app, name="orders")
app.add_typer(pos_cli.app, name="pos")
app.command("simulate")(simulate_cli.simulate)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def _runtime() -> Runtime:
    return bootstrap()


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def _upgrade(runtime: Runtime) -> None:
    migrations.upgrade(runtime.engine)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the schema to the latest (or the given) revision."""
    runtime = _runtime()
    migrations.upgrade(runtime.engine, revision)
    out.print(f"database at revision {migrations.current_revision(runtime.engine)}")


@db_app.command("downgrade")
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
) -> None:
    """Create the schema; with --demo also load demo data and print an admin token."""
    from retailcore.masterdata.demo import demo_loaded, load_demo

    runtime = _runtime()
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
            with _progress() as progress:
                task = progress.add_task("loading demo products", total=200)
                company = load_demo(
                    session,
                    CommandContext(system_principal("cli:init")),
                    progress=lambda done: progress.update(task, completed=done),
                )
            out.print(f"demo company {company.code} loaded")
        issued = create_token(session, role=Role.admin, name="demo-admin")
    out.print("admin token (shown once; send it as 'Authorization: Bearer <token>'):")
    print(issued.token)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    runtime = _runtime()
    if migrations.current_revision(runtime.engine) != migrations.head_revision(runtime.engine):
        raise fail("the database schema is not up to date: run 'retailcore db upgrade' first")
    out.print(f"serving retailcore on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    if workers > 1:
        # Each worker watches that this process is alive, and stops when it is not.
        os.environ[PARENT_PID] = str(os.getpid())
    uvicorn.run(
        "retailcore.entrypoints.api.asgi:app", host=host, port=port, workers=workers, log_level="info"
    )


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="cashier | store_manager | finance | integration | admin")],
    company: Annotated[str | None, typer.Option(help="Company code or id the token is scoped to.")] = None,
    store: Annotated[str | None, typer.Option(help="Store code or id (needs --company).")] = None,
    name: Annotated[str | None, typer.Option(help="A name to recognise the token by.")] = None,
) -> None:
    """Create an API token. The token is printed once, alone on the last line."""
    runtime = _runtime()
    try:
        with transaction(runtime.session_factory) as session:
            issued = create_token(session, role=role, company=company, store=store, name=name)
    except RetailcoreError as exc:
        raise fail(str(exc)) from None
    scope = (
        "installation-wide"
        if issued.company_id is None
        else f"company {company}" + (f", store {store}" if store else "")
    )
    out.print(f"{issued.role} token {issued.id} ({scope}); store it now, it is not shown again:")
    print(issued.token)


@import_app.command("products")
def import_products_command(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row (see docs/import.md).")],
    company: Annotated[
        str | None, typer.Option(help="Company code or id; optional if there is only one.")
    ] = None,
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
            target = _single_company(session, company)
            with _progress() as progress:
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
        for problem in exc.problems[:50]:
            err.print(f"  line {problem.line}: {problem.message}", highlight=False)
        if len(exc.problems) > 50:
            err.print(f"  ... and {len(exc.problems) - 50} more")
        raise fail(f"{exc} nothing was imported") from None
    except RetailcoreError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"imported {report.created} new and {report.updated} changed products"
        f" ({report.unchanged} unchanged) into {target.code}"
    )
    if report.skipped:
        err.print(f"skipped {len(report.skipped)} invalid rows:")
        for problem in report.skipped:
            err.print(f"  line {problem.line}: {problem.message}", highlight=False)


def _single_company(session, company: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from retailcore.masterdata.tables import Company

    if company:
        return resolve_company(session, company)
    companies = session.scalars(select(Company).limit(2)).all()
    if len(companies) != 1:
        raise RetailcoreError("there is not exactly one company: pass --company", code="company-required")
    return companies[0]


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="retailcore")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
