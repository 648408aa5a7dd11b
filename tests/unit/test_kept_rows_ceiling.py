"""The kept-rows ceiling writes every kept row once, cut as evenly as the worker's batches."""

import pytest

from benchmarks.kept_rows_ceiling import _share


@pytest.mark.parametrize(("rows", "batches", "parts"),
                         [(0, 3, 2), (1, 19, 2), (7, 3, 2), (148_493, 19, 2), (5, 5, 3)])
def test_every_row_is_written_once_in_order(rows, batches, parts):
    table = [(i,) for i in range(rows)]
    shares = [_share(table, b, batches, p, parts) for b in range(batches) for p in range(parts)]
    assert [row for share in shares for row in share] == table
    # batches differ by a row at most, and a batch's parts by one more
    assert max(map(len, shares)) - min(map(len, shares)) <= 2
