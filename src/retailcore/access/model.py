"""Who may do what, and where.

A caller is a :class:`Principal`: a role plus a scope (a company, optionally one store of it, or the
whole installation for an unscoped admin). Roles grant permissions (``products:write``); scope decides
which rows are visible at all. Rows outside the scope are reported as not found, never as forbidden,
so a token cannot probe what exists elsewhere.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from retailcore.core.errors import PermissionDenied


class Role(StrEnum):
    cashier = "cashier"
    store_manager = "store_manager"
    finance = "finance"
    integration = "integration"
    pricing_manager = "pricing_manager"
    """Prices and promotions: drafts them, and approves (or rejects) what another person drafted."""
    admin = "admin"


ALL = frozenset(Role)

# The permission matrix, in one place so it can be read, documented (docs/security.md) and tested.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "companies:read": ALL,
    "companies:write": frozenset({Role.admin}),
    "stores:read": ALL,
    "stores:write": frozenset({Role.admin}),
    "locations:read": ALL,
    "locations:write": frozenset({Role.admin, Role.store_manager}),
    "products:read": ALL,
    "products:write": frozenset({Role.admin, Role.integration}),
    "customers:read": ALL,
    "customers:write": frozenset({Role.admin, Role.integration, Role.store_manager, Role.cashier}),
    "payment_methods:read": ALL,
    "payment_methods:write": frozenset({Role.admin, Role.finance}),
    "tax_rules:read": ALL,
    "tax_rules:write": frozenset({Role.admin, Role.finance}),
    "accounts:read": frozenset({Role.admin, Role.finance, Role.integration}),
    "accounts:write": frozenset({Role.admin, Role.finance}),
    # Connectors (integration) follow the log: availability for their channel, orders, master data.
    "events:read": frozenset({Role.admin, Role.finance, Role.integration}),
    # The outbox relay's lag (GET /relay): the whole installation's log, so installation-wide tokens only.
    "relay:read": frozenset({Role.admin, Role.integration}),
    # API tokens: admins issue, list and revoke them, within their own scope (decision 0016).
    "tokens:read": frozenset({Role.admin}),
    "tokens:write": frozenset({Role.admin}),
    # The ledger. Posted entries are finance's; only finance moves the lock date (not even admin).
    "ledger:read": frozenset({Role.admin, Role.finance}),
    "ledger:write": frozenset({Role.finance}),
    "ledger:lock": frozenset({Role.finance}),
    "ledger:events": frozenset({Role.finance, Role.integration}),
    "posting_rules:read": frozenset({Role.admin, Role.finance}),
    "posting_rules:write": frozenset({Role.finance}),
    "exchange_rates:read": frozenset({Role.admin, Role.finance, Role.integration}),
    "exchange_rates:write": frozenset({Role.finance, Role.integration}),
    "reconciliation:write": frozenset({Role.finance}),
    "reports:read": frozenset({Role.admin, Role.finance}),
    # KPI dashboards: a store-scoped token sees its own store's figures (docs/analytics.md).
    "kpis:read": frozenset({Role.admin, Role.finance, Role.store_manager}),
    # Exports of the books (SAF-T, GL and journal CSV): every posted line of a period leaves the system.
    "exports:read": frozenset({Role.admin, Role.finance}),
    # Stock. Store staff see and move their store's stock; integrations (web shops) reserve.
    "stock:read": ALL,
    "stock:write": frozenset({Role.admin, Role.store_manager, Role.integration}),
    "reservations:write": frozenset({Role.admin, Role.store_manager, Role.integration, Role.cashier}),
    "purchasing:read": frozenset({Role.admin, Role.store_manager, Role.finance, Role.integration}),
    "purchasing:write": frozenset({Role.admin, Role.store_manager, Role.integration}),
    "vendor_bills:write": frozenset({Role.admin, Role.finance, Role.integration}),
    # Posting a bill over a mismatch, and setting the match tolerance, is finance's decision alone.
    "vendor_bills:approve": frozenset({Role.finance}),
    "transfers:write": frozenset({Role.admin, Role.store_manager, Role.integration}),
    "counts:write": frozenset({Role.admin, Role.store_manager, Role.cashier}),
    "counts:approve": frozenset({Role.admin, Role.store_manager}),
    "exceptions:read": frozenset({Role.admin, Role.store_manager, Role.finance, Role.integration}),
    "exceptions:write": frozenset({Role.admin, Role.store_manager, Role.finance}),
    # Orders (web, marketplace): everyone reads; staff and integrations place and drive them.
    "orders:read": ALL,
    "orders:write": frozenset({Role.admin, Role.store_manager, Role.integration, Role.cashier}),
    # A manual discount on a web, marketplace or b2b order line (never below its margin floor): managers,
    # and integrations (a web shop sends its cart's discounts); and the manual discount limits of the
    # tills (docs/discounts.md). Store staff read the limits.
    "orders:discount": frozenset({Role.admin, Role.store_manager, Role.integration}),
    "discount_policies:read": frozenset(
        {Role.admin, Role.store_manager, Role.cashier, Role.finance, Role.pricing_manager}
    ),
    "discount_policies:write": frozenset({Role.admin, Role.pricing_manager}),
    # Invoices are numbered without gaps: issuing one is a finance act (or a store manager's at the desk).
    "invoices:write": frozenset({Role.admin, Role.finance, Role.store_manager, Role.integration}),
    # Gift cards and store credit (payments). Staff at the till and integrations (web shops) issue and
    # reload cards; goodwill credit is a cost, given by managers, admins and finance; the policy (expiry,
    # breakage) and the expiry sweep are finance's and admins'.
    "gift_cards:read": ALL,
    "gift_cards:write": frozenset({Role.admin, Role.store_manager, Role.cashier, Role.integration}),
    "gift_cards:expire": frozenset({Role.admin, Role.finance}),
    "store_credit:read": ALL,
    "store_credit:write": frozenset({Role.admin, Role.store_manager, Role.finance}),
    # Coupons (decision 0049): everyone reads a code's status; staff and integrations make codes and
    # batches; tills, web shops and staff redeem them.
    "coupons:read": ALL,
    "coupons:write": frozenset({Role.admin, Role.store_manager, Role.integration}),
    "coupons:redeem": frozenset({Role.admin, Role.store_manager, Role.cashier, Role.integration}),
    # Loyalty (decision 0049): staff and integrations open accounts and earn points for orders; the
    # programme (earn rate, point value: what the liability is worth) is finance's and admins'.
    "loyalty:read": ALL,
    "loyalty:write": frozenset({Role.admin, Role.store_manager, Role.cashier, Role.integration}),
    "loyalty:programme": frozenset({Role.admin, Role.finance}),
    # Returns: everyone reads; store staff and integrations drive them; the policy is an admin's.
    "returns:read": ALL,
    "returns:write": frozenset({Role.admin, Role.store_manager, Role.integration, Role.cashier}),
    "returns:policy": frozenset({Role.admin}),
    # A card refund's outcome is the gateway's word: finance, or a connector reading its settlements.
    "returns:refunds": frozenset({Role.admin, Role.finance, Role.integration}),
    # Connectors (Shopify...): admins and integrations configure them and replay their messages; their
    # sync log is also finance's to read (mismatches of money and tax).
    "connectors:read": frozenset({Role.admin, Role.integration, Role.finance}),
    "connectors:write": frozenset({Role.admin, Role.integration}),
    # Gateway settlements (decision 0035): gateways are finance's and admins' master data; settlement
    # files come from finance or a connector; mismatches are finance's to resolve.
    "gateways:read": frozenset({Role.admin, Role.finance, Role.integration}),
    "gateways:write": frozenset({Role.admin, Role.finance}),
    "settlements:read": frozenset({Role.admin, Role.finance, Role.integration}),
    "settlements:write": frozenset({Role.finance, Role.integration}),
    "mismatches:resolve": frozenset({Role.finance}),
    # Bank statements (decision 0037): bank accounts and statements are finance's; a store records the
    # cash it takes to the bank; matching or resolving an entry by hand is finance's.
    "banking:read": frozenset({Role.admin, Role.finance, Role.integration}),
    "banking:write": frozenset({Role.admin, Role.finance}),
    "bank_statements:write": frozenset({Role.finance, Role.integration}),
    "bank_entries:resolve": frozenset({Role.finance}),
    "cash_deposits:write": frozenset({Role.admin, Role.finance, Role.store_manager}),
    # Point of sale. A close whose cash difference is above the threshold needs pos:approve.
    "pos:sell": frozenset({Role.cashier, Role.store_manager, Role.admin, Role.integration}),
    "pos:close": frozenset({Role.cashier, Role.store_manager, Role.admin}),
    "pos:approve": frozenset({Role.store_manager, Role.admin}),
    # The company's cash rounding at the till (decision 0059): a finance setting.
    "pos:settings": frozenset({Role.admin, Role.finance}),
    "pos:settings:read": frozenset(
        {Role.cashier, Role.store_manager, Role.admin, Role.integration, Role.finance}
    ),
    # Promotions and governed price changes (decision 0048). Everyone reads what is in force; pricing
    # managers draft and approve, four eyes apart (the approver is never the author, the last editor nor
    # the submitter). Approving a promotion that breaches a margin floor takes a role above the
    # approver's: finance, who answers for the margin, or an admin.
    "promotions:read": ALL,
    "promotions:write": frozenset({Role.admin, Role.pricing_manager}),
    "promotions:approve": frozenset({Role.admin, Role.pricing_manager}),
    "promotions:override": frozenset({Role.admin, Role.finance}),
    "margin_floors:read": frozenset({Role.admin, Role.pricing_manager, Role.finance, Role.store_manager}),
    "margin_floors:write": frozenset({Role.admin, Role.pricing_manager, Role.finance}),
    "price_changes:read": ALL,
    "price_changes:write": frozenset({Role.admin, Role.pricing_manager}),
    "price_changes:approve": frozenset({Role.admin, Role.pricing_manager}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    token_id: uuid.UUID | None
    name: str
    role: Role
    company_id: uuid.UUID | None
    store_id: uuid.UUID | None
    expires_at: dt.datetime | None = None
    """When the caller's token stops working: a token it issues may not outlive it."""

    @property
    def actor(self) -> str:
        return f"token:{self.name}" if self.token_id else self.name

    @property
    def source(self) -> str:
        """Idempotency keys are unique per source: each token is its own client."""
        return f"token:{self.token_id}" if self.token_id else self.name

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"role '{self.role}' may not {permission.replace(':', ' ')}")

    def sees_company(self, company_id: uuid.UUID) -> bool:
        return self.company_id is None or self.company_id == company_id

    def sees_store(self, store_id: uuid.UUID | None) -> bool:
        """Company-level rows (``store_id`` None) are visible to every token of the company."""
        return self.store_id is None or store_id is None or store_id == self.store_id


def system_principal(name: str = "cli") -> Principal:
    """The operator at the command line: installation-wide admin."""
    return Principal(token_id=None, name=name, role=Role.admin, company_id=None, store_id=None)
