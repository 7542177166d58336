"""Orders: one order model for every channel (pos, web, marketplace, b2b) and fulfillment mode.

``model`` holds the :class:`~retailcore.orders.model.Order` aggregate and its written-down state
machine; ``tenders`` the payments that cover an order (split tender, cash change, card
authorize/capture/refund). Both are pure: no database, no I/O. Tables and services come next; see
``docs/orders.md``.
"""
