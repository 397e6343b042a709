"""Data sources behind one interface: `fetch(tickers, data_config) -> {ticker: raw frame}`.

Each raw frame holds the source's bars under our column names (timestamp, open, high, low, close,
adj_close, volume) as faithfully as they could be read; `validate` judges them. Sources are
imported lazily so that a stage only pays for the one it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from updown.config import DataConfig

SOURCES = {
    "sample": "updown.sources.sample",
    "csv": "updown.sources.csv_folder",
    "yfinance": "updown.sources.yahoo",
}


class Fetch(Protocol):
    def __call__(self, tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]: ...


def get_fetch(name: str) -> Fetch:
    """The `fetch` function of source `name` (sample, csv or yfinance)."""
    from updown.errors import UpdownError

    if name not in SOURCES:
        raise UpdownError(f"data.source: unknown source {name!r} (choose {', '.join(SOURCES)})")
    fetch: Fetch = import_module(SOURCES[name]).fetch
    return fetch
