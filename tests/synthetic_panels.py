"""Random but valid price panels (daily or hourly) for the label, feature and split tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from updown.config import FeaturesConfig, LabelConfig

NY = "America/New_York"
HOURS = [f"{h:02d}:30" for h in range(9, 16)]  # yfinance's hourly bars: 09:30 .. 15:30 NY


def ohlc_bars(
    ticker: str, timestamps: object, open_: np.ndarray, close: np.ndarray, wick: float
) -> pd.DataFrame:
    """One ticker's bars in the panel's columns: highs and lows `wick` (a fraction) beyond the
    open and close, the close as adjusted close, a constant volume."""
    return pd.DataFrame(
        {
            "ticker": ticker,
            "timestamp": timestamps,
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick),
            "low": np.minimum(open_, close) * (1 - wick),
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )


def calendar(n_days: int, freq: str, start: str = "2020-01-01") -> pd.DatetimeIndex:
    """Weekday bar times in UTC: NY midnight for daily bars, 09:30..15:30 NY for hourly."""
    days = pd.bdate_range(start, periods=n_days)
    if freq == "1d":
        local = days.tz_localize(NY)
    else:
        stamps = [f"{d.date()} {h}" for d in days for h in HOURS]
        local = pd.DatetimeIndex(pd.to_datetime(stamps)).tz_localize(NY)
    return local.tz_convert("UTC").as_unit("us")


def bars_for(times: pd.DatetimeIndex, rng: np.random.Generator, scale: float = 1.0) -> pd.DataFrame:
    """OHLCV bars on `times` from a random walk: high >= max(open, close), low <= min(...),
    adj_close = close times a dividend-like step factor, positive volume."""
    n = len(times)
    sigma = rng.uniform(0.005, 0.03)
    close = 100 * scale * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, sigma / 3, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, sigma / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, sigma / 2, n)))
    factor = np.where(np.arange(n) < rng.integers(0, n + 1), rng.uniform(0.9, 1.0), 1.0)
    return pd.DataFrame(
        {
            "timestamp": times,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close * factor,
            "volume": np.round(rng.lognormal(12, 1, n)),
        }
    )


def make_panel(
    seed: int,
    tickers: int = 3,
    n_days: int = 60,
    freq: str = "1d",
    drop_fraction: float = 0.1,
) -> pd.DataFrame:
    """A sorted (ticker, timestamp) panel; each ticker misses a random `drop_fraction` of the
    calendar's bars and starts at a random offset, so calendars differ between tickers."""
    rng = np.random.default_rng(seed)
    times = calendar(n_days, freq)
    frames = []
    for i in range(tickers):
        keep = rng.random(len(times)) >= drop_fraction
        keep[: rng.integers(0, max(1, len(times) // 5))] = False
        bars = bars_for(times[keep], rng)
        bars.insert(0, "ticker", f"T{i}")
        frames.append(bars)
    return tidy(pd.concat(frames, ignore_index=True))


def tidy(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel layout the stages expect: str tickers, sorted keys, default index."""
    panel = panel.astype({"ticker": "str"})
    return panel.sort_values(["ticker", "timestamp"], ignore_index=True)


def replace_after(panel: pd.DataFrame, cut: pd.Timestamp, seed: int) -> pd.DataFrame:
    """`panel` with every bar after `cut` replaced by a different (still valid) random path."""
    rng = np.random.default_rng(seed)
    out = panel.copy()
    after = (out["timestamp"] > cut).to_numpy()
    for ticker in out.loc[after, "ticker"].unique():  # a few tickers, in test data only
        rows = after & (out["ticker"] == ticker).to_numpy()
        fresh = bars_for(pd.DatetimeIndex(out.loc[rows, "timestamp"]), rng, rng.uniform(0.5, 2))
        for col in ("open", "high", "low", "close", "adj_close", "volume"):
            out.loc[rows, col] = fresh[col].to_numpy()
    return out


def replace_before(panel: pd.DataFrame, cut: pd.Timestamp, seed: int) -> pd.DataFrame:
    """`panel` with every bar strictly before `cut` replaced by a different random path."""
    rng = np.random.default_rng(seed)
    out = panel.copy()
    before = (out["timestamp"] < cut).to_numpy()
    for ticker in out.loc[before, "ticker"].unique():
        rows = before & (out["ticker"] == ticker).to_numpy()
        fresh = bars_for(pd.DatetimeIndex(out.loc[rows, "timestamp"]), rng, rng.uniform(0.5, 2))
        for col in ("open", "high", "low", "close", "adj_close", "volume"):
            out.loc[rows, col] = fresh[col].to_numpy()
    return out


def small_features(**changes: object) -> FeaturesConfig:
    """Every family on, with windows short enough for panels of a few dozen bars."""
    cfg = FeaturesConfig(
        preset="all",
        return_windows=(1, 2, 5),
        volatility_windows=(3, 5),
        ma_windows=(3, 5),
        trend_windows=(3, 5),
        range_windows=(3, 5),
        quantile_windows=(3, 5),
        oscillator_windows=(3, 5),
        volume_windows=(3, 5),
        corr_windows=(3, 5),
        candle=True,
        calendar=True,
        calendar_timezone=NY,
        cross_sectional=("ret_1", "vol_5", "volume_level_3", "slope_5"),
        shards=1,
        threads=1,
    )
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]


def label_config(**changes: object) -> LabelConfig:
    """A label config for hand-built panels; close-to-close unless `entry` says otherwise (the
    shipped `auto` needs the backtest's execution to resolve, see updown.learn.label.resolved)."""
    cfg = LabelConfig(kind="direction", horizon=1, threshold=0.0, entry="close")
    return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
