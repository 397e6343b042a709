"""Vectorised per-ticker operations on a long panel sorted by (ticker, timestamp).

Rolling and shifting run once over whole columns; values whose window would cross into the
previous ticker are masked, so no Python loop over tickers or rows is needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def check_sorted(panel: pd.DataFrame) -> None:
    keys = panel[["ticker", "timestamp"]]
    if not keys.equals(keys.sort_values(["ticker", "timestamp"], ignore_index=True)) and len(panel):
        raise ValueError("panel must be sorted by (ticker, timestamp) with a default index")


def position_in_ticker(ticker: pd.Series) -> np.ndarray:
    """0, 1, 2, ... within each ticker's run of rows."""
    return ticker.groupby(ticker, sort=False).cumcount().to_numpy()


def rows_left_in_ticker(ticker: pd.Series) -> np.ndarray:
    """How many rows of the same ticker follow each row."""
    return ticker.groupby(ticker, sort=False).cumcount(ascending=False).to_numpy()


def lag(values: pd.Series, n: int, pos: np.ndarray) -> pd.Series:
    """Value n rows earlier in the same ticker (NaN where that row belongs to another ticker)."""
    out = values.shift(n)
    return out.where(pos >= n)


def lead(values: pd.Series, n: int, left: np.ndarray) -> pd.Series:
    """Value n rows later in the same ticker (NaN past the ticker's last row)."""
    out = values.shift(-n)
    return out.where(left >= n)


def rolling(values: pd.Series, window: int, pos: np.ndarray, how: str) -> pd.Series:
    """Trailing `how` (mean, std, min, max, sum) over `window` rows ending at each row, per ticker."""
    roll = values.rolling(window, min_periods=window)
    out = getattr(roll, how)()
    return out.where(pos >= window - 1)


def rolling_corr(a: pd.Series, b: pd.Series, window: int, pos: np.ndarray) -> pd.Series:
    out = a.rolling(window, min_periods=window).corr(b)
    return out.where(pos >= window - 1)


def adjusted_ohlc(panel: pd.DataFrame) -> pd.DataFrame:
    """open, high, low, close scaled by adj_close / close, so splits and dividends do not jump."""
    factor = panel["adj_close"] / panel["close"]
    return pd.DataFrame(
        {
            "open": panel["open"] * factor,
            "high": panel["high"] * factor,
            "low": panel["low"] * factor,
            "close": panel["adj_close"],
            "volume": panel["volume"],
        },
        index=panel.index,
    )
