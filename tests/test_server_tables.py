"""Tables the pages show are cached as Arrow, the form st.dataframe sends, on their values."""

from __future__ import annotations

import math

from dashboard import server_caches as cached


def test_records_become_one_arrow_table_per_distinct_content():
    records = [{"run": "a", "test acc": 0.84, "seconds": "1.5"}, {"run": "b", "test acc": math.nan, "seconds": "–"}]
    table = cached.table(records)
    assert table.column_names == ["run", "test acc", "seconds"]
    assert table.column("run").to_pylist() == ["a", "b"]
    assert table.column("test acc").to_pylist() == [0.84, None]  # NaN is a missing cell, as from a DataFrame
    assert cached.table([dict(r) for r in records]) is table  # equal rows: the cached table, not a new one
    assert cached.table(records[:1]) is not table


def test_no_records_is_an_empty_table():
    assert cached.table([]).num_rows == 0
