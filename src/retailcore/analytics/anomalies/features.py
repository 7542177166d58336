"""Features of discounts and returns per cashier x store x local day, and per store x day (decision 0075).

The database does the heavy lifting set-based: one grouped query per source gives one row per POS
sale (its lines' amounts, costs and margin-floor breaches), per sale's manual discounts (from the
lines' discount records, JSON expanded with the dialect's own table function), per refunded return,
per cash refund paid by ``/returns`` and per POS session's cash paid out for refunds. pandas then
puts each on its store's local day and sums them per cashier and per store.

Where each comes from:

* **cashier**: the till user a POS sale (``orders.created_by``) or a return (``returns.created_by``)
  was recorded under.
* **discount rate**: manual discounts (``source: manual`` in the line's records, or a bare
  ``discount`` on lines written before the records existed) over the lines' amounts before discounts.
* **overrides**: manual discounts that carried a manager's override.
* **voids**: the model has none: a till sends finished sales only (a cancelled line never reaches
  the server), so there is no void to count.
* **no-receipt returns**: refunded returns with no original order; their refunds.
* **cash refunds**: cash paid out by ``/returns`` refunds (their ``ReturnRefundPaid`` tenders) and by
  refunds at the till. A till refund's cash is on its batch's ``PosSalesIngested`` event
  (``refund_cash``, by client uuid: the return's number), so it counts on the row of the cashier its
  return was recorded under, who rang it up. The store x day rows take the till's cash from the POS
  sessions' ``refund:cash|`` tender totals instead (the drawer's own record, and the only one for
  batches sent before the events carried it), so nothing is counted twice.
* **after-hours sales**: stores have no opening hours in the model, so the window is documented:
  sales before :data:`OPENS` or from :data:`CLOSES` o'clock, local time.
* **under the margin floor / under cost**: lines whose net is below cost x (1 + floor) (the product's
  floor, else its category's, else the top category's) or below cost; counted and summed (the
  shortfall).

A return is put on the day of its first event (the moment it was taken), else of its row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.orm import Session

from retailcore.adapters.orm import UTCDateTime
from retailcore.analytics.extra import load
from retailcore.masterdata.tables import Store

if TYPE_CHECKING:
    import pandas as pd

OPENS = 7
"""Local hour before which a sale is after hours."""
CLOSES = 22
"""Local hour from which a sale is after hours."""

FEATURES = (
    "discount_rate",
    "manual_discount",
    "overrides",
    "no_receipt_returns",
    "no_receipt_refunds",
    "refund_rate",
    "cash_refunds",
    "after_hours_sales",
    "under_floor_lines",
    "under_floor_amount",
    "under_cost_lines",
    "under_cost_amount",
)
"""What the detector scores, each against its peers' median."""
MONEY = ("manual_discount", "no_receipt_refunds", "cash_refunds", "under_floor_amount", "under_cost_amount")
"""Features in money: what an alert's money at risk is summed from."""
RAW = ("sales", "line_amount", "refunds", *FEATURES)
KEYS = ("store_id", "cashier", "day")


def _amount(dialect: str, column: str, scale: int = 4) -> str:
    """A decimal column as a number in SQL: SQLite keeps them as integers scaled by 10**scale."""
    return f"({column} / {10**scale}.0)" if dialect == "sqlite" else column


def _params(query: str, **columns: object) -> object:
    found = text(query).bindparams(
        bindparam("company", type_=Uuid),
        bindparam("start", type_=UTCDateTime),
        bindparam("end", type_=UTCDateTime),
    )
    return found.columns(**columns) if columns else found


