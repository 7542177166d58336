"""The back office's routes. Thin, as the API's: each page asks the contexts' services and queries for
what it shows, as the signed-in user (the same :class:`Principal` as a token of that role and scope).

Errors become pages: not found or out of scope -> 404, a role that may not -> 403, bad input -> 422,
each with the service's own message. Every POST checks the session's CSRF token first.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import secrets
import uuid
from collections.abc import Callable, Collection
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs, urlencode

import pydantic
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from retailcore.access.model import Principal
from retailcore.access.users import active_user, principal_of, sign_in
from retailcore.accounting import reports as r
from retailcore.accounting import views as ledger_views
from retailcore.accounting.tables import JournalEntry
from retailcore.adapters.db import begin_writing
from retailcore.analytics import dashboard as kpi_dashboard
from retailcore.analytics import queries as kpi_queries
from retailcore.analytics.triage import services as exception_triage
from retailcore.banking import services as banking
from retailcore.closing import commands as closing_commands
from retailcore.closing import services as closing
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    RetailcoreError,
    Unauthenticated,
    ValidationFailed,
)
from retailcore.entrypoints.api.deps import min_position, read_routing
from retailcore.entrypoints.inbox import drain_now
from retailcore.entrypoints.web import sessions as ws
from retailcore.eventlog import services as events
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import stock_queries, valuation
from retailcore.masterdata.services import company_in_scope, store_id_in_scope
from retailcore.masterdata.tables import Company, Location
from retailcore.monitoring import classes as triage_rules
from retailcore.monitoring import queries as exception_queries
from retailcore.monitoring import services as exception_services
from retailcore.monitoring.tables import STOCK_TYPES
from retailcore.orders import services as orders
from retailcore.orders.tables import ORDER_CHANNELS
from retailcore.orders.trail import order_trail
from retailcore.pos import services as pos
from retailcore.returns import commands as return_commands
from retailcore.returns import services as returns
from retailcore.returns.commands import Status as ReturnStatus
from retailcore.settlements import commands as settlement_commands
from retailcore.settlements import reports as settlement_reports
from retailcore.settlements import services as settlements
from retailcore.settlements.tables import MISMATCH_KINDS, MISMATCH_STATES

HERE = Path(__file__).parent
STATIC = "/static"
router = APIRouter(include_in_schema=False)
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
# Amounts and quantities as the reports and CSV write them: at least 2 decimals, no trailing zeros past.
templates.filters["amount"] = r.cell_text

NAV = [
    ("dashboard", "/", "Dashboard"),
    ("orders", "/orders", "Orders"),
    ("pos", "/pos/sessions", "POS sessions"),
    ("stock", "/stock", "Stock"),
    ("forecasts", "/forecasts", "Forecasts"),
    ("promotions", "/promotions", "Promotions"),
    ("accounting", "/accounting/profit-and-loss", "Accounting"),
    ("returns", "/returns", "Returns"),
    ("settlements", "/settlements", "Settlements & mismatches"),
    ("close", "/close", "Close checklist"),
    ("exceptions", "/exceptions", "Exceptions"),
    ("anomalies", "/anomalies", "Anomalies"),
]
STATUS = {NotFound: 404, InvalidReference: 404, PermissionDenied: 403, Unauthenticated: 401, Conflict: 409}


class SignInNeeded(Exception):
    pass


def _factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory


def _read(request: Request, work: Callable[[Session], Any]) -> Any:
    """A page's reads: from the read replica when one is configured and close enough behind, as the
    API's reports (decision 0086); the signed-in user is still read from the primary."""
    routing = read_routing(request)
    if routing is None:
        with _factory(request)() as session:
            return work(session)
    return routing.read(work, min_position(request))


