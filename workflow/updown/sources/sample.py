"""Offline sample: real daily OHLCV of the S&P 500 and NASDAQ Composite indices, 1999-2018.

The data ships inside the `arch` package (arch.data.sp500 / arch.data.nasdaq), so the default
pipeline runs on a fresh machine with no network.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

import pandas as pd

from updown.errors import UpdownError
from updown.sources.normalise import normalise

if TYPE_CHECKING:
    from updown.config import DataConfig

SAMPLE_TICKERS = {"^GSPC": "arch.data.sp500", "^IXIC": "arch.data.nasdaq"}
_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}


def load_sample(ticker: str) -> pd.DataFrame:
    """The shipped daily bars of `ticker`, in our raw layout, timestamps at New York midnight (UTC)."""
    if ticker not in SAMPLE_TICKERS:
        raise UpdownError(
            f"ticker {ticker!r} is not in the offline sample (it has {', '.join(SAMPLE_TICKERS)}); "
            "use data.source: csv or yfinance for other tickers"
        )
    module = SAMPLE_TICKERS[ticker]
    frame = import_module(module).load()
    table = frame.rename(columns=_COLUMNS).rename_axis("timestamp").reset_index()
    return normalise(table, "America/New_York", origin=f"{module} (package arch)")


def fetch(tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]:
    start = pd.Timestamp(cfg.start, tz="America/New_York")
    end = pd.Timestamp(cfg.end, tz="America/New_York") + pd.Timedelta(days=1)
    out = {}
    for ticker in tickers:
        bars = load_sample(ticker)
        mask = (bars["timestamp"] >= start) & (bars["timestamp"] < end)
        out[ticker] = bars.loc[mask].reset_index(drop=True)
        out[ticker].attrs = bars.attrs
    return out