def _sales_sql(dialect: str) -> str:
    net, cost, gross, discount = (_amount(dialect, f"l.{c}") for c in ("net", "cost", "gross", "discount"))
    floor = f"COALESCE({_amount(dialect, 'fp.floor', 8)}, {_amount(dialect, 'fc.floor', 8)})"
    minimum = f"{cost} * (1 + {floor})"
    return f"""
        SELECT o.id AS order_id, o.store_id AS store_id, o.created_by AS cashier, o.ordered_at AS at,
               SUM(CASE WHEN o.prices_include_tax THEN {gross} ELSE {net} END + {discount}) AS line_amount,
               SUM(CASE WHEN {floor} IS NOT NULL AND {net} < {minimum} THEN 1 ELSE 0 END)
                   AS under_floor_lines,
               SUM(CASE WHEN {floor} IS NOT NULL AND {net} < {minimum} THEN {minimum} - {net} ELSE 0 END)
                   AS under_floor_amount,
               SUM(CASE WHEN {net} < {cost} THEN 1 ELSE 0 END) AS under_cost_lines,
               SUM(CASE WHEN {net} < {cost} THEN {cost} - {net} ELSE 0 END) AS under_cost_amount
        FROM orders o
        JOIN order_lines l ON l.order_id = o.id
        LEFT JOIN margin_floors fp ON fp.company_id = o.company_id AND fp.product_id = l.product_id
        LEFT JOIN margin_floors fc ON fc.company_id = o.company_id AND fc.product_id IS NULL
             AND fc.category = (
                 SELECT MAX(m.category) FROM margin_floors m
                 WHERE m.company_id = o.company_id AND m.product_id IS NULL
                   AND (m.category = l.product_category OR l.product_category LIKE m.category || '/%'))
        WHERE o.company_id = :company AND o.channel = 'pos' AND o.ordered_at >= :start AND o.ordered_at < :end
        GROUP BY o.id, o.store_id, o.created_by, o.ordered_at
    """


def _manual_sql(dialect: str) -> str:
    discount = _amount(dialect, "l.discount")
    if dialect == "postgresql":
        elements = (
            "CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(l.discounts) = 'array'"
            " THEN l.discounts ELSE '[]'::json END) AS j(value)"
        )
        source, amount = "j.value->>'source'", "CAST(j.value->>'amount' AS NUMERIC)"
        override, bare = "j.value->'override'", "l.discounts IS NULL OR json_typeof(l.discounts) = 'null'"
        override = (
            f"CASE WHEN {override} IS NOT NULL AND json_typeof({override}) = 'object' THEN 1 ELSE 0 END"
        )
    else:
        elements = (
            "JOIN json_each(CASE WHEN json_type(l.discounts) = 'array' THEN l.discounts ELSE '[]' END) j"
        )
        source, amount = (
            "json_extract(j.value, '$.source')",
            "CAST(json_extract(j.value, '$.amount') AS REAL)",
        )
        override = "CASE WHEN json_type(j.value, '$.override') = 'object' THEN 1 ELSE 0 END"
        bare = "l.discounts IS NULL OR json_type(l.discounts) = 'null'"
    window = (
        "o.company_id = :company AND o.channel = 'pos' AND o.ordered_at >= :start AND o.ordered_at < :end"
    )
    return f"""
        SELECT order_id, SUM(manual_discount) AS manual_discount, SUM(overrides) AS overrides FROM (
            SELECT l.order_id AS order_id, {amount} AS manual_discount, {override} AS overrides
            FROM orders o JOIN order_lines l ON l.order_id = o.id {elements}
            WHERE {window} AND {source} = 'manual'
            UNION ALL
            SELECT l.order_id, {discount}, 0
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE {window} AND ({bare}) AND l.discount > 0
        ) manual GROUP BY order_id
    """


def _returns_sql(dialect: str) -> str:
    taken = "COALESCE((SELECT MIN(e.occurred_at) FROM events e WHERE e.aggregate_id = r.id), r.created_at)"
    return f"""
        SELECT r.id AS return_id, r.store_id AS store_id, r.created_by AS cashier, r.no_receipt AS no_receipt,
               {_amount(dialect, "r.refunded_total")} AS refunded, {taken} AS at, r.channel AS channel,
               r.number AS number
        FROM returns r
        WHERE r.company_id = :company AND r.status = 'refunded' AND {taken} >= :start AND {taken} < :end
    """


def _session_cash_sql(dialect: str) -> str:
    return f"""
        SELECT s.store_id AS store_id, s.opened_at AS at, SUM({_amount(dialect, "t.amount")}) AS cash_refunds
        FROM pos_session_totals t JOIN pos_sessions s ON s.id = t.session_id
        WHERE s.company_id = :company AND t.kind = 'tender' AND t.key LIKE 'refund:cash|%'
          AND s.opened_at >= :start AND s.opened_at < :end
        GROUP BY s.id, s.store_id, s.opened_at
    """


