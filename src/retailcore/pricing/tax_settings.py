"""A company's tax rounding conventions: read and set (``GET``/``PUT /tax-settings``).

One ``tax_settings`` row per company, absent until set (the defaults, :data:`~retailcore.pricing.
taxes.RETAILCORE`, then apply). A change applies to documents taxed from then on: orders, POS sales
and invoices already recorded keep the taxes they were given. See docs/pricing-and-tax.md#rounding-
conventions and decision 0058.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.commands import CompanyScoped
from retailcore.masterdata.tables import Company, TaxSettings
from retailcore.pricing.taxes import PRESETS, TaxConventions, load_tax_conventions

__all__ = ["SetTaxSettings", "TaxSettingsView", "set_tax_settings", "tax_settings_view"]

Preset = Literal["retailcore", "odoo"]


class SetTaxSettings(CompanyScoped):
    preset: Preset | None = Field(
        None, description="Start from a preset (`retailcore`: the default; `odoo`: Odoo's conventions)."
    )
    rounding: Literal["per_tax", "line", "global"] | None = Field(
        None, description="`per_tax` (each tax's own `rounding`), `line` or `global` (once per document)."
    )
    included_rounding: Literal["tax_first", "base_first"] | None = Field(
        None,
        description="Price-included taxes: round each tax (`tax_first`) or the net (`base_first`) first.",
    )
    included_remainder: Literal["last", "first"] | None = Field(
        None, description="Under `base_first`, the included tax that takes what the gross leaves."
    )


class TaxSettingsView(BaseModel):
    company_id: uuid.UUID
    preset: str = Field(description="`retailcore`, `odoo` or `custom` (not a preset).")
    rounding: str
    included_rounding: str
    included_remainder: str
    is_set: bool = Field(description="False while the company has set nothing (the defaults apply).")


def _view(company_id: uuid.UUID, conventions: TaxConventions, is_set: bool) -> TaxSettingsView:
    return TaxSettingsView(
        company_id=company_id,
        preset=conventions.preset,
        rounding=conventions.rounding,
        included_rounding=conventions.included,
        included_remainder=conventions.remainder,
        is_set=is_set,
    )


def tax_settings_view(session: Session, company: Company) -> TaxSettingsView:
    conventions = load_tax_conventions(session, company.id)
    return _view(company.id, conventions, session.get(TaxSettings, company.id) is not None)


def set_tax_settings(
    session: Session, ctx: CommandContext, company: Company, body: SetTaxSettings
) -> TaxSettingsView:
    """Set the conventions: the preset's (else the current ones), with the fields given on top.
    Records ``TaxSettingsChanged`` with the conventions before and after."""
    row = session.get(TaxSettings, company.id)
    before = load_tax_conventions(session, company.id)
    conventions = PRESETS[body.preset] if body.preset is not None else before
    changes: dict[str, Any] = {
        "rounding": body.rounding,
        "included": body.included_rounding,
        "remainder": body.included_remainder,
    }
    conventions = replace(conventions, **{k: v for k, v in changes.items() if v is not None})
    if row is None:
        row = TaxSettings(company_id=company.id, version=0)
        session.add(row)
    row.rounding = conventions.rounding
    row.included_rounding = conventions.included
    row.included_remainder = conventions.remainder
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="TaxSettingsChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={
            "before": asdict(before) | {"preset": before.preset},
            "after": asdict(conventions) | {"preset": conventions.preset},
        },
    )
    return _view(company.id, conventions, True)
