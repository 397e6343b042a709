"""A synthetic price panel, written as one file per ticker for the `csv` source.

Each ticker is a geometric random walk with its own drift and volatility, OHLC bars that obey
high >= max(open, close) >= min(open, close) >= low > 0, a dividend-style adjusted close and a
log-normal volume, on the trading days (Monday to Friday) that end at `--end`: daily bars, or
hourly ones (`--interval 1h`: seven bars a day, 09:30 to 15:30 New York time, like Yahoo's). About
a third of the tickers list later than the first bar, as real ones do. The same seed writes the
same files.

    python benchmarks/synthetic.py --out /tmp/syn --tickers 4040 --bars 4822

then point `data.csv` at it (`pattern: "{ticker}.parquet"`, the columns below), as
`benchmarks/run.py` does for its 10x panel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# The S&P folder's column names, so the csv source reads both with the same data.csv.columns.
COLUMNS = ["timestamp", "open", "high", "low", "close", "adjusted_close", "volume"]
DEFAULT_END = "2018-12-31"
HOURS = ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]  # exchange clock


def ticker_names(n: int) -> list[str]:
    """SYN0000, SYN0001, ...: safe file names that no real exchange uses."""
    width = max(4, len(str(n - 1)))
    return [f"SYN{i:0{width}d}" for i in range(n)]


def trading_days(bars: int, end: str = DEFAULT_END) -> pd.DatetimeIndex:
    """The last `bars` weekdays up to `end`, as naive dates (the csv source localises them)."""
    return pd.bdate_range(end=end, periods=bars)


def bar_times(bars: int, interval: str = "1d", end: str = DEFAULT_END) -> pd.DatetimeIndex:
    """The last `bars` bar times up to `end`: weekdays, or seven exchange hours of each weekday,
    naive in the exchange's zone (data.csv.timezone: America/New_York)."""
    if interval == "1d":
        return trading_days(bars, end)
    days = trading_days(-(-bars // len(HOURS)), end)
    offsets = pd.to_timedelta([f"{h}:00" for h in HOURS])
    times = (days.values[:, None] + offsets.values[None, :]).ravel()
    return pd.DatetimeIndex(times[-bars:])


def ticker_bars(
    rng: np.random.Generator, days: pd.DatetimeIndex, bars_per_day: int = 1
) -> pd.DataFrame:
    """One ticker's bars at `days` (bar times; or a later-listed tail of them)."""
    n = len(days)
    first = int(rng.integers(0, n // 4)) if rng.random() < 1 / 3 else 0
    n_rows = n - first
    sigma = rng.uniform(0.008, 0.03) / np.sqrt(bars_per_day)
    drift = rng.normal(0.0002, 0.0003) / bars_per_day
    log_close = np.log(rng.uniform(10, 300)) + np.cumsum(rng.normal(drift, sigma, n_rows))
    close = np.exp(log_close)
    prev_close = np.exp(np.concatenate([[log_close[0]], log_close[:-1]]))
    open_ = prev_close * np.exp(rng.normal(0.0, 0.3 * sigma, n_rows))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, 0.5 * sigma, n_rows)))
    low = bottom * np.exp(-np.abs(rng.normal(0.0, 0.5 * sigma, n_rows)))
    # A steady dividend yield: the adjusted close is the close scaled down the further back it is.
    yield_per_bar = rng.uniform(0.0, 0.03) / (252 * bars_per_day)
    adjusted = close * np.exp(-yield_per_bar * np.arange(n_rows)[::-1])
    volume = np.round(np.exp(rng.normal(rng.uniform(11, 16), 0.5, n_rows)))
    return pd.DataFrame(
        {
            "timestamp": days[first:],
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adjusted_close": adjusted,
            "volume": volume,
        }
    )


def write_panel(
    out: Path,
    tickers: int,
    bars: int,
    seed: int = 0,
    end: str = DEFAULT_END,
    interval: str = "1d",
) -> dict:
    """Write `tickers` files of up to `bars` bars each into `out`; return a summary."""
    out.mkdir(parents=True, exist_ok=True)
    days = bar_times(bars, interval, end)
    per_day = 1 if interval == "1d" else len(HOURS)
    rng = np.random.default_rng(seed)
    names = ticker_names(tickers)
    rows = 0
    for name in names:
        frame = ticker_bars(rng, days, per_day)
        rows += len(frame)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, out / f"{name}.parquet", compression="snappy")
    return {
        "path": str(out),
        "tickers": names,
        "rows": rows,
        "first": str(days[0].date()),
        "last": str(days[-1].date()),
        "interval": interval,
        "pattern": "{ticker}.parquet",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for <ticker>.parquet")
    parser.add_argument("--tickers", type=int, required=True, help="number of tickers")
    parser.add_argument("--bars", type=int, required=True, help="trading days per ticker (at most)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end", default=DEFAULT_END, help="last trading day (YYYY-MM-DD)")
    parser.add_argument("--interval", choices=["1d", "1h"], default="1d")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    summary = write_panel(args.out, args.tickers, args.bars, args.seed, args.end, args.interval)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["tickers"] = len(summary["tickers"])
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
