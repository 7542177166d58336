"""Loyalty: a programme per company, points accounts per customer, earning on orders and burning points
as a tender (docs/coupons-and-loyalty.md, decision 0049)."""
