"""POS sales are written as value lists: the lists must name every column of their tables."""

from __future__ import annotations

import pytest

from retailcore.orders import carry_out
from retailcore.orders import tables as t


@pytest.mark.parametrize(
    ("columns", "table"),
    [
        (carry_out.ORDER_COLUMNS, t.OrderRow.__table__),
        (carry_out.LINE_COLUMNS, t.OrderLineRow.__table__),
        (carry_out.PAYMENT_COLUMNS, t.OrderPaymentRow.__table__),
    ],
)
def test_carry_out_writes_every_column(columns, table):
    assert len(set(columns)) == len(columns)
    assert set(columns) == set(table.c.keys())
