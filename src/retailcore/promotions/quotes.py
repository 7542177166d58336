"""Quotes: a basket priced as a channel would (``POST /pricing/quote``): price lists, the promotions in
force in the store's local time, the coupons presented (validated, never redeemed), manual discounts,
taxes on the discounted amounts, and per line the cost, margin and floor. Reads only. The same basket
(lines, customer, moment, coupons) prices exactly as a web order or the POS verification prices it
(:mod:`retailcore.promotions.channels`, decision 0052).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.currencies import minor_unit
from retailcore.core.errors import (
    FieldProblem,
    InvalidReference,
    ValidationFailed,
)
from retailcore.masterdata.services import store_in_scope
from retailcore.masterdata.tables import Company, Customer, Product
from retailcore.pricing import price_lists as pl
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules
from retailcore.promotions import commands as c
from retailcore.promotions.book import (
    book_for,
    floors,
    unit_costs,
)
from retailcore.promotions.channels import local_time
from retailcore.promotions.coupons import basket_coupons, validate_coupons
from retailcore.promotions.model import Basket, BasketLine

SHIPPING_KEY = "shipping"
"""The shipping's key among the lines given to the tax engine (the lines' keys are their positions)."""

# -- quotes ------------------------------------------------------------------------------------------


def quote(session: Session, principal: Principal, company: Company, body: c.PriceQuote) -> c.QuoteView:
    """Price a basket as a channel would (see docs/promotions-governance.md#quotes and
    docs/promotions.md#every-channel)."""
    store = store_in_scope(session, principal, body.store_id, company=company)
    group = body.customer_group
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
        group = customer.customer_group
    at = body.at or utcnow()
    local = local_time(session, company.id, store.timezone if store is not None else None, at)
    currency = body.currency or company.currency
    places = minor_unit(currency)
    quantum = Decimal(1).scaleb(-places)
    ids = {line.product_id for line in body.lines}
    products = {
        p.id: p
        for p in session.scalars(select(Product).where(Product.company_id == company.id, Product.id.in_(ids)))
    }
    problems = [
        FieldProblem(f"lines.{n}.product_id", "no such product")
        for n, line in enumerate(body.lines)
        if line.product_id not in products
    ]
    if problems:
        raise InvalidReference(
            f"{len(problems)} line(s) name no product of {company.code}", problems=problems
        )
    ship = body.shipping
    if ship is not None and body.channel == "pos":
        problems.append(FieldProblem("shipping", "a pos sale is not shipped"))
    if ship is not None and ship.amount != ship.amount.quantize(quantum):
        problems.append(FieldProblem("shipping.amount", f"more decimals than {currency} has"))
    for n, line in enumerate(body.lines):
        if line.manual_discount != line.manual_discount.quantize(quantum):
            problems.append(FieldProblem(f"lines.{n}.manual_discount", f"more decimals than {currency} has"))
    jurisdiction = (store.tax_jurisdiction if store else None) or company.tax_jurisdiction
    rules = load_tax_rules(session, company.id, jurisdiction)
    for n, line in enumerate(body.lines):
        product = products[line.product_id]
        if product.tax_category not in rules:
            problems.append(
                FieldProblem(
                    f"lines.{n}.product_id",
                    f"{product.sku}: no tax rule for {product.tax_category} in {jurisdiction}",
                )
            )
    if ship is not None and ship.tax_category not in rules:
        problems.append(
            FieldProblem("shipping.tax_category", f"no tax rule for {ship.tax_category} in {jurisdiction}")
        )
    if problems:
        raise ValidationFailed("some lines cannot be quoted", problems=problems)
    included = {tax.price_included for p in products.values() for tax in rules[p.tax_category]}
    if ship is not None:
        included |= {tax.price_included for tax in rules[ship.tax_category]}
    if len(included) > 1:
        raise ValidationFailed(
            "a basket cannot mix price-included and price-excluded taxes",
            problems=[FieldProblem("lines", "taxes mix price-included and excluded")],
        )
    prices_include_tax = included == {True}
    line_floors = floors(
        session, company.id, products.values(), tax_rules=rules if prices_include_tax else None
    )
    costs = unit_costs(session, company.id, products.values())
    quotes = []
    for n, line in enumerate(body.lines):
        try:
            quotes.append(
                pl.price_for(
                    session,
                    company,
                    products[line.product_id],
                    channel=body.channel,
                    store_id=store.id if store else None,
                    currency=currency,
                    on=local.date(),
                    quantity=line.quantity,
                    customer_group=group,
                )
            )
        except pl.NoPrice as error:
            raise pl.NoPrice(
                error.detail, problems=[FieldProblem(f"lines.{n}.product_id", f"no price in {currency}")]
            ) from None
    basket = Basket(
        lines=tuple(
            BasketLine(
                key=str(n),
                product_id=line.product_id,
                category=products[line.product_id].category,
                quantity=line.quantity,
                unit_price=quotes[n].unit_price,
                manual_discount=line.manual_discount,
                floor_amount=line_floors[line.product_id].amount if line.product_id in line_floors else None,
            )
            for n, line in enumerate(body.lines)
        ),
        currency_decimals=places,
        channel=body.channel,
        local_time=local,
        store_id=store.id if store else None,
        customer_group=group,
        shipping=ship.amount if ship is not None else Decimal(0),
    )
    if body.coupons:
        valid = validate_coupons(session, company, body.coupons, customer_id=body.customer_id, at=at)
        basket = replace(basket, coupons=basket_coupons(valid))
    priced = book_for(session, company.id).price(basket)
    taxable = [
        TaxableLine(p.key, p.net, products[body.lines[int(p.key)].product_id].tax_category)
        for p in priced.lines
    ]
    ship_discount = sum((d.amount for d in priced.shipping_discounts), Decimal(0))
    if ship is not None:
        taxable.append(TaxableLine(SHIPPING_KEY, ship.amount - ship_discount, ship.tax_category))
    try:
        taxes = compute_taxes(taxable, rules, currency)
    except NoTaxRule as error:  # pragma: no cover - checked above
        raise ValidationFailed(str(error), code="no-tax-rule") from error
    lines = []
    for p in priced.lines:
        request = body.lines[int(p.key)]
        taxed = taxes.line(p.key)
        unit_cost = costs[request.product_id]
        floor = line_floors.get(request.product_id)
        lines.append(
            c.QuoteLineView(
                product_id=request.product_id,
                quantity=p.quantity,
                unit_price=p.unit_price,
                price_source=quotes[int(p.key)].source,
                amount=p.amount,
                discounts=[
                    c.QuoteDiscountView(
                        source=d.source, code=d.code, amount=d.amount, promotion_id=d.promotion_id
                    )
                    for d in p.discounts
                ],
                discount=p.discount,
                net=taxed.net,
                tax=taxed.tax,
                gross=taxed.gross,
                cost=unit_cost,
                margin=(taxed.net - unit_cost * p.quantity).quantize(quantum, ROUND_HALF_UP),
                floor_amount=floor.amount.quantize(quantum, ROUND_HALF_UP) if floor else None,
                below_floor=p.below_floor,
            )
        )
    total_cost = sum((line.cost * line.quantity for line in lines), Decimal(0)).quantize(
        quantum, ROUND_HALF_UP
    )
    shipping = None
    goods_net = taxes.net_total
    if ship is not None:
        taxed_ship = taxes.line(SHIPPING_KEY)
        goods_net -= taxed_ship.net
        shipping = c.QuoteShippingView(
            method=ship.method,
            tax_category=ship.tax_category,
            amount=ship.amount,
            discounts=[
                c.QuoteDiscountView(
                    source=d.source, code=d.code, amount=d.amount, promotion_id=d.promotion_id
                )
                for d in priced.shipping_discounts
            ],
            discount=ship_discount,
            net=taxed_ship.net,
            tax=taxed_ship.tax,
            gross=taxed_ship.gross,
        )
    return c.QuoteView(
        currency=currency,
        channel=body.channel,
        store_id=store.id if store else None,
        customer_group=group,
        local_time=local,
        prices_include_tax=prices_include_tax,
        lines=lines,
        shipping=shipping,
        promotions=list(priced.promotions),
        discount=priced.discount,
        net=taxes.net_total,
        tax=taxes.tax_total,
        gross=taxes.gross_total,
        cost=total_cost,
        margin=goods_net - total_cost,
        below_floor=bool(priced.below_floor),
    )
