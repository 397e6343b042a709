"""Offline sample: real daily OHLCV of the S&P 500 and NASDAQ Composite indices, 1999-2018.

The data ships inside the `arch` package (arch.data.sp500 / arch.data.nasdaq), so the default
pipeline runs on a fresh machine with no network.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from updown.data.sources.normalise import YAHOO_COLUMNS, normalise
from updown.errors import UpdownError

if TYPE_CHECKING:
    from updown.config import DataConfig

_DAY = pd.Timedelta(days=1)
SAMPLE_TICKERS = {"^GSPC": "arch.data.sp500", "^IXIC": "arch.data.nasdaq"}


def arch_data_file(module: str) -> Path:
    """The CSV that `module` (arch.data.sp500, arch.data.nasdaq) loads, found without importing
    arch: its package import pulls in scipy, statsmodels and matplotlib, about a second per
    acquire process for a 100 kB file."""
    spec = find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise UpdownError("the offline sample needs the `arch` package, which is not installed")
    name = module.rsplit(".", 1)[-1]
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name / f"{name}.csv.gz"
    if not path.is_file():
        raise UpdownError(f"{path}: the sample data of package arch is missing")
    return path


def read_arch_data(path: Path) -> pd.DataFrame:
    """What arch.data.<name>.load() returns: the dates as the index, every column numeric."""
    data = pd.read_csv(path)
    if "Date" in data:
        data["Date"] = pd.to_datetime(data["Date"])
        data = data.set_index("Date")
    for col in data:
        data[col] = pd.to_numeric(data[col], errors="coerce")
    return data


def load_sample(ticker: str) -> pd.DataFrame:
    """The shipped daily bars of `ticker`, in our raw layout, timestamps at New York midnight (UTC)."""
    if ticker not in SAMPLE_TICKERS:
        raise UpdownError(
            f"ticker {ticker!r} is not in the offline sample (it has {', '.join(SAMPLE_TICKERS)}); "
            "use data.source: csv or yfinance for other tickers"
        )
    module = SAMPLE_TICKERS[ticker]
    frame = read_arch_data(arch_data_file(module))
    table = frame.rename(columns=YAHOO_COLUMNS).rename_axis("timestamp").reset_index()
    return normalise(table, "America/New_York", origin=f"{module} (package arch)")


def fetch(tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]:
    start = pd.Timestamp(cfg.start, tz="America/New_York")
    out = {}
    for ticker in tickers:
        bars = load_sample(ticker)
        mask = bars["timestamp"] >= start
        if cfg.end is not None:  # inclusive; None: up to the newest bar
            mask &= bars["timestamp"] < pd.Timestamp(cfg.end, tz="America/New_York") + _DAY
        out[ticker] = bars.loc[mask].reset_index(drop=True)
        out[ticker].attrs = bars.attrs
    return out
