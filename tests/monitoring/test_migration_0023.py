"""Migration 0023: the stock exceptions move into the one exceptions table with their ids (vendor bills
follow), dedupe keys as the services write them; down again, the stock kinds come back with every note
and the connectors' exceptions go."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy import inspect

from retailcore.access.model import system_principal
from retailcore.accounting import subscriptions
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Company
from retailcore.monitoring import services
from retailcore.monitoring.tables import ExceptionCase
from support import empty_database

AT = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
old = sa.table(
    "stock_exceptions",
    sa.column("id", sa.Uuid()),
    sa.column("company_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("product_id", sa.Uuid()),
    sa.column("location_id", sa.Uuid()),
    sa.column("store_id", sa.Uuid()),
    sa.column("message", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("event_id", sa.Uuid()),
    sa.column("created_at", sa.DateTime()),
    sa.column("updated_at", sa.DateTime()),
    sa.column("updated_by", sa.String()),
)


def _bills_point_at(engine) -> set[str]:
    return {
        fk["referred_table"]
        for fk in inspect(engine).get_foreign_keys("vendor_bills")
        if fk["constrained_columns"] == ["exception_id"]
    }


def test_0023_moves_stock_exceptions_in_and_back_out(tmp_path):
    subscriptions.install()
    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine, "0022")
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            company_id = create_company(
                session,
                CommandContext(system_principal()),
                CreateCompany(code="OLD", name="Old", currency="EUR", country="FR"),
            ).id
        product, place, store = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        ids = {name: new_id() for name in ("oversold", "negative", "negative2", "bill")}  # in this order
        naive = AT.replace(tzinfo=None)
        rows = [
            (ids["oversold"], "oversold", "open", {"shortfall": "2.00"}),
            (ids["negative"], "negative_stock", "acknowledged", {"acknowledged": {"note": "counting"}}),
            (ids["negative2"], "negative_stock", "open", {}),  # the same place again, before dedupe
            (ids["bill"], "bill_mismatch", "resolved", {"bill_id": "b-1", "resolved": {"note": "approved"}}),
        ]
        with engine.begin() as connection:
            connection.execute(
                old.insert(),
                [
                    {
                        "id": row_id,
                        "company_id": company_id,
                        "kind": kind,
                        "status": status,
                        "product_id": product,
                        "location_id": place,
                        "store_id": store,
                        "message": f"{kind} of old",
                        "details": details,
                        "event_id": None,
                        "created_at": naive,
                        "updated_at": naive,
                        "updated_by": "someone",
                    }
                    for row_id, kind, status, details in rows
                ],
            )
        assert _bills_point_at(engine) == {"stock_exceptions"}

        migrations.upgrade(engine)
        assert "stock_exceptions" not in inspect(engine).get_table_names()
        assert _bills_point_at(engine) == {"exceptions"}
        with factory() as session:
            moved = {row.id: row for row in session.query(ExceptionCase)}
        assert set(moved) == set(ids.values())
        oversold = moved[ids["oversold"]]
        assert (oversold.type, oversold.severity, oversold.stake, oversold.currency) == (
            "oversold",
            "high",
            4000,
            "EUR",
        )
        assert oversold.open_key == f"oversold:{product}:{place}" and oversold.created_at == AT
        negative = moved[ids["negative"]]
        assert (negative.status, negative.open_key, negative.details["acknowledged"]["note"]) == (
            "acknowledged",
            f"negative_stock:{product}:{place}",
            "counting",
        )
        # The second unresolved row of one place keeps its key as history, not as the open one.
        assert (moved[ids["negative2"]].open_key, moved[ids["negative2"]].dedupe_key) == (
            None,
            f"negative_stock:{product}:{place}",
        )
        bill = moved[ids["bill"]]
        assert (bill.status, bill.open_key, bill.resolution) == ("resolved", None, "approved")

        ctx = CommandContext(system_principal())
        with transaction(factory) as session:
            # The services find the migrated row by the key they write: counted, not opened again.
            again = services.record(
                session, ctx, company_id, type="oversold", key=f"oversold:{product}:{place}", message="again"
            )
            assert again.id == ids["oversold"] and again.occurrences == 2
            services.assign(session, ctx, session.get(Company, company_id), again.id, owner="ann")
            services.record(
                session, ctx, company_id, type="failed_sync", key="sync:x", message="a connector's"
            )

        migrations.downgrade(engine, "0022")
        assert "exceptions" not in inspect(engine).get_table_names()
        assert _bills_point_at(engine) == {"stock_exceptions"}
        with engine.connect() as connection:
            back = {row.id: row for row in connection.execute(sa.select(old))}
        assert set(back) == set(ids.values())  # the connector's exception had no place there
        assert back[ids["oversold"]].kind == "oversold"
        assert (back[ids["oversold"]].details["owner"], back[ids["oversold"]].details["occurrences"]) == (
            "ann",
            2,
        )
        assert back[ids["bill"]].details["resolution"] == "approved"
        assert back[ids["negative"]].details["acknowledged"]["note"] == "counting"

        migrations.upgrade(engine)  # and up again
        with factory() as session:
            assert session.query(ExceptionCase).count() == 4
        engine.dispose()
