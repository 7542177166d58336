"""The back office's promotions section (docs/ui.md, decision 0053): promotions and their approval,
governed price changes, margin floors, coupon batches and codes, loyalty accounts.

Thin, as :mod:`retailcore.entrypoints.web.routes`: each page reads through the promotions and loyalty
contexts, and each action calls the service behind the API's route (``POST
/api/v1/promotions/{id}/submit|approve|reject|override``, ``/api/v1/price-changes/{id}/...``) as the
signed-in user, so four eyes, the margin-floor check, the exclusive-overlap check and the event log
work as from the API. A refused action shows the page again with the problem (its code, message and
each field's problem: the products under their floor with their numbers, the overlapping promotion),
with the API's status (403 four eyes, 409 a breach or an overlap, 422 a missing reason).

The section needs ``margin_floors:read`` (admin, pricing manager, finance, store manager): its pages
show costs and floors. A cashier gets the 403 page, though the API lets every role read promotions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, get_args

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from retailcore.access.model import Principal
from retailcore.adapters.db import begin_writing
from retailcore.core.errors import FieldProblem, NotFound, RetailcoreError, ValidationFailed
from retailcore.entrypoints.web import routes as web
from retailcore.entrypoints.web import sessions as ws
from retailcore.eventlog.services import CommandContext
from retailcore.loyalty import services as loyalty
from retailcore.promotions import commands as c
from retailcore.promotions import coupons, summary
from retailcore.promotions import price_changes as changes
from retailcore.promotions import services as svc

router = APIRouter(include_in_schema=False)
SECTION = "promotions"
SEES = "margin_floors:read"
"""What the section takes: the pages show costs and margin floors."""

PROMOTION_STATES: tuple[str, ...] = get_args(c.PromotionState)
PRICE_CHANGE_STATES: tuple[str, ...] = get_args(c.PriceChangeState)
TABS = [
    ("promotions", "/promotions", "Promotions"),
    ("price-changes", "/price-changes", "Price changes"),
    ("margin-floors", "/margin-floors", "Margin floors"),
    ("coupons", "/coupons", "Coupons"),
    ("loyalty", "/loyalty", "Loyalty"),
]
DONE = {
    "submitted": "Submitted for approval.",
    "approved": "Approved.",
    "rejected": "Rejected.",
    "overridden": "Approved over its margin floors; the override is recorded.",
}

Work = Callable[[Session, Principal], tuple[str, dict[str, Any]]]


def _when(value: dt.datetime | None) -> str:
    """A moment in UTC, to the minute; local wall-clock times (a promotion's start and end) as they are."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.strftime("%Y-%m-%d %H:%M")


def _section(session: Session, principal: Principal) -> Any:
    principal.require(SEES)
    return web._company(session, principal)


def _values(values: dict[str, Any], tab: str) -> dict[str, Any]:
    return {"tabs": TABS, "tab": tab, "when": _when, **values}


def _show(request: Request, work: Work) -> Response:
    return web.page(request, SECTION, work)


async def _act(
    request: Request,
    action: Callable[[Session, CommandContext, dict[str, str]], str],
    again: Work,
) -> Response:
    """A POST of the section: CSRF first, then ``action`` in one writing transaction (it answers where
    to go); refused, the page of ``again`` with the problem, under the API's status code."""
    form = await web._form(request)
    web_session = ws.current(request)
    if not ws.csrf_ok(request, web_session, request.headers.get(ws.CSRF_HEADER) or form.get(ws.CSRF_FIELD)):
        return web.render(
            request,
            "error.html",
            status_code=403,
            status=403,
            error="the form has expired or did not come from this site (CSRF token refused):"
            " reload the page and try again",
            user=None,
        )
    try:
        principal, web_session = web._principal(request)
    except web.SignInNeeded:
        return RedirectResponse("/login", status_code=303)

    def run() -> str:
        with web._factory(request)() as session, session.begin():
            begin_writing(session)
            return action(session, CommandContext(principal), form)

    try:
        where = await run_in_threadpool(run)
    except RetailcoreError as refused:
        status = next((code for kind, code in web.STATUS.items() if isinstance(refused, kind)), 422)
        try:
            with web._factory(request)() as session:
                template, values = again(session, principal)
        except RetailcoreError as error:
            return web._error_page(request, error, principal)
        return web.render(
            request,
            template,
            status_code=status,
            web_session=web_session,
            user=principal,
            section=SECTION,
            problem=refused,
            problem_status=status,
            **values,
        )
    return RedirectResponse(where, status_code=303)


def _reason(form: dict[str, str], required: bool) -> str | None:
    """The form's reason, checked as the API's body (``ReasonRequired`` / ``Decision``)."""
    try:
        if required:
            return c.ReasonRequired(reason=form.get("reason", "")).reason
        return c.Decision(reason=form.get("reason", "").strip() or None).reason
    except pydantic.ValidationError as refused:
        raise ValidationFailed(
            "a reason is needed: say why",
            problems=[FieldProblem(str(e["loc"][-1]), e["msg"]) for e in refused.errors()],
        ) from None


# -- promotions ------------------------------------------------------------------------------------


def _list_promotions(state: str) -> Work:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _section(session, principal)
        web._one_of(state, (*PROMOTION_STATES,), "state")
        rows = summary.review_queue(session, company.id, state or None)
        views = [svc.view(row) for row in rows]
        items = [(v, summary.rule_in_words(session, v)) for v in views]
        table: web.Table = (
            ["code", "name", "kind", "rule", "stacking", "priority", "starts_at", "ends_at", "state",
             "created_by", "submitted_by", "decided_by"],
            [
                [v.code, v.name, v.kind, rule, v.stacking, v.priority, _when(v.starts_at), _when(v.ends_at),
                 v.state, v.created_by, v.submitted_by or "", v.decided_by or ""]
                for v, rule in items
            ],
        )  # fmt: skip
        return "promotions/list.html", _values(
            {
                "items": items,
                "state": state,
                "states": PROMOTION_STATES,
                "queue": sum(1 for v in views if v.state == summary.QUEUE_FIRST),
                "tables": {"promotions": table},
            },
            "promotions",
        )

    return work


@router.get("/promotions")
def promotions_page(request: Request, state: str = "") -> Response:
    """The company's promotions, the approval queue (submitted) first; ``state`` filters."""
    return _show(request, _list_promotions(state))


def _promotion(promotion_id: str, done: str = "") -> Work:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        _section(session, principal)
        row = svc.get_promotion(session, principal, web._uuid(promotion_id, "promotion"))
        v = svc.view(row)
        trail = summary.decision_trail(session, row.company_id, row.id)
        table: web.Table = (
            ["position", "occurred_at", "event", "by", "reason"],
            [[e.position, _when(e.occurred_at), e.type, e.actor, summary.why(e)] for e in trail],
        )
        return "promotions/detail.html", _values(
            {
                "p": v,
                "rule": summary.rule_in_words(session, v),
                "target": summary.targeting(session, v),
                "trail": trail,
                "why": summary.why,
                "done": DONE.get(done, ""),
                "can_submit": principal.can("promotions:write") and v.state in ("draft", "rejected"),
                "can_decide": principal.can("promotions:approve") and v.state == "submitted",
                "can_override": principal.can("promotions:override") and v.state == "submitted",
                "tables": {"trail": table},
            },
            "promotions",
        )

    return work


@router.get("/promotions/{promotion_id}")
def promotion_page(request: Request, promotion_id: str, done: str = "") -> Response:
    """A promotion: its rule in words, targeting, local start and end, windows, stacking, priority, and
    its trail from the event log (who did what, when, why); the actions the user's role has."""
    return _show(request, _promotion(promotion_id, done))


ACTIONS = ("submit", "approve", "reject", "override")


@router.post("/promotions/{promotion_id}/{action}")
async def promotion_action(request: Request, promotion_id: str, action: str) -> Response:
    """The services of ``POST /api/v1/promotions/{id}/{action}``, with the permission each takes."""

    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        ctx.principal.require(SEES)
        found = web._uuid(promotion_id, "promotion")
        if action == "submit":
            ctx.principal.require("promotions:write")
            svc.submit_promotion(session, ctx, found)
            done = "submitted"
        elif action == "approve":
            ctx.principal.require("promotions:approve")
            svc.approve_promotion(session, ctx, found, c.Decision(reason=_reason(form, required=False)))
            done = "approved"
        elif action == "reject":
            ctx.principal.require("promotions:approve")
            svc.reject_promotion(session, ctx, found, c.ReasonRequired(reason=_reason(form, required=True)))
            done = "rejected"
        elif action == "override":
            ctx.principal.require("promotions:override")
            decision = c.Decision(reason=_reason(form, required=True))
            svc.approve_promotion(session, ctx, found, decision, override=True)
            done = "overridden"
        else:
            raise NotFound(f"no action {action}")
        return f"/promotions/{found}?done={done}"

    return await _act(request, work, _promotion(promotion_id))


# -- price changes ---------------------------------------------------------------------------------


def _list_price_changes(state: str, done: str = "") -> Work:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _section(session, principal)
        web._one_of(state, PRICE_CHANGE_STATES, "state")
        rows = summary.price_change_queue(session, company.id, state or None)
        lists = summary.price_list_codes(session, list({row.price_list_id for row in rows}))
        views = [(changes.change_view(row), lists.get(row.price_list_id, "")) for row in rows]
        table: web.Table = (
            ["id", "price_list", "items", "effective_at", "reason", "state", "created_by", "submitted_by",
             "decided_by", "decision_reason", "applied_at"],
            [
                [v.id, code, len(v.items), _when(v.effective_at), v.reason, v.state, v.created_by,
                 v.submitted_by or "", v.decided_by or "", v.decision_reason or "", _when(v.applied_at)]
                for v, code in views
            ],
        )  # fmt: skip
        return "promotions/price_changes.html", _values(
            {
                "items": views,
                "state": state,
                "states": PRICE_CHANGE_STATES,
                "done": DONE.get(done, ""),
                "can_submit": principal.can("price_changes:write"),
                "can_decide": principal.can("price_changes:approve"),
                "tables": {"price-changes": table},
            },
            "price-changes",
        )

    return work


@router.get("/price-changes")
def price_changes_page(request: Request, state: str = "", done: str = "") -> Response:
    """Governed price changes, submitted first: submit, approve or reject them (four eyes)."""
    return _show(request, _list_price_changes(state, done))


@router.post("/price-changes/{change_id}/{action}")
async def price_change_action(request: Request, change_id: str, action: str) -> Response:
    """The services of ``POST /api/v1/price-changes/{id}/{action}``."""

    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        ctx.principal.require(SEES)
        found = web._uuid(change_id, "price change")
        if action == "submit":
            ctx.principal.require("price_changes:write")
            changes.submit_price_change(session, ctx, found)
            done = "submitted"
        elif action == "approve":
            ctx.principal.require("price_changes:approve")
            changes.approve_price_change(
                session, ctx, found, c.Decision(reason=_reason(form, required=False))
            )
            done = "approved"
        elif action == "reject":
            ctx.principal.require("price_changes:approve")
            body = c.ReasonRequired(reason=_reason(form, required=True))
            changes.reject_price_change(session, ctx, found, body)
            done = "rejected"
        else:
            raise NotFound(f"no action {action}")
        return f"/price-changes?done={done}#change-{found}"

    return await _act(request, work, _list_price_changes(""))


# -- margin floors, coupons, loyalty (read only) ---------------------------------------------------


@router.get("/margin-floors")
def margin_floors_page(request: Request) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _section(session, principal)
        floors = summary.margin_floor_table(session, company.id)
        table: web.Table = (
            ["product", "category", "floor"],
            [[f.product, f.category, f.floor] for f in floors],
        )
        return "promotions/margin_floors.html", _values(
            {"floors": floors, "tables": {"margin-floors": table}}, "margin-floors"
        )

    return _show(request, work)


@router.get("/coupons")
def coupons_page(request: Request, code: str = "") -> Response:
    """Coupon batches, and a code's status (uses, uses left, valid now) when ``code`` is given."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _section(session, principal)
        principal.require("coupons:read")
        batches = summary.coupon_batches(session, company.id)
        found, missing = None, ""
        if code.strip():
            try:
                found = coupons.coupon_status(session, company, code)
            except (NotFound, ValidationFailed) as error:
                missing = str(error)
        tables: dict[str, web.Table] = {
            "batches": (
                ["batch", "promotion", "codes", "uses", "used_up"],
                [[b.batch, b.promotion_code, b.codes, b.uses, b.used_up] for b in batches],
            )
        }
        if found is not None:
            tables["coupon"] = (
                ["code", "promotion", "batch", "uses", "uses_left", "max_uses_per_customer", "valid_from",
                 "valid_to", "active", "valid_now"],
                [[found.code, found.promotion_code, found.batch or "", found.uses,
                  "" if found.uses_left is None else found.uses_left,
                  "" if found.max_uses_per_customer is None else found.max_uses_per_customer,
                  _when(found.valid_from), _when(found.valid_to), found.active, found.valid_now]],
            )  # fmt: skip
        return "promotions/coupons.html", _values(
            {"batches": batches, "code": code, "coupon": found, "missing": missing, "tables": tables},
            "coupons",
        )

    return _show(request, work)


@router.get("/loyalty")
def loyalty_page(request: Request, customer: str = "") -> Response:
    """A customer's loyalty account (by customer code or id): balance, value and movements."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _section(session, principal)
        principal.require("loyalty:read")
        account, missing = None, ""
        if customer.strip():
            try:
                account = loyalty.account_of_customer(session, company, customer, limit=500)
            except NotFound as error:
                missing = str(error)
        tables: dict[str, web.Table] = {}
        if account is not None:
            tables["movements"] = (
                ["created_at", "kind", "points", "balance_after", "value", "order_id", "reference"],
                [
                    [
                        _when(m.created_at),
                        m.kind,
                        m.points,
                        m.balance_after,
                        m.value,
                        m.order_id or "",
                        m.reference,
                    ]
                    for m in account.movements
                ],
            )
        return "promotions/loyalty.html", _values(
            {"customer": customer, "account": account, "missing": missing, "tables": tables}, "loyalty"
        )

    return _show(request, work)
