"""The row rules of a price bar: high >= max(open, close) >= min(open, close) >= low > 0,
adj_close > 0, volume >= 0, every value finite. A numpy pass clears clean bars; pandera's schema
runs only when a row may break a rule, and names it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from updown.contract import PRICE_COLUMNS


def bad_row_mask(bars: pd.DataFrame) -> pd.Series:
    """Rows that break high >= max(open, close) >= min(open, close) >= low > 0, volume >= 0, or
    hold NaN or an infinite value."""
    import pandera.pandas as pa

    # pandera's comparisons let +inf through (inf >= inf), and inf poisons every return after it.
    values = bars[list(PRICE_COLUMNS)]
    array = values.to_numpy()
    infinite = pd.Series(~np.isfinite(array).all(axis=1), index=bars.index)
    infinite &= values.notna().all(axis=1)
    if rows_all_pass(values, array):
        return infinite  # the schema below would pass: its lazy validation is validate's cost

    ohlc_ok = pa.Check(
        lambda df: (
            (df["high"] >= df[["open", "close"]].max(axis=1))
            & (df[["open", "close"]].min(axis=1) >= df["low"])
            & (df["low"] > 0)
        ),
        error="high >= max(open, close) >= min(open, close) >= low > 0",
    )
    schema = pa.DataFrameSchema(
        {
            "open": pa.Column(float, nullable=False),
            "high": pa.Column(float, nullable=False),
            "low": pa.Column(float, nullable=False),
            "close": pa.Column(float, nullable=False),
            "adj_close": pa.Column(float, pa.Check.gt(0), nullable=False),
            "volume": pa.Column(float, pa.Check.ge(0), nullable=False),
        },
        checks=[ohlc_ok],
    )
    try:
        schema.validate(bars, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        index = pd.to_numeric(cases["index"], errors="coerce").dropna().astype(int)
        mask = pd.Series(False, index=bars.index)
        mask.loc[mask.index.intersection(index.unique())] = True
        return mask | infinite
    return infinite


def rows_ok(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, adj: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Per row: high >= max(open, close) >= min(open, close) >= low > 0, adj_close > 0,
    volume >= 0 (a NaN fails each comparison; +inf passes them, as in the schema)."""
    with np.errstate(invalid="ignore"):
        ok = (h >= np.maximum(o, c)) & (np.minimum(o, c) >= lo) & (lo > 0)
        return ok & (adj > 0) & (v >= 0)


def rows_all_pass(values: pd.DataFrame, array: np.ndarray) -> bool:
    """Whether bad_row_mask's schema passes every row of `values` (the price columns; `array`
    their values): float64 columns, none NaN, every rule held (a NaN fails each comparison,
    so any doubt falls through to the schema)."""
    if not (values.dtypes == np.float64).all():
        return False
    return bool(rows_ok(*array.T).all())
