"""Features at bar t from data up to and including the close of bar t, never later.

Each family is a pure function of the adjusted panel and returns named columns; the whole panel
is computed in one vectorised pass (see updown.panel).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.panel import adjusted_ohlc, check_sorted, lag, position_in_ticker, rolling

Columns = dict[str, pd.Series]


def returns(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    logc = np.log(bars["close"])
    windows = sorted({1, *cfg.return_windows})  # ret_1 is always there: baselines use it
    return {f"ret_{w}": logc - lag(logc, w, pos) for w in windows}


def volatility(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    logc = np.log(bars["close"])
    r1 = logc - lag(logc, 1, pos)
    hl2 = np.log(bars["high"] / bars["low"]) ** 2
    out: Columns = {}
    for w in cfg.volatility_windows:
        if w >= 2:
            out[f"vol_{w}"] = rolling(r1, w, pos, "std")
        out[f"parkinson_{w}"] = np.sqrt(rolling(hl2, w, pos, "mean") / (4 * np.log(2)))
    return out


def moving_averages(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    c = bars["close"]
    return {f"ma_dist_{w}": c / rolling(c, w, pos, "mean") - 1 for w in cfg.ma_windows}


def ranges(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    out: Columns = {}
    for w in cfg.range_windows:
        lo, hi = rolling(bars["low"], w, pos, "min"), rolling(bars["high"], w, pos, "max")
        out[f"range_pos_{w}"] = (bars["close"] - lo) / (hi - lo).where(hi > lo)
    return out


def candle(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    o, h, lo, c = bars["open"], bars["high"], bars["low"], bars["close"]
    return {
        "body": (c - o) / o,
        "upper_wick": (h - np.maximum(o, c)) / o,
        "lower_wick": (np.minimum(o, c) - lo) / o,
        "gap": np.log(o / lag(c, 1, pos)),
    }


def volume(bars: pd.DataFrame, pos: np.ndarray, cfg: FeaturesConfig) -> Columns:
    v = np.log1p(bars["volume"])
    return {f"volume_level_{w}": v - rolling(v, w, pos, "mean") for w in cfg.volume_windows}


FAMILIES: list[Callable[[pd.DataFrame, np.ndarray, FeaturesConfig], Columns]] = [
    returns,
    volatility,
    moving_averages,
    ranges,
    candle,
    volume,
]


def calendar_columns(timestamp: pd.Series, intraday: bool) -> Columns:
    local = timestamp.dt.tz_convert("America/New_York")
    out: Columns = {
        "day_of_week": local.dt.dayofweek.astype("float64"),
        "month": local.dt.month.astype("float64"),
    }
    if intraday:
        out["hour"] = local.dt.hour.astype("float64")
    return out


def cross_sectional_ranks(panel: pd.DataFrame, cols: Columns, names: list[str]) -> Columns:
    """Percentile rank of each named feature among the tickers at the same timestamp."""
    frame = pd.DataFrame({n: cols[n] for n in names if n in cols})
    frame["timestamp"] = panel["timestamp"]
    ranked = frame.groupby("timestamp").rank(pct=True)
    return {f"cs_rank_{n}": ranked[n] for n in ranked.columns}


def make_features(panel: pd.DataFrame, cfg: FeaturesConfig, intraday: bool = False) -> pd.DataFrame:
    """All enabled features for every (ticker, timestamp) of `panel`; float64 columns, NaN where
    a window is not yet full. Shape: len(panel) rows, 2 key columns + features."""
    check_sorted(panel)
    bars = adjusted_ohlc(panel)
    pos = position_in_ticker(panel["ticker"])
    cols: Columns = {}
    for family in FAMILIES:
        cols.update(family(bars, pos, cfg))
    if panel["ticker"].nunique() > 1:
        cols.update(cross_sectional_ranks(panel, cols, ["ret_1", "ret_5", "ret_20"]))
    if cfg.calendar:
        cols.update(calendar_columns(panel["timestamp"], intraday))
    features = pd.DataFrame({k: v.astype("float64") for k, v in cols.items()}, index=panel.index)
    features = features.replace([np.inf, -np.inf], np.nan)
    features.insert(0, "timestamp", panel["timestamp"])
    features.insert(0, "ticker", panel["ticker"])
    return features


def feature_names(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c not in ("ticker", "timestamp")]