def _principal(request: Request) -> tuple[Principal, ws.WebSession]:
    web_session = ws.current(request)
    if web_session is None or web_session.user_id is None:
        raise SignInNeeded
    with _factory(request)() as session:
        user = active_user(session, web_session.user_id)
        if user is None:
            raise SignInNeeded
        return principal_of(user), web_session


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    web_session: ws.WebSession | None = None,
    **values: Any,
) -> HTMLResponse:
    web_session = web_session or ws.current(request)
    html = templates.get_template(template).render(
        request=request,
        nav=NAV,
        csv_link=lambda table: csv_link(request, table),
        csrf=web_session.csrf if web_session else "",
        static=STATIC,
        **values,
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


# Nothing loads from elsewhere, no inline script runs, and no other site frames the pages.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _error_page(request: Request, error: RetailcoreError, principal: Principal | None) -> HTMLResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 422)
    return render(request, "error.html", status_code=status, status=status, error=error, user=principal)


def page(
    request: Request,
    section: str,
    work: Callable[[Session, Principal], tuple[str, dict[str, Any]]],
) -> Response:
    """A page read as the signed-in user: ``work`` answers its template and values."""
    try:
        principal, web_session = _principal(request)
    except SignInNeeded:
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
    try:
        template, values = _read(request, lambda session: work(session, principal))
    except RetailcoreError as error:
        return _error_page(request, error, principal)
    wanted = request.query_params.get("csv")
    if wanted is not None:
        tables: dict[str, Table] = values.get("tables", {})
        if wanted not in tables:
            return _error_page(request, NotFound(f"no table '{wanted}' on this page"), principal)
        return _csv(wanted, *tables[wanted])
    return render(request, template, web_session=web_session, user=principal, section=section, **values)


Table = tuple[list[str], list[list[Any]]]


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> Response:
    """A page's table as CSV (``?csv=<table>`` on any page): a header row, amounts as plain decimals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([r.cell_text(value) for value in row] for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def csv_link(request: Request, table: str) -> str:
    """The address of a table's CSV: the page's own, with its filters, and ``csv=<table>``."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("csv", "cursor")]
    return f"{request.url.path}?{urlencode([*query, ('csv', table)])}"


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


async def command(
    request: Request,
    work: Callable[[Session, CommandContext, dict[str, str]], str],
) -> Response:
    """A POST: CSRF first, then ``work`` in one writing transaction; it answers where to go next."""
    form = await _form(request)
    web_session = ws.current(request)
    sent = request.headers.get(ws.CSRF_HEADER) or form.get(ws.CSRF_FIELD)
    if not ws.csrf_ok(request, web_session, sent):
        return render(
            request,
            "error.html",
            status_code=403,
            status=403,
            error="the form has expired or"
            " did not come from this site (CSRF token refused): reload the page and try again",
            user=None,
        )
    try:
        principal, _ = _principal(request)
    except SignInNeeded:
        return RedirectResponse("/login", status_code=303)

    def run() -> str:
        with _factory(request)() as session, session.begin():
            begin_writing(session)
            return work(session, CommandContext(principal), form)

    try:
        where = await run_in_threadpool(run)
    except RetailcoreError as error:
        return _error_page(request, error, principal)
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": where})
    return RedirectResponse(where, status_code=303)


def _company(session: Session, principal: Principal) -> Company:
    return company_in_scope(session, principal, None)


def _day(value: str | None, field: str) -> dt.date | None:
    return r.parse_date(value or None, field)


# -- signing in and out ----------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never ``//elsewhere`` nor a full address."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    web_session = ws.current(request)
    if web_session is None or web_session.user_id is not None:
        web_session = ws.WebSession.fresh()
    response = render(request, "login.html", web_session=web_session, next=_safe_next(next), error=None)
    ws.set_cookie(request, response, web_session)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    web_session = ws.current(request)
    target = _safe_next(form.get("next"))
    if not ws.csrf_ok(request, web_session, form.get(ws.CSRF_FIELD)):
        fresh = ws.WebSession.fresh()
        response = render(
            request,
            "login.html",
            status_code=403,
            web_session=fresh,
            next=target,
            error="The sign-in form expired: please sign in again.",
        )
        ws.set_cookie(request, response, fresh)
        return response

    def run() -> uuid.UUID | Unauthenticated:
        with _factory(request)() as session, session.begin():
            begin_writing(session)
            try:
                return sign_in(session, form.get("username", ""), form.get("password", "")).id
            except Unauthenticated as refused:
                return refused  # the failure is counted: the transaction commits

    outcome = await run_in_threadpool(run)
    if isinstance(outcome, Unauthenticated):
        assert web_session is not None
        response = render(
            request,
            "login.html",
            status_code=401,
            web_session=web_session,
            next=target,
            error=outcome.detail,
            username=form.get("username", ""),
        )
        return response
    response = RedirectResponse(target, status_code=303)
    ws.set_cookie(request, response, ws.WebSession.fresh(outcome))  # a new session, a new CSRF token
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    web_session = ws.current(request)
    if not ws.csrf_ok(request, web_session, form.get(ws.CSRF_FIELD)):
        return render(
            request, "error.html", status_code=403, status=403, error="CSRF token refused", user=None
        )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(ws.COOKIE, path="/")
    return response


# -- dashboard --------------------------------------------------------------------------------


@router.get("/")
def dashboard(
    request: Request, date_from: str = "", date_to: str = "", store: str = "", channel: str = ""
) -> Response:
    """The KPIs of the analytics context for a period, a store and a channel, against the previous
    period; the same query functions as ``/api/v1/kpis/...`` (docs/ui.md)."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        if not principal.can("kpis:read"):  # a cashier: the sections only
            return "dashboard.html", {"board": None}
        company = _company(session, principal)
        if channel and channel not in ORDER_CHANNELS:
            raise ValidationFailed(
                f"no channel '{channel}'", problems=[FieldProblem("channel", "no such channel")]
            )
        start, end = _day(date_from, "date_from"), _day(date_to, "date_to")
        where = kpi_queries.scope(
            session,
            principal,
            company=company.id,
            store=store.strip() or None,
            channel=channel or None,
            date_from=start,
            date_to=end,
        )
        if start is None and end is None:
            start, end = kpi_dashboard.default_period(session, company.id, where.store_id, dt.date.today())
            where = dataclasses.replace(where, date_from=start, date_to=end)
        board = kpi_dashboard.dashboard(session, where)
        lag = None
        if principal.store_id is None:  # card money is the company's, as /kpis/settlement-lag
            lag = settlement_reports.settlement_lag(session, company.id, where.date_from, where.date_to)
        stores = kpi_dashboard.visible_stores(session, principal, company.id)
        books = principal.can("reports:read") and principal.store_id is None
        period = {"date_from": where.date_from.isoformat(), "date_to": where.date_to.isoformat()}
        tables: dict[str, Table] = {
            "kpis": (
                ["kpi", "value", "previous", "change"],
                [[t.key, t.value, t.previous, t.change] for t in board.tiles],
            ),
            "sales-by-day": _sales_table(board.by_day),
            "margin-by-channel": _sales_table(board.by_channel),
            "margin-by-store": _sales_table(board.by_store),
            "margin-by-category": _sales_table(board.by_category),
        }
        if lag is not None:
            tables["settlement-lag"] = lag.table()
        return "dashboard.html", {
            "board": board,
            "company": company,
            "stores": stores,
            "channels": ORDER_CHANNELS,
            "store": store.strip() if principal.store_id is None else (stores[0][0] if stores else ""),
            "channel": channel,
            "books": books,
            "drill": urlencode(period),
            "drill_of": lambda split, day=None: urlencode(
                {
                    **({"date_from": day, "date_to": day} if day else period),
                    **({"group_by": split} if split else {}),
                }
            ),
            "tile_split": "store_id" if where.store_id else "channel" if where.channel else None,
            "lag": lag,
            "charts": {
                "days": _series(board.by_day, days=(where.date_from, where.date_to)),
                "channel": _series(board.by_channel),
                "store": _series(board.by_store),
                "category": _series(board.by_category),
            },
            "tables": tables,
        }

    return page(request, "dashboard", work)


SALES_COLUMNS = [
    "group",
    "net_sales",
    "cost_of_sales",
    "gross_margin",
    "margin_percent",
    "discounts",
    "units",
]


def _sales_table(report: kpi_queries.SalesReport) -> Table:
    return SALES_COLUMNS, [[getattr(row, name) for name in SALES_COLUMNS] for row in report.rows]


def _series(
    report: kpi_queries.SalesReport, days: tuple[dt.date, dt.date] | None = None
) -> dict[str, list[str]]:
    """A chart's data: labels, and the amounts as decimal strings (the script draws them). By day, every
    day of the period is there, zero where nothing sold (the report has rows for days with sales)."""
    rows = {row.group or "(no store)": row for row in report.rows}
    labels = list(rows)
    if days is not None:
        count = (days[1] - days[0]).days + 1
        labels = [(days[0] + dt.timedelta(days=n)).isoformat() for n in range(count)]
    return {
        "labels": labels,
        "net_sales": [str(rows[k].net_sales) if k in rows else "0" for k in labels],
        "gross_margin": [str(rows[k].gross_margin) if k in rows else "0" for k in labels],
    }


# -- orders ----------------------------------------------------------------------------------------


@router.get("/orders")
def orders_page(
    request: Request, number: str = "", state: str = "", channel: str = "", cursor: str = ""
) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("orders:read")
        company = _company(session, principal)
        after = _uuid(cursor, "cursor") if cursor else None
        items, next_cursor = orders.list_orders(
            session,
            principal,
            company,
            channel=channel or None,
            state=state or None,
            number=number.strip() or None,
            limit=50,
            cursor=after,
            newest_first=True,
        )
        more = urlencode({"number": number, "state": state, "channel": channel, "cursor": next_cursor or ""})
        template = "orders_table.html" if request.headers.get("HX-Request") else "orders.html"
        return template, {
            "orders": items,
            "number": number,
            "state": state,
            "channel": channel,
            "next": f"/orders?{more}" if next_cursor else None,
            "states": orders.t.ORDER_STATES,
            "channels": ("pos", "web", "marketplace", "b2b"),
            "tables": {
                "orders": (
                    ["number", "channel", "state", "ordered_at", "currency", "gross_total", "paid_amount"],
                    [
                        [o.number, o.channel, o.state, o.ordered_at, o.currency, o.gross_total, o.paid_amount]
                        for o in items
                    ],
                )
            },
        }

    return page(request, "orders", work)


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {field} {value}") from None


@router.get("/orders/{order_id}")
def order_page(request: Request, order_id: str) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("orders:read")
        company = _company(session, principal)
        order = orders.get_order(session, principal, company, _uuid(order_id, "order"))
        trail = order_trail(
            session,
            company.id,
            order.id,
            pos_session_id=order.pos_session_id,
            product_ids={line.product_id for line in order.lines},
        )
        return "order.html", {"order": order, "trail": trail, "ledger": principal.can("ledger:read")}

    return page(request, "orders", work)


# -- POS sessions ----------------------------------------------------------------------------------


@router.get("/pos/sessions")
def pos_sessions_page(request: Request, state: str = "") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("pos:sell")
        company = _company(session, principal)
        rows = pos.recent_sessions(session, principal, company, state=state or None, limit=100)
        stores = pos.store_codes(session, company)
        table = (
            ["store", "number", "state", "opened_at", "opened_by", "closed_at", "sales", "cash_difference"],
            [
                [
                    stores.get(s.store_id),
                    s.number,
                    s.state,
                    s.opened_at,
                    s.opened_by,
                    s.closed_at,
                    s.sale_count,
                    s.cash_difference,
                ]
                for s in rows
            ],
        )
        return "pos_sessions.html", {
            "rows": rows,
            "state": state,
            "stores": stores,
            "tables": {"sessions": table},
        }

    return page(request, "pos", work)


@router.get("/pos/sessions/{session_id}")
def pos_session_page(request: Request, session_id: str) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("pos:sell")
        found = pos.get_session(session, principal, _uuid(session_id, "POS session"))
        view = pos.session_view(session, found)
        company = session.get(Company, found.company_id)
        assert company is not None
        return "pos_session.html", {
            "pos_session": view,
            "methods": pos.closing_methods(session, company),
            "expected": round_to_currency(
                pos.expected_cash(session, found, pos.running_totals(session, found.id)), company.currency
            ),
            "can_close": principal.can("pos:close"),
            "threshold": company.pos_approval_threshold,
            "can_approve": principal.can("pos:approve"),
        }

    return page(request, "pos", work)


_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@router.post("/pos/sessions/{session_id}/close")
async def close_pos_session(request: Request, session_id: str) -> Response:
    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        ctx.principal.require("pos:close")
        counted: dict[str, Decimal] = {}
        for key, value in form.items():
            if key.startswith("counted.") and value.strip():
                try:
                    counted[key.removeprefix("counted.")] = Decimal(value.strip())
                except InvalidOperation:
                    raise ValidationFailed(
                        f"'{value}' is not an amount", problems=[FieldProblem(key, "not an amount")]
                    ) from None
        closed = pos.close_session(session, ctx, _uuid(session_id, "POS session"), counted)
        return f"/pos/sessions/{closed.id}"

    # The POS inbox's acknowledged sales first (decision 0084); a malformed id is refused by work.
    if _UUID_TEXT.fullmatch(session_id):
        await run_in_threadpool(drain_now, request.app.state.session_factory, uuid.UUID(session_id))
    return await command(request, work)


# -- stock -----------------------------------------------------------------------------------------


@router.get("/stock")
def stock_page(request: Request, sku: str = "", as_of: str = "") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("stock:read")
        company = _company(session, principal)
        day = _day(as_of, "as_of") or dt.date.today()
        levels = stock_queries.stock_levels(
            session,
            company,
            visible_store_id=principal.store_id,
            sku=sku.strip() or None,
            only_nonzero=True,
            limit=200,
        )
        stock_exceptions = exception_queries.list_exceptions(
            session,
            company,
            visible_store_id=principal.store_id,
            status="unresolved",
            limit=50,
            types=STOCK_TYPES,
        )
        check = valuation.check_agreement(session, company.id, day) if principal.can("reports:read") else None
        if principal.store_id is not None:
            check = None  # the ledger is the company's: a store's user sees its levels only
        tables: dict[str, Table] = {
            "levels": (
                ["sku", "location", "on_hand", "reserved", "available", "value"],
                [
                    [lv.sku, lv.location_code, lv.on_hand, lv.reserved, lv.available, lv.value]
                    for lv in levels.items
                ],
            ),
            "exceptions": (
                ["type", "severity", "status", "amount_at_risk", "owner"],
                [[e.type, e.severity, e.status, e.amount_at_risk, e.owner] for e in stock_exceptions.items],
            ),
        }
        if check is not None:
            tables["valuation"] = (
                ["role", "stock_value", "ledger_balance", "awaiting_posting", "difference"],
                [
                    [c.role, c.stock_value, c.ledger_balance, c.awaiting_posting, c.difference]
                    for c in check.roles
                ],
            )
        return "stock.html", {
            "levels": levels.items,
            "sku": sku,
            "exceptions": stock_exceptions.items,
            "check": check,
            "as_of": day,
            "tables": tables,
        }

    return page(request, "stock", work)


# -- accounting ------------------------------------------------------------------------------------


def _books(session: Session, principal: Principal) -> Company:
    principal.require("reports:read")
    if principal.store_id is not None:
        raise PermissionDenied("the books cover a whole company; a store's user does not see them")
    return _company(session, principal)


def _period(request: Request) -> dict[str, str]:
    """The period a report page shows: as asked, else the year to date."""
    query = request.query_params
    values = {key: query.get(key, "") for key in ("date_from", "date_to", "period")}
    split = query.get("group_by", "")
    if not any(values.values()):
        today = dt.date.today()
        values |= {"date_from": today.replace(month=1, day=1).isoformat(), "date_to": today.isoformat()}
    return values | {"group_by": split}


def _report(session: Session, company: Company, name: str, values: dict[str, str]) -> r.Report:
    start, end = _day(values["date_from"], "date_from"), _day(values["date_to"], "date_to")
    period = values["period"] or None
    if name == "trial-balance":
        return r.trial_balance(session, company.id, start, end, period=period)
    if name == "profit-and-loss":  # split by a dimension of the lines (the dashboard's drill-down)
        split = values.get("group_by") or None
        if split is not None and split not in PNL_SPLITS:
            raise ValidationFailed(
                f"no split '{split}'", problems=[FieldProblem("group_by", f"one of {', '.join(PNL_SPLITS)}")]
            )
        return r.profit_and_loss(session, company.id, start, end, period=period, group_by=split)
    if name == "balance-sheet":
        return r.balance_sheet(session, company.id, end or dt.date.today())
    raise NotFound(f"no report {name}")


PNL_SPLITS = {"store_id": "store", "channel": "channel", "product_category": "category"}
"""Dimensions of the journal lines the P&L page may split by (``?group_by=``)."""

REPORTS = {
    "trial-balance": "Trial balance",
    "profit-and-loss": "Profit and loss",
    "balance-sheet": "Balance sheet",
}


@router.get("/accounting/{name}")
def report_page(request: Request, name: str, printable: bool = False) -> Response:
    values = _period(request)

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _books(session, principal)
        report = _report(session, company, name, values)
        header, rows = report.table()
        link = {k: v for k, v in values.items() if v and k != "group_by"}
        if isinstance(report, r.BalanceSheet):
            link = {"date_to": report.as_of.isoformat()}
        elif hasattr(report, "date_from"):
            link = {"date_from": report.date_from.isoformat(), "date_to": report.date_to.isoformat()}
        drills = None  # a P&L split: each row's figures drill to the lines of its store, channel, category
        split = values.get("group_by") or ""
        if name == "profit-and-loss" and split in header:
            column, param = header.index(split), PNL_SPLITS[split]
            drills = [urlencode({**link, **({param: row[column]} if row[column] else {})}) for row in rows]
        return ("report_print.html" if printable else "report.html"), {
            "name": name,
            "title": REPORTS[name],
            "report": report,
            "header": header,
            "rows": rows,
            "summary": report.summary(),
            "values": values,
            "company": company,
            "account_column": header.index("account_code") if "account_code" in header else None,
            "drill": urlencode(link),
            "drills": drills,
            "reports": REPORTS,
            "splits": PNL_SPLITS,
            "cell": r.cell_text,
            "tables": {name: (header, rows)},
        }

    return page(request, "accounting", work)


@router.get("/accounting/accounts/{code}")
def account_page(
    request: Request, code: str, cursor: str = "", store: str = "", channel: str = "", category: str = ""
) -> Response:
    """An account's journal lines in the period, optionally only those carrying a store, a channel or
    a product category (the dimensions the posting rules put on the lines; docs/ui.md)."""
    values = _period(request)
    dimensions = {"store": store.strip(), "channel": channel.strip(), "category": category.strip()}

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _books(session, principal)
        account = r.resolve_account(session, company.id, code)
        if dimensions["channel"]:
            _one_of(dimensions["channel"], ORDER_CHANNELS, "channel")
        ledger = r.general_ledger(
            session,
            company.id,
            account.id,
            _day(values["date_from"], "date_from"),
            _day(values["date_to"], "date_to"),
            period=values["period"] or None,
            limit=200,
            cursor=cursor or None,
            store_id=store_id_in_scope(
                session, principal, dimensions["store"] or None, company=company, field="store"
            ),
            channel=dimensions["channel"] or None,
            product_category=dimensions["category"] or None,
        )
        query = {k: v for k, v in {**values, **dimensions}.items() if v and k != "group_by"}
        return "account.html", {
            "ledger": ledger,
            "values": values,
            "dimensions": dimensions,
            "stores": kpi_dashboard.visible_stores(session, principal, company.id),
            "channels": ORDER_CHANNELS,
            "categories": kpi_dashboard.product_categories(session, company.id),
            "next": f"?{urlencode(dict(query, cursor=ledger.next_cursor))}" if ledger.next_cursor else None,
            "tables": {"ledger": ledger.table()},
        }

    return page(request, "accounting", work)


@router.get("/accounting/entries/{entry_id}")
def entry_page(request: Request, entry_id: str) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _books(session, principal)
        entry = session.get(JournalEntry, _uuid(entry_id, "journal entry"))
        if entry is None or entry.company_id != company.id:
            raise NotFound(f"no journal entry {entry_id}")
        view = ledger_views.entry_view(session, entry)
        caused_by = events.event_chain(session, company.id, entry.event_id) if entry.event_id else []
        lines = (
            ["account", "name", "label", "debit", "credit"],
            [[li.account_code, li.account_name, li.label, li.debit, li.credit] for li in view.lines],
        )
        return "entry.html", {"entry": view, "events": caused_by, "tables": {"lines": lines}}

    return page(request, "accounting", work)


# -- exceptions ------------------------------------------------------------------------------------


@router.get("/exceptions")
def exceptions_page(request: Request, status: str = "unresolved") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("exceptions:read")
        company = _company(session, principal)
        found = exception_queries.list_exceptions(
            session,
            company,
            visible_store_id=principal.store_id,
            status=status or None,
            sort="priority",
            limit=200,
        )
        table = (
            [
                "type",
                "class",
                "class_source",
                "class_confidence",
                "severity",
                "status",
                "priority",
                "amount_at_risk",
                "currency",
                "owner",
                "resolution",
            ],
            [
                [
                    e.type,
                    e.exception_class,
                    e.class_source,
                    e.class_confidence,
                    e.severity,
                    e.status,
                    e.priority,
                    e.amount_at_risk,
                    e.currency,
                    e.owner,
                    e.resolution,
                ]
                for e in found.items
            ],
        )
        return "exceptions.html", {
            "items": found.items,
            "status": status,
            "can_write": principal.can("exceptions:write"),
            "classes": {type: triage_rules.classes_for(type) for type in triage_rules.TRIAGED_TYPES},
            "tables": {"exceptions": table},
        }

    return page(request, "exceptions", work)


@router.post("/exceptions/{exception_id}/{action}")
async def exception_action(request: Request, exception_id: str, action: str) -> Response:
    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        ctx.principal.require("exceptions:write")
        company = _company(session, ctx.principal)
        found = _uuid(exception_id, "exception")
        exception_services.get(session, None, company, found, store_id=ctx.principal.store_id)
        note = form.get("note", "").strip()
        if action == "acknowledge":
            exception_services.acknowledge(session, ctx, company, found, note=note)
        elif action == "assign":
            exception_services.assign(
                session, ctx, company, found, owner=form.get("owner", "").strip(), note=note
            )
        elif action == "resolve":
            exception_services.resolve(session, ctx, company, found, note=note)
        elif action == "class":
            exception_triage.set_class(
                session,
                ctx,
                company,
                found,
                exception_class=form.get("exception_class", "").strip(),
                note=note,
            )
        else:
            raise NotFound(f"no action {action}")
        return f"/exceptions?status={form.get('status', 'unresolved')}"

    return await command(request, work)


# -- returns ---------------------------------------------------------------------------------------


@router.get("/returns")
def returns_page(
    request: Request, status: str = "", channel: str = "", store: str = "", cursor: str = ""
) -> Response:
    """Returns, oldest first, as ``GET /api/v1/returns`` lists them: a store's user sees its stores'."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("returns:read")
        company = _company(session, principal)
        _one_of(status, RETURN_STATUSES, "status")
        _one_of(channel, ORDER_CHANNELS, "channel")
        store_id = store_id_in_scope(
            session, principal, store.strip() or None, company=company, field="store"
        )
        items, next_cursor = returns.list_returns(
            session,
            principal,
            company,
            status=status or None,
            channel=channel or None,
            store_id=store_id,
            limit=100,
            cursor=_uuid(cursor, "cursor") if cursor else None,
        )
        stores = pos.store_codes(session, company)
        more = urlencode({"status": status, "channel": channel, "store": store, "cursor": next_cursor or ""})
        return "returns.html", {
            "items": items,
            "status": status,
            "channel": channel,
            "store": store.strip(),
            "stores": stores,
            "visible_stores": kpi_dashboard.visible_stores(session, principal, company.id),
            "statuses": RETURN_STATUSES,
            "channels": ORDER_CHANNELS,
            "next": f"/returns?{more}" if next_cursor else None,
            "tables": {
                "returns": (
                    RETURN_COLUMNS,
                    [
                        [
                            x.number,
                            x.channel,
                            stores.get(x.store_id),
                            x.order_number,
                            x.reason,
                            x.status,
                            x.no_receipt,
                            x.currency,
                            x.refunded_total,
                            x.restocking_fee,
                            x.credit_note_number,
                            x.created_at,
                        ]
                        for x in items
                    ],
                )
            },
        }

    return page(request, "returns", work)


RETURN_STATUSES = get_args(ReturnStatus)
RETURN_COLUMNS = [
    "number",
    "channel",
    "store",
    "order_number",
    "reason",
    "status",
    "no_receipt",
    "currency",
    "refunded_total",
    "restocking_fee",
    "credit_note",
    "created_at",
]


def _one_of(value: str, allowed: Collection[str], field: str) -> None:
    if value and value not in allowed:
        raise ValidationFailed(
            f"no {field} '{value}'", problems=[FieldProblem(field, f"one of {', '.join(allowed)}")]
        )


@router.get("/returns/{return_id}")
def return_page(request: Request, return_id: str) -> Response:
    """A return: its lines with their condition and where the goods went, the refund, the card refunds,
    and its trail (events, stock moves, journal entries) as the order page shows an order's."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        principal.require("returns:read")
        company = _company(session, principal)
        found = returns.get_return(session, principal, company, _uuid(return_id, "return"))
        trail = order_trail(session, company.id, found.id, product_ids={li.product_id for li in found.lines})
        places = {
            li.location_id: session.get(Location, li.location_id) for li in found.lines if li.location_id
        }
        lines = (
            ["sku", "quantity", "received", "refunded", "condition", "disposition", "unit_price", "cost",
             "refunded_net", "refunded_tax"],
            [
                [li.sku, li.quantity, li.received_quantity, li.refunded_quantity, li.condition,
                 _place(places.get(li.location_id)), li.unit_price, li.cost, li.refunded_net,
                 li.refunded_tax]
                for li in found.lines
            ],
        )  # fmt: skip
        return "return.html", {
            "ret": found,
            "store": pos.store_codes(session, company).get(found.store_id),
            "lines": lines[1],
            "trail": trail,
            "ledger": principal.can("ledger:read"),
            "tables": {"lines": lines},
            "actions": _return_actions(found, principal),
            "conditions": get_args(return_commands.Condition),
            "line_ids": [
                (li.id, li.position, li.sku, li.condition, li.received_quantity) for li in found.lines
            ],
        }

    return page(request, "returns", work)


def _return_actions(found: return_commands.ReturnView, principal: Principal) -> list[str]:
    """The actions the return page offers a user with returns:write: those its status allows and its
    lines leave something to do for (goods outstanding, received, or received and not refunded)."""
    if not principal.can("returns:write"):
        return []
    allowed = returns.TRANSITIONS.get(found.status, frozenset())
    lines = found.lines
    offered = {
        "receive": ("received", any(li.quantity > li.received_quantity for li in lines)),
        "inspect": ("inspected", any(li.received_quantity > 0 for li in lines)),
        "refund": ("refunded", any(li.received_quantity > li.refunded_quantity for li in lines)),
        "cancel": ("cancelled", True),
    }
    return [action for action, (target, useful) in offered.items() if target in allowed and useful]


def _return_command(action: str, form: dict[str, str]) -> pydantic.BaseModel:
    """The returns context's command for a return page's form (as the API's bodies)."""
    try:
        if action == "receive":  # every outstanding quantity, in the declared conditions
            return return_commands.ReceiveReturn()
        if action == "inspect":
            return return_commands.InspectReturn(
                lines=[
                    return_commands.InspectedLine(
                        return_line_id=key.removeprefix("condition."), condition=value
                    )
                    for key, value in form.items()
                    if key.startswith("condition.") and value
                ]
            )
        if action == "refund":  # every received, unrefunded quantity, to the default tenders
            return return_commands.RefundReturn(restocking_fee=form.get("restocking_fee", "").strip() or "0")
        return return_commands.CancelReturn(reason=form.get("reason", "").strip())
    except pydantic.ValidationError as refused:
        raise ValidationFailed(
            f"the {action} form is not valid",
            problems=[
                FieldProblem(".".join(str(part) for part in e["loc"]), e["msg"]) for e in refused.errors()
            ],
        ) from None


RETURN_ACTIONS = {
    "receive": returns.receive_return,
    "inspect": returns.inspect_return,
    "refund": returns.refund_return,
    "cancel": returns.cancel_return,
}
"""The return page's forms and the service each calls: the same as ``POST /api/v1/returns/{id}/...``."""


@router.post("/returns/{return_id}/{action}")
async def return_action(request: Request, return_id: str, action: str) -> Response:
    """Receive, inspect, refund or cancel a return from its page: returns:write, the store scope
    enforced by the service (a store's user acts on its own store's returns only)."""

    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        if action not in RETURN_ACTIONS:
            raise NotFound(f"no return action {action}")
        ctx.principal.require("returns:write")
        company = _company(session, ctx.principal)
        found = RETURN_ACTIONS[action](
            session, ctx, company, _uuid(return_id, "return"), _return_command(action, form)
        )
        return f"/returns/{found.id}"

    return await command(request, work)


def _place(location: Location | None) -> str:
    return f"{location.code} ({location.kind})" if location is not None else ""


# -- settlements and mismatches --------------------------------------------------------------------


def _settlements(session: Session, principal: Principal) -> Company:
    """Card money is the company's: ``settlements:read``, as the API's settlement routes."""
    principal.require("settlements:read")
    return _company(session, principal)


@router.get("/settlements")
def settlements_page(request: Request, gateway: str = "", cursor: str = "") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _settlements(session, principal)
        batches, next_cursor = settlements.list_batches(
            session, company, gateway.strip() or None, 100, _uuid(cursor, "cursor") if cursor else None
        )
        gateways, _ = settlements.list_gateways(session, company, 100, None)
        open_count = len(settlements.list_mismatches(session, company, state="open", limit=500)[0])
        banks = []
        if principal.can("banking:read"):
            for account in banking.list_accounts(session, company, limit=50)[0]:
                bank = banking.account_by_ref(session, company, account.code)
                banks.append(banking.reconciliation(session, company, bank))
        more = urlencode({"gateway": gateway, "cursor": next_cursor or ""})
        tables: dict[str, Table] = {
            "batches": (
                ["gateway", "reference", "paid_on", "currency", "lines", "gross", "fees", "net", "payout"],
                [
                    [b.gateway, b.reference, b.paid_on, b.currency, b.lines, b.gross, b.fees, b.net, b.payout]
                    for b in batches
                ],
            ),
            "bank-reconciliation": (
                ["bank_account", "as_of", "statement_balance", "ledger_balance", "difference",
                 "unexplained", "reconciled"],
                [
                    [k.bank_account, k.as_of, k.statement_balance, k.ledger_balance, k.difference,
                     k.unexplained, k.reconciled]
                    for k in banks
                ],
            ),
        }  # fmt: skip
        return "settlements.html", {
            "batches": batches,
            "gateway": gateway.strip(),
            "gateways": [g.code for g in gateways],
            "open_mismatches": open_count,
            "banks": banks,
            "show_banks": principal.can("banking:read"),
            "next": f"/settlements?{more}" if next_cursor else None,
            "tables": tables,
        }

    return page(request, "settlements", work)


@router.get("/settlements/batches/{batch_id}")
def settlement_batch_page(request: Request, batch_id: str) -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _settlements(session, principal)
        batch = settlements.get_batch(session, company, _uuid(batch_id, "settlement batch"))
        lines, _ = settlements.list_lines(session, company, batch_id=batch.id, limit=500)
        table = (
            ["line", "key", "kind", "occurred_on", "currency", "gross", "fee", "net", "reference",
             "order_number", "match"],
            [
                [li.line_number, li.line_key, li.kind, li.occurred_on, li.currency, li.gross, li.fee,
                 li.net, li.reference, li.order_number, li.match or "unmatched"]
                for li in lines
            ],
        )  # fmt: skip
        return "settlement_batch.html", {"batch": batch, "lines": lines, "tables": {"lines": table}}

    return page(request, "settlements", work)


@router.get("/settlements/mismatches")
def mismatches_page(request: Request, state: str = "open", kind: str = "") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _settlements(session, principal)
        _one_of(state, MISMATCH_STATES, "state")
        _one_of(kind, MISMATCH_KINDS, "kind")
        items, _ = settlements.list_mismatches(
            session, company, state=state or None, kind=kind or None, limit=500
        )
        table = (
            ["gateway", "line_key", "class", "amount_at_risk", "currency", "since", "age_days",
             "suggestion", "state", "note", "resolved_by"],
            [
                [m.gateway, m.line_key, m.kind, m.amount_at_risk, m.currency, m.since, m.age_days,
                 m.suggestion, m.state, m.note, m.resolved_by]
                for m in items
            ],
        )  # fmt: skip
        return "mismatches.html", {
            "items": items,
            "state": state,
            "kind": kind,
            "states": MISMATCH_STATES,
            "kinds": MISMATCH_KINDS,
            "adjustments": get_args(
                settlement_commands.ResolveMismatch.model_fields["adjustment"].annotation
            ),
            "can_resolve": principal.can("mismatches:resolve"),
            "tables": {"mismatches": table},
        }

    return page(request, "settlements", work)


@router.post("/settlements/mismatches/{mismatch_id}/resolve")
async def resolve_mismatch(request: Request, mismatch_id: str) -> Response:
    """As ``POST /api/v1/mismatches/{id}/resolve``: the same service, the signed-in user the actor."""

    def work(session: Session, ctx: CommandContext, form: dict[str, str]) -> str:
        ctx.principal.require("mismatches:resolve")
        company = _company(session, ctx.principal)
        try:
            body = settlement_commands.ResolveMismatch(
                note=form.get("note", "").strip(), adjustment=form.get("adjustment") or "none"
            )
        except pydantic.ValidationError as refused:
            raise ValidationFailed(
                "the resolution is not valid",
                problems=[FieldProblem(str(e["loc"][-1]), e["msg"]) for e in refused.errors()],
            ) from None
        settlements.resolve_mismatch(session, ctx, company, _uuid(mismatch_id, "mismatch"), body)
        return f"/settlements/mismatches?{urlencode({'state': form.get('state', 'open')})}"

    return await command(request, work)


# -- the close -------------------------------------------------------------------------------------


@router.get("/close")
def close_page(request: Request, period: str = "") -> Response:
    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _books(session, principal)
        month = period or (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        checklist = closing.checklist(session, company, month)
        return "close.html", {
            "checklist": checklist,
            "period": month,
            "tables": {"checklist": checklist.table()},
        }

    return page(request, "close", work)


@router.get("/close/report")
def close_report_page(request: Request, period: str = "") -> Response:
    """The printable close report: the checklist of :func:`retailcore.closing.services.checklist` with
    the entries each check produced, as ``GET /api/v1/periods/{period}/close-report`` (which needs a
    token); ``?csv=close-report`` is that route's CSV, the same columns and rows."""

    def work(session: Session, principal: Principal) -> tuple[str, dict[str, Any]]:
        company = _books(session, principal)
        month = period or (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        checklist = closing.checklist(session, company, month)
        header, *rows = list(csv.reader(io.StringIO(closing_commands.report_csv(checklist))))
        return "close_report.html", {
            "checklist": checklist,
            "company": company,
            "period": month,
            "figures": closing_commands.figures_text,
            "tables": {"close-report": (header, rows)},
        }

    return page(request, "close", work)


def install(app: FastAPI, session_key: bytes | None) -> None:
    """Serve the back office at ``/`` and its files at ``/static``; ``session_key`` signs the session
    cookies (None: a random key for this process, so sign-ins end when it stops)."""
    app.state.web_session_key = session_key or secrets.token_bytes(32)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="web-static")
    app.include_router(router)
    from retailcore.entrypoints.web import forecasts, promotions  # their pages build on this module

    app.include_router(promotions.router)
    from retailcore.entrypoints.web import anomalies  # its page builds on this module

    app.include_router(anomalies.router)
    app.include_router(forecasts.router)
    from retailcore.entrypoints.web import pos as till_screen  # the POS screen builds on this module

    till_screen.install(app)
