"""``retailcore promotions ...``: list promotions; submit, approve, reject or override one as a user.

Listing runs as the system principal. Deciding is a person's act (four eyes, decision 0048): ``--as``
names the back-office user (``retailcore user create``) whose role and scope the command takes, and
who is recorded as the one who decided; the same refusals as the API apply (``four-eyes``, a margin
floor breach, a missing permission). Like every command: results on stdout, errors on stderr, exit 1 on
an expected failure; the listing takes ``--output table|json|csv``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.markup import escape
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.access.users import principal_of, user_by_name
from retailcore.adapters.db import transaction
from retailcore.core.errors import PermissionDenied, RetailcoreError
from retailcore.entrypoints.cli import errors, output
from retailcore.entrypoints.cli.companies import CompanyOption, company_named
from retailcore.entrypoints.cli.errors import refused
from retailcore.eventlog.services import CommandContext
from retailcore.promotions import commands as c
from retailcore.promotions import services as svc

app = typer.Typer(
    help="Promotions: list them; submit, approve, reject or override one.", no_args_is_help=True
)

COLUMNS = (
    output.key("code"),
    output.text("name"),
    output.key("kind"),
    output.key("stacking", drop=2),
    output.key("state"),
    output.key("starts_at", "starts", blank="-"),
    output.key("ends_at", "ends", blank="-"),
    output.key("created_by", "by", drop=1),
    output.key("decided_by", "decided by", drop=1),
)

CodeArgument = Annotated[str, typer.Argument(help="The promotion's code.")]
AsOption = Annotated[
    str, typer.Option("--as", help="The back-office user deciding (four eyes: not the author).")
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (required to reject or override).")]


@app.command("list")
def list_promotions(
    company: CompanyOption = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="draft, submitted, rejected, scheduled, active or expired."),
    ] = None,
    output_format: output.OutputOption = output.Format.table,
) -> None:
    """The company's promotions, by code."""
    if state is not None and state not in c.PromotionState.__args__:  # type: ignore[attr-defined]
        raise typer.BadParameter(f"{state!r} is not a promotion state", param_hint="--state")
    runtime = errors.runtime()
    try:
        with runtime.session_factory() as session:
            target = company_named(session, company)
            rows = list(
                session.scalars(svc.promotions_query(target.id, state).order_by(svc.PromotionRow.code))
            )
            views = [svc.view(row) for row in rows]
    except RetailcoreError as exc:
        raise refused(exc) from None
    listing = output.Listing(
        "Promotions",
        COLUMNS,
        [
            [v.code, v.name, v.kind, v.stacking, v.state, v.starts_at, v.ends_at, v.created_by, v.decided_by]
            for v in views
        ],
        empty="no promotions",
    )
    output.emit(listing, output_format, document=[v.model_dump(mode="json") for v in views])


def _acting(session: Session, username: str) -> Principal:
    user = user_by_name(session, username)
    if user.disabled_at is not None:
        raise PermissionDenied(f"user '{username}' is disabled")
    return principal_of(user)


Action = Literal["submit", "approve", "reject", "override"]


def _decide(action: Action, code: str, company: str | None, username: str, reason: str | None) -> None:
    out = output.console()
    runtime = errors.runtime()
    try:
        with transaction(runtime.session_factory) as session:
            principal = _acting(session, username)
            target = company_named(session, company)
            if not principal.sees_company(target.id):
                raise PermissionDenied(f"user '{username}' does not work for {target.code}")
            row = svc.promotion_by_code(session, target, code)
            ctx = CommandContext(principal)
            if action == "submit":
                principal.require("promotions:write")
                row = svc.submit_promotion(session, ctx, row.id)
            elif action == "reject":
                principal.require("promotions:approve")
                row = svc.reject_promotion(session, ctx, row.id, c.ReasonRequired(reason=reason or ""))
            elif action == "override":
                principal.require("promotions:override")
                row = svc.approve_promotion(session, ctx, row.id, c.Decision(reason=reason), override=True)
            else:
                principal.require("promotions:approve")
                row = svc.approve_promotion(session, ctx, row.id, c.Decision(reason=reason))
            state = row.state
    except RetailcoreError as exc:
        raise refused(exc) from None
    except ValueError as exc:  # pydantic: an empty reason
        raise typer.BadParameter(str(exc).splitlines()[-1], param_hint="--reason") from None
    out.print(f"{escape(code)}: {state} (by user:{escape(username)})", highlight=False)


@app.command("submit")
def submit(code: CodeArgument, as_user: AsOption, company: CompanyOption = None) -> None:
    """Submit a draft (or rejected) promotion for approval."""
    _decide("submit", code, company, as_user, None)


@app.command("approve")
def approve(
    code: CodeArgument, as_user: AsOption, company: CompanyOption = None, reason: ReasonOption = None
) -> None:
    """Approve a submitted promotion (refused over a margin floor: see 'override')."""
    _decide("approve", code, company, as_user, reason)


@app.command("reject")
def reject(
    code: CodeArgument, as_user: AsOption, reason: ReasonOption = None, company: CompanyOption = None
) -> None:
    """Reject a submitted promotion, saying why."""
    _decide("reject", code, company, as_user, reason)


@app.command("override")
def override(
    code: CodeArgument, as_user: AsOption, reason: ReasonOption = None, company: CompanyOption = None
) -> None:
    """Approve a submitted promotion over a margin-floor breach (finance or an admin), saying why."""
    _decide("override", code, company, as_user, reason)
