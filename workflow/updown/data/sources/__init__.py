"""Data sources behind one interface: `fetch(tickers, data_config) -> {ticker: raw frame}`.

Each raw frame holds the source's bars under our column names (timestamp, open, high, low, close,
adj_close, volume) as faithfully as they could be read; `validate` judges them. Each source
imports its heavy third-party client (yfinance) only when it fetches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from updown.data.sources import csv_folder, sample, yahoo
from updown.errors import UpdownError

if TYPE_CHECKING:
    import pandas as pd

    from updown.config import DataConfig


class Fetch(Protocol):
    def __call__(self, tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]: ...


SOURCES: dict[str, Fetch] = {
    "sample": sample.fetch,
    "csv": csv_folder.fetch,
    "yfinance": yahoo.fetch,
}


def get_fetch(name: str) -> Fetch:
    """The `fetch` function of source `name` (sample, csv or yfinance)."""
    if name not in SOURCES:
        raise UpdownError(f"data.source: unknown source {name!r} (choose {', '.join(SOURCES)})")
    return SOURCES[name]
