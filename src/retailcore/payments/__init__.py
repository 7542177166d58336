"""Payments: gift cards and store credit, their balances and the movements behind them.

``tables`` holds the cards, the customers' store credit, their append-only movements and the company's
gift card policy; ``services`` issues, redeems, reloads, credits back and expires them (the orders and
POS contexts call it for tenders of kind ``gift_card`` and ``store_credit``); ``views`` the read models.
See ``docs/gift-cards-and-store-credit.md``.
"""
