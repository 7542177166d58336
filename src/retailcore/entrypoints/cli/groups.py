"""``retailcore groups ...``: company groups (decision 0040).

    retailcore groups create --code EUROPE --name "Acme Europe" --parent ACME
    retailcore groups add EUROPE --company ACMEUK
    retailcore groups list

The group's reports are ``retailcore report consolidated-trial-balance --group EUROPE --as-of D`` and
``retailcore report intercompany-eliminations --group EUROPE --as-of D``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.errors import fail, refused
from retailcore.eventlog.services import CommandContext
from retailcore.intercompany import commands as c
from retailcore.intercompany import services

app = typer.Typer(
    help="Company groups: which companies report together, in which currency.", no_args_is_help=True
)

COLUMNS = (output.key("code"), output.text("name"), output.key("currency"), output.text("members"))


def _shown(session, group) -> list[str]:  # type: ignore[no-untyped-def]
    codes = [company.code for company in services.members(session, group)]
    return [group.code, group.name, group.currency, ", ".join(codes)]


@app.command("create")
def create(
    code: Annotated[str, typer.Option("--code", help="The group's code.")],
    name: Annotated[str, typer.Option("--name", help="The group's name.")],
    parent: Annotated[
        str, typer.Option("--parent", help="The parent company (code or id): its currency is the group's.")
    ],
) -> None:
    """Create a group with its parent company as first member."""
    try:
        request = c.CreateGroup(code=code, name=name, parent_company_id=parent)
    except ValidationError as exc:
        raise fail(f"invalid input: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    try:
        with transaction(errors.runtime().session_factory) as session:
            ctx = CommandContext(system_principal("cli:groups:create"))
            group = services.create_group(session, ctx, request)
            row = _shown(session, group)
    except RetailcoreError as exc:
        raise refused(exc) from None
    output.console().print(f"group {row[0]} created ({row[2]}): {row[3]}", highlight=False)


@app.command("add")
def add(
    group: Annotated[str, typer.Argument(help="The group's code or id.")],
    company: Annotated[str, typer.Option("--company", "-c", help="The company to add (code or id).")],
) -> None:
    """Add a company to a group (a company is in one group at most)."""
    try:
        with transaction(errors.runtime().session_factory) as session:
            ctx = CommandContext(system_principal("cli:groups:add"))
            found = services.add_member(session, ctx, group, c.AddMember(company_id=company))
            row = _shown(session, found)
    except RetailcoreError as exc:
        raise refused(exc) from None
    output.console().print(f"group {row[0]}: {row[3]}", highlight=False)


@app.command("list")
def list_groups(output_format: output.OutputOption = output.Format.table) -> None:
    """The groups with their members, the parent first."""
    try:
        with errors.runtime().session_factory() as session:
            rows, _ = services.list_groups(session, system_principal("cli:groups:list"), None, 500)
            shown = [_shown(session, group) for group in rows]
            document = [services.view(session, group).model_dump(mode="json") for group in rows]
    except RetailcoreError as exc:
        raise refused(exc) from None
    output.emit(
        output.Listing("Company groups", COLUMNS, shown, empty="no groups"), output_format, document=document
    )
