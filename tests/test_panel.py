"""Run boundaries of a long panel found in Arrow equal the row-by-row Python comparison."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from updown.panel import (
    check_sorted,
    position_in_ticker,
    rows_left_in_ticker,
    tickers_without_volume,
    value_changes,
)

TICKERS = ["A", "A", "AA", "AA", "AA", "B", "BRK.B", "BRK.B", "Ä", "Ä"]


@pytest.mark.parametrize("dtype", ["str", "object", "category", "string[pyarrow]"])
def test_value_changes_equal_the_row_by_row_comparison_whatever_holds_the_text(dtype) -> None:
    values = pd.Series(TICKERS, dtype=dtype)
    expected = [a != b for a, b in pairwise(TICKERS)]
    assert value_changes(values).tolist() == expected


def test_a_missing_ticker_starts_a_run_of_its_own_and_numbers_compare_as_numbers() -> None:
    values = pd.Series(["A", None, None, "A", "A"], dtype="str")
    assert value_changes(values).tolist() == [True, True, True, False]
    assert value_changes(pd.Series([0, 0, 1, 1, 0], dtype="int32")).tolist() == [
        False,
        True,
        False,
        True,
    ]
    assert value_changes(pd.Series(["A"], dtype="str")).tolist() == []


def test_positions_restart_at_each_ticker_and_segment_on_an_arrow_ticker_column() -> None:
    panel = pd.DataFrame(
        {"ticker": pd.Series(["A"] * 4 + ["B"] * 3, dtype="str"), "segment": [0, 0, 1, 1, 0, 0, 0]}
    )
    assert position_in_ticker(panel).tolist() == [0, 1, 0, 1, 0, 1, 2]
    assert rows_left_in_ticker(panel).tolist() == [1, 0, 1, 0, 2, 1, 0]
    assert position_in_ticker(panel["ticker"]).tolist() == [0, 1, 2, 3, 0, 1, 2]


def _panel(tickers: list[str | None], days: list[int]) -> pd.DataFrame:
    stamps = pd.to_datetime("2020-01-01", utc=True) + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"ticker": pd.Series(tickers, dtype="str"), "timestamp": stamps})


def test_check_sorted_accepts_runs_in_order_and_refuses_an_unsorted_or_missing_ticker() -> None:
    check_sorted(_panel(["A", "A", "B", "B"], [0, 1, 0, 1]))
    for tickers, days in (
        (["B", "B", "A", "A"], [0, 1, 0, 1]),  # tickers out of order
        (["A", "B", "A", "B"], [0, 0, 1, 1]),  # a ticker in two runs
        (["A", "A", "B", "B"], [1, 0, 0, 1]),  # time running backwards
        (["A", "A", "B", "B"], [0, 0, 0, 1]),  # one bar twice
        (["A", None, "B", "B"], [0, 1, 0, 1]),  # a missing ticker
    ):
        with pytest.raises(ValueError, match="sorted by"):
            check_sorted(_panel(tickers, days))


def test_tickers_without_volume_are_named_from_the_arrow_column() -> None:
    panel = _panel(["A", "A", "IDX", "IDX", "Z"], [0, 1, 0, 1, 0])
    panel["volume"] = [5.0, 0.0, 0.0, np.nan, 1.0]
    assert tickers_without_volume(panel) == ["IDX"]
