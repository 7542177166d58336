"""Returns: goods coming back from a customer against an order of any channel (or none), their
disposition, and the refund decision.

``tables`` holds the rows (returns, their lines, the per-order-line counter, policy, dispositions,
credit notes); ``limits`` the one check of what an order line can still give back; ``dispositions`` where
goods go by condition (rules as data); ``commands`` the requests and views; ``services`` the flow. See
docs/returns.md and decision 0024.
"""