def _frame(session: Session, query: object, params: dict[str, object], names: list[str]) -> pd.DataFrame:
    pd = load("anomaly detection", "pandas")
    rows = session.execute(query, params).all()  # type: ignore[call-overload]
    return pd.DataFrame([tuple(row) for row in rows], columns=names)


def _cash_paid_by_returns(
    session: Session, company_id: uuid.UUID, start: dt.datetime, end: dt.datetime
) -> dict[uuid.UUID, Decimal]:
    """Cash each ``/returns`` refund paid out, from its ``ReturnRefundPaid`` tenders (the only record of
    a refund's tenders)."""
    from retailcore.eventlog.tables import Event

    paid: dict[uuid.UUID, Decimal] = {}
    for aggregate_id, payload in session.execute(
        select(Event.aggregate_id, Event.payload).where(
            Event.company_id == company_id,
            Event.type == "ReturnRefundPaid",
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
    ):
        tenders = payload.get("tenders", ())
        amounts = [Decimal(str(t.get("amount") or 0)) for t in tenders if t.get("kind") == "cash"]
        cash = sum(amounts, Decimal(0))
        if cash:
            paid[aggregate_id] = paid.get(aggregate_id, Decimal(0)) + cash
    return paid


def _cash_paid_at_tills(
    session: Session, company_id: uuid.UUID, start: dt.datetime, end: dt.datetime
) -> dict[str, Decimal]:
    """Cash each till refund paid out, by its return's number (the refund's client uuid, hex), from the
    ``refund_cash`` of its batch's ``PosSalesIngested`` event."""
    from retailcore.eventlog.tables import Event

    paid: dict[str, Decimal] = {}
    for (payload,) in session.execute(
        select(Event.payload).where(
            Event.company_id == company_id,
            Event.type == "PosSalesIngested",
            Event.occurred_at >= start,
            Event.occurred_at < end,
        )
    ):
        for client_uuid, amount in (payload.get("refund_cash") or {}).items():
            paid[uuid.UUID(client_uuid).hex] = Decimal(str(amount))
    return paid


def _local_days(frame: pd.DataFrame, zones: dict[uuid.UUID, ZoneInfo]) -> pd.DataFrame:
    pd = load("anomaly detection", "pandas")
    if frame.empty:
        return frame.assign(day=pd.Series(dtype=object), hour=pd.Series(dtype=int))
    local = [at.astimezone(zones[store]) for at, store in zip(frame["at"], frame["store_id"], strict=True)]
    return frame.assign(day=[moment.date() for moment in local], hour=[moment.hour for moment in local])


def collect(session: Session, company_id: uuid.UUID, first: dt.date, last: dt.date) -> pd.DataFrame:
    """One row per cashier x store x local day with activity from ``first`` to ``last`` (inclusive), and
    one per store x day (``cashier`` None), with the :data:`RAW` columns as floats."""
    pd = load("anomaly detection", "pandas")
    dialect = session.get_bind().dialect.name
    stores = session.execute(
        select(Store.id, Store.code, Store.timezone).where(Store.company_id == company_id)
    )
    codes: dict[uuid.UUID, str] = {}
    zones: dict[uuid.UUID, ZoneInfo] = {}
    for store_id, code, zone in stores:
        codes[store_id], zones[store_id] = code, ZoneInfo(zone)
    # A day's bounds differ by store: a UTC window a day wider each side, cut to local days below.
    start = dt.datetime.combine(first - dt.timedelta(days=1), dt.time(), dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=2), dt.time(), dt.UTC)
    params = {"company": company_id, "start": start, "end": end}
    typed = {"store_id": Uuid(), "at": UTCDateTime()}

    sales = _frame(
        session,
        _params(_sales_sql(dialect), order_id=Uuid(), **typed),
        params,
        [
            "order_id",
            "store_id",
            "cashier",
            "at",
            "line_amount",
            "under_floor_lines",
            "under_floor_amount",
            "under_cost_lines",
            "under_cost_amount",
        ],
    )
    manual = _frame(
        session,
        _params(_manual_sql(dialect), order_id=Uuid()),
        params,
        ["order_id", "manual_discount", "overrides"],
    )
    sales = sales.merge(manual, on="order_id", how="left")
    sales = _local_days(sales, zones)
    sales["sales"] = 1
    sales["after_hours_sales"] = ((sales["hour"] < OPENS) | (sales["hour"] >= CLOSES)).astype(int)

    returns = _frame(
        session,
        _params(_returns_sql(dialect), return_id=Uuid(), **typed),
        params,
        ["return_id", "store_id", "cashier", "no_receipt", "refunded", "at", "channel", "number"],
    )
    cash = _cash_paid_by_returns(session, company_id, start, end)
    at_tills = _cash_paid_at_tills(session, company_id, start, end)
    returns = _local_days(returns, zones)
    returns["refunds"] = returns["refunded"].astype(float)
    receiptless = returns["no_receipt"].astype(bool)
    returns["no_receipt_returns"] = receiptless.astype(int)
    returns["no_receipt_refunds"] = returns["refunds"].where(receiptless, 0.0)
    refunded_cash = [cash.get(return_id, Decimal(0)) for return_id in returns["return_id"]]
    returns["cash_refunds"] = [float(amount) for amount in refunded_cash]  # float-ok: a model feature
    till_cash = [
        at_tills.get(number, Decimal(0)) if channel == "pos" else Decimal(0)
        for number, channel in zip(returns["number"], returns["channel"], strict=True)
    ]
    returns["till_cash"] = [float(amount) for amount in till_cash]  # float-ok: a model feature

    sessions = _local_days(
        _frame(
            session, _params(_session_cash_sql(dialect), **typed), params, ["store_id", "at", "cash_refunds"]
        ),
        zones,
    )

    columns = [c for c in RAW if c not in ("discount_rate", "refund_rate")]
    summed = [*columns, "till_cash"]
    parts = [frame.reindex(columns=[*KEYS, *summed]) for frame in (sales, returns) if not frame.empty]
    if not parts:
        return pd.DataFrame(columns=[*KEYS, "store_code", *RAW])
    both = pd.concat(parts, ignore_index=True)
    both[summed] = both[summed].apply(pd.to_numeric, errors="coerce").fillna(0.0).astype(float)
    both = both[(both["day"] >= first) & (both["day"] <= last)]
    cashiers = both.groupby(["store_id", "cashier", "day"], as_index=False)[summed].sum()
    # A till refund's cash counts for its cashier; the store rows take the sessions' totals below.
    cashiers["cash_refunds"] = cashiers["cash_refunds"] + cashiers.pop("till_cash")
    stores_frame = both.groupby(["store_id", "day"], as_index=False)[columns].sum()
    if not sessions.empty:
        sessions = sessions[(sessions["day"] >= first) & (sessions["day"] <= last)]
        till_cash = sessions.groupby(["store_id", "day"], as_index=False)["cash_refunds"].sum()
        stores_frame = stores_frame.merge(
            till_cash, on=["store_id", "day"], how="outer", suffixes=("", "_till")
        )
        stores_frame = stores_frame.fillna(0.0)
        stores_frame["cash_refunds"] = stores_frame["cash_refunds"] + stores_frame.pop(
            "cash_refunds_till"
        ).astype(float)
    stores_frame["cashier"] = None
    rows = pd.concat([cashiers, stores_frame], ignore_index=True)
    amount = rows["line_amount"].where(rows["line_amount"] > 0)
    rows["discount_rate"] = (rows["manual_discount"] / amount).fillna(0.0)
    rows["refund_rate"] = (rows["refunds"] / amount).fillna(0.0)
    rows["store_code"] = [codes[store] for store in rows["store_id"]]
    return rows.sort_values(["store_code", "day", "cashier"], na_position="first").reset_index(drop=True)


def as_strings(row: pd.Series) -> dict[str, str]:
    """A row's raw values as decimal strings (counts whole, money to the cent, rates to 0.0001)."""
    found: dict[str, str] = {}
    for name in RAW:
        value = float(row[name])  # float-ok: a model feature
        places = Decimal("0.0001") if name.endswith("rate") else Decimal("0.01")
        if name in ("sales", "overrides", "no_receipt_returns", "after_hours_sales") or name.endswith(
            "_lines"
        ):
            places = Decimal(1)
        found[name] = str(Decimal(repr(value)).quantize(places, ROUND_HALF_UP))
    return found
