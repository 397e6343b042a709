"""validate's row check: a numpy pass clears clean bars without pandera's schema, and any
broken rule (or NaN) falls through to the schema, which names the row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from updown.contract import PRICE_COLUMNS
from updown.data.bad_rows import bad_row_mask, rows_all_pass


def bars(n: int = 30) -> pd.DataFrame:
    close = 100 + np.arange(n, dtype="float64")
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "adj_close": close,
            "volume": np.full(n, 1000.0),
        }
    )


def check(frame: pd.DataFrame) -> bool:
    values = frame[list(PRICE_COLUMNS)]
    return rows_all_pass(values, values.to_numpy())


def test_clean_bars_pass_the_fast_check_and_have_no_bad_row() -> None:
    assert check(bars()) and not bad_row_mask(bars()).any()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("high", 50.0),  # below the close
        ("low", 500.0),  # above the open
        ("low", 0.0),
        ("adj_close", -1.0),
        ("volume", -5.0),
        ("open", np.nan),
        ("volume", np.nan),
    ],
)
def test_a_broken_rule_falls_through_to_the_schema_which_flags_that_row(
    column: str, value: float
) -> None:
    frame = bars()
    frame.loc[7, column] = value
    assert not check(frame)
    assert list(np.flatnonzero(bad_row_mask(frame).to_numpy())) == [7]


def test_a_column_not_float64_goes_to_the_schema() -> None:
    frame = bars().astype({"volume": "float32"})
    assert not check(frame)
