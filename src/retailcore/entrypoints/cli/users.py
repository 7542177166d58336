"""``retailcore users``: the people who sign in to the back office (docs/security.md, "Users")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from retailcore.access import users
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli.errors import refused
from retailcore.entrypoints.cli.errors import runtime as _runtime

app = typer.Typer(help="Back-office users (sign-in at /).", no_args_is_help=True)
out = Console(highlight=False)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: Annotated[
        str, typer.Option(help="cashier | store_manager | finance | integration | pricing_manager | admin")
    ],
    company: Annotated[str | None, typer.Option(help="Company code or id the user is scoped to.")] = None,
    store: Annotated[str | None, typer.Option(help="Store code or id (needs --company).")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="RETAILCORE_USER_PASSWORD",
            help="At least 8 characters; asked for when not given (or RETAILCORE_USER_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Create a user with a password (stored as an argon2id hash), a role and a scope, as a token's."""
    runtime = _runtime()
    try:
        with transaction(runtime.session_factory) as session:
            user = users.create_user(session, username, password, role, company=company, store=store)
            scope = "installation-wide" if user.company_id is None else f"company {company}"
            if store:
                scope += f", store {store}"
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(f"user {username} created: {role}, {scope}")


@app.command("list")
def list_users() -> None:
    """Users by name: role, scope, whether disabled or locked, last sign-in. Never a password."""
    runtime = _runtime()
    with runtime.session_factory() as session:
        rows = users.list_users(session)
    table = Table("user", "role", "company", "store", "state", "last sign-in")
    for row in rows:
        state = (
            "disabled"
            if row.disabled
            else (f"locked until {row.locked_until:%H:%M}" if row.locked_until else "active")
        )
        last = f"{row.last_sign_in_at:%Y-%m-%d %H:%M}" if row.last_sign_in_at else ""
        table.add_row(row.username, row.role.value, row.company or "", row.store or "", state, last)
    out.print(table)


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: no more sign-ins, and their open sessions are refused at their next request."""
    runtime = _runtime()
    try:
        with transaction(runtime.session_factory) as session:
            users.disable_user(session, username)
    except RetailcoreError as exc:
        raise refused(exc) from None
    out.print(f"user {username} disabled")
