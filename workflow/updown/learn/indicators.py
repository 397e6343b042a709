"""The feature families: each maps the adjusted panel (`Bars`) to named, unevaluated columns
(thunks), parameterised by its windows; `updown.learn.features` plans and computes them.

The families cover the ideas of Qlib's Alpha158 (names in brackets):

| family (params key)  | columns                                                   | Alpha158        |
|----------------------|-----------------------------------------------------------|-----------------|
| return_windows       | ret_w: log return over w bars (ret_1 always)              | ROC             |
| volatility_windows   | vol_w (close-to-close std), parkinson_w, garman_klass_w   | STD             |
| ma_windows           | ma_dist_w: close / w-bar mean close - 1                   | MA              |
| trend_windows        | slope_w, rsq_w, resid_w: least-squares fit of log close   | BETA RSQR RESI  |
| range_windows        | range_pos_w, high_dist_w, low_dist_w, since_high_w,       | RSV MAX MIN     |
|                      | since_low_w                                               | IMAX IMIN       |
| quantile_windows     | qtl_up_w, qtl_down_w: 80th / 20th percentile / close - 1  | QTLU QTLD       |
| oscillator_windows   | rsi_w (gains / |moves|), up_frac_w, down_frac_w           | SUMP CNTP CNTN  |
| volume_windows       | volume_level_w, volume_chg_w, volume_std_w, volume_up_w,  | VMA VSTD VSUMP  |
|                      | wvma_w                                                    | WVMA            |
| corr_windows         | corr_pv_w (close, log volume), corr_rv_w (return, volume  | CORR CORD       |
|                      | change)                                                   |                 |
| candle               | body, candle_range, body_frac, upper_wick, upper_frac,    | KBAR            |
|                      | lower_wick, lower_frac, shift, shift_frac, gap            |                 |
| calendar             | day_of_week, month, hour (intraday bars), exchange clock  |                 |
| cross_sectional      | cs_rank_<name>: percentile rank among tickers at the bar  | (CSRank)        |

Every price feature is a ratio within its window, so the common factor of back-adjusted prices
(which at bar t depends on dividends and splits after t) cancels out and leaks nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.panel import (
    TickerWindow,
    adjusted_ohlc,
    bars_since_extremes,
    lag,
    position_in_ticker,
    rolling,
    rolling_corr,
    ticker_window,
)

Thunk = Callable[[], pd.Series]


class Bars:
    """The adjusted panel plus intermediates shared by several features, computed on first use."""

    def __init__(self, panel: pd.DataFrame) -> None:
        self.panel = panel
        self._memo: dict[tuple[Any, ...], Any] = {}

    @cached_property
    def ohlcv(self) -> pd.DataFrame:
        return adjusted_ohlc(self.panel)

    @cached_property
    def pos(self) -> np.ndarray:
        return position_in_ticker(self.panel)

    def col(self, name: str) -> pd.Series:
        return self.ohlcv[name]

    def lag(self, values: pd.Series, n: int) -> pd.Series:
        return lag(values, n, self.pos)

    def window(self, window: int) -> TickerWindow:
        """One indexer per window length: its bounds are computed once for every pass."""
        indexer: TickerWindow = self.memo(
            ("window", window), lambda: ticker_window(window, self.pos)
        )
        return indexer

    def roll(self, values: pd.Series, window: int, how: str, **kwargs: Any) -> pd.Series:
        return rolling(values, window, self.pos, how, indexer=self.window(window), **kwargs)

    def corr(self, a: pd.Series, b: pd.Series, window: int) -> pd.Series:
        return rolling_corr(a, b, window, self.pos, indexer=self.window(window))

    def memo(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """`make()` once per key: lets sibling features share a rolling pass."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @cached_property
    def logc(self) -> pd.Series:
        return np.log(self.col("close"))

    @cached_property
    def r1(self) -> pd.Series:
        """One-bar log return (NaN on each ticker's first bar)."""
        return self.logc - self.lag(self.logc, 1)

    @cached_property
    def logv(self) -> pd.Series:
        return np.log1p(self.col("volume"))

    @cached_property
    def dlogv(self) -> pd.Series:
        return self.logv - self.lag(self.logv, 1)

    @cached_property
    def hl2(self) -> pd.Series:
        return np.log(self.col("high") / self.col("low")) ** 2


Family = Callable[[Bars, FeaturesConfig], dict[str, Thunk]]


def _pos_part(x: pd.Series) -> pd.Series:
    return x.clip(lower=0)


def _indicator(mask: pd.Series, valid: pd.Series) -> pd.Series:
    """1.0 / 0.0 where `valid`, NaN elsewhere (so a window holding a missing value is NaN)."""
    return mask.astype("float64").where(valid)


def returns(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def ret(w: int) -> pd.Series:
        return b.logc - b.lag(b.logc, w)

    windows = sorted({1, *cfg.return_windows})  # ret_1 is always there: baselines use it
    return {f"ret_{w}": partial(ret, w) for w in windows}


def volatility(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def vol(w: int) -> pd.Series:
        return b.roll(b.r1, w, "std")

    def parkinson(w: int) -> pd.Series:
        return np.sqrt(b.roll(b.hl2, w, "mean") / (4 * np.log(2)))

    def garman_klass(w: int) -> pd.Series:
        oc2 = np.log(b.col("close") / b.col("open")) ** 2
        var = b.roll(0.5 * b.hl2 - (2 * np.log(2) - 1) * oc2, w, "mean")
        return np.sqrt(var.clip(lower=0))

    out: dict[str, Thunk] = {}
    for w in cfg.volatility_windows:
        if w >= 2:  # a standard deviation needs two returns
            out[f"vol_{w}"] = partial(vol, w)
        out[f"parkinson_{w}"] = partial(parkinson, w)
        out[f"garman_klass_{w}"] = partial(garman_klass, w)
    return out


def moving_averages(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def ma_dist(w: int) -> pd.Series:
        c = b.col("close")
        return c / b.roll(c, w, "mean") - 1

    return {f"ma_dist_{w}": partial(ma_dist, w) for w in cfg.ma_windows}


def _linear_fit(b: Bars, w: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Least-squares line of log close on bar number over the last w bars: slope per bar,
    R squared, and the last bar's residual. Built from rolling sums, so one pass per window."""

    def fit() -> tuple[pd.Series, pd.Series, pd.Series]:
        y = b.logc
        j = pd.Series(b.pos.astype("float64"), index=y.index)
        sum_y = b.roll(y, w, "sum")
        j_mean = j - (w - 1) / 2
        cov = b.roll(j * y, w, "sum") - j_mean * sum_y  # sum of (j - mean j)(y - mean y)
        sjj = w * (w * w - 1) / 12.0
        syy = b.roll(y, w, "var", ddof=0) * w
        slope = cov / sjj
        rsq = (cov * cov / (sjj * syy)).where(syy > 0).clip(upper=1.0)
        resid = y - (sum_y / w + slope * (w - 1) / 2)
        return slope, rsq, resid

    result: tuple[pd.Series, pd.Series, pd.Series] = b.memo(("fit", w), fit)
    return result


def trend(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def part(i: int, w: int) -> pd.Series:
        return _linear_fit(b, w)[i]

    out: dict[str, Thunk] = {}
    for w in cfg.trend_windows:
        for i, name in enumerate(("slope", "rsq", "resid")):
            out[f"{name}_{w}"] = partial(part, i, w)
    return out


def ranges(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def lo(w: int) -> pd.Series:
        s: pd.Series = b.memo(("min_low", w), lambda: b.roll(b.col("low"), w, "min"))
        return s

    def hi(w: int) -> pd.Series:
        s: pd.Series = b.memo(("max_high", w), lambda: b.roll(b.col("high"), w, "max"))
        return s

    def range_pos(w: int) -> pd.Series:
        width = hi(w) - lo(w)
        return (b.col("close") - lo(w)) / width.where(width > 0)

    def high_dist(w: int) -> pd.Series:
        return hi(w) / b.col("close") - 1

    def low_dist(w: int) -> pd.Series:
        return lo(w) / b.col("close") - 1

    def since(col: str, how: str, w: int) -> pd.Series:
        # Every window of the column in one call: they share their doubling passes.
        every: dict[int, pd.Series] = b.memo(
            ("since", col, how),
            lambda: bars_since_extremes(b.col(col), cfg.range_windows, b.pos, how),
        )
        return every[w] / w

    out: dict[str, Thunk] = {}
    for w in cfg.range_windows:
        out[f"range_pos_{w}"] = partial(range_pos, w)
        out[f"high_dist_{w}"] = partial(high_dist, w)
        out[f"low_dist_{w}"] = partial(low_dist, w)
        out[f"since_high_{w}"] = partial(since, "high", "max", w)
        out[f"since_low_{w}"] = partial(since, "low", "min", w)
    return out


def quantiles(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def qtl(q: float, w: int) -> pd.Series:
        c = b.col("close")
        return b.roll(c, w, "quantile", q=q) / c - 1

    out: dict[str, Thunk] = {}
    for w in cfg.quantile_windows:
        out[f"qtl_up_{w}"] = partial(qtl, 0.8, w)
        out[f"qtl_down_{w}"] = partial(qtl, 0.2, w)
    return out


def oscillators(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def rsi(w: int) -> pd.Series:
        moves = b.roll(b.r1.abs(), w, "sum")
        return b.roll(_pos_part(b.r1), w, "sum") / moves.where(moves > 0)

    def frac(sign: int, w: int) -> pd.Series:
        return b.roll(_indicator(np.sign(b.r1) == sign, b.r1.notna()), w, "mean")

    out: dict[str, Thunk] = {}
    for w in cfg.oscillator_windows:
        out[f"rsi_{w}"] = partial(rsi, w)
        out[f"up_frac_{w}"] = partial(frac, 1, w)
        out[f"down_frac_{w}"] = partial(frac, -1, w)
    return out


def volume(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def cv(x: pd.Series, w: int) -> pd.Series:
        """Coefficient of variation over w bars: std / mean."""
        mean = b.roll(x, w, "mean")
        return b.roll(x, w, "std") / mean.where(mean > 0)

    def level(w: int) -> pd.Series:
        return b.logv - b.roll(b.logv, w, "mean")

    def change(w: int) -> pd.Series:
        return b.logv - b.lag(b.logv, w)

    def std(w: int) -> pd.Series:
        return cv(b.col("volume"), w)

    def up(w: int) -> pd.Series:
        moves = b.roll(b.dlogv.abs(), w, "sum")
        return b.roll(_pos_part(b.dlogv), w, "sum") / moves.where(moves > 0)

    def wvma(w: int) -> pd.Series:
        return cv(b.r1.abs() * b.col("volume"), w)

    out: dict[str, Thunk] = {}
    for w in cfg.volume_windows:
        out[f"volume_level_{w}"] = partial(level, w)
        out[f"volume_chg_{w}"] = partial(change, w)
        out[f"volume_std_{w}"] = partial(std, w)
        out[f"volume_up_{w}"] = partial(up, w)
        out[f"wvma_{w}"] = partial(wvma, w)
    return out


def correlations(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    def price_volume(w: int) -> pd.Series:
        return b.corr(b.col("close"), b.logv, w)

    def return_volume(w: int) -> pd.Series:
        return b.corr(b.r1, b.dlogv, w)

    out: dict[str, Thunk] = {}
    for w in cfg.corr_windows:
        out[f"corr_pv_{w}"] = partial(price_volume, w)
        out[f"corr_rv_{w}"] = partial(return_volume, w)
    return out


def candle(b: Bars, cfg: FeaturesConfig) -> dict[str, Thunk]:
    if not cfg.candle:
        return {}

    def parts() -> dict[str, pd.Series]:
        o, h, lo, c = (b.col(k) for k in ("open", "high", "low", "close"))
        return {
            "open": o,
            "span": (h - lo).where(h > lo),  # a bar without range has no shape
            "body": c - o,
            "range": h - lo,
            "upper": h - np.maximum(o, c),
            "lower": np.minimum(o, c) - lo,
            "shift": 2 * c - h - lo,
        }

    def ratio(numerator: str, denominator: str) -> pd.Series:
        p: dict[str, pd.Series] = b.memo(("candle",), parts)
        return p[numerator] / p[denominator]

    def gap() -> pd.Series:
        return np.log(b.col("open") / b.lag(b.col("close"), 1))

    return {
        "body": partial(ratio, "body", "open"),
        "candle_range": partial(ratio, "range", "open"),
        "body_frac": partial(ratio, "body", "span"),
        "upper_wick": partial(ratio, "upper", "open"),
        "upper_frac": partial(ratio, "upper", "span"),
        "lower_wick": partial(ratio, "lower", "open"),
        "lower_frac": partial(ratio, "lower", "span"),
        "shift": partial(ratio, "shift", "open"),
        "shift_frac": partial(ratio, "shift", "span"),
        "gap": gap,
    }


FAMILIES: list[Family] = [
    returns,
    volatility,
    moving_averages,
    trend,
    ranges,
    quantiles,
    oscillators,
    volume,
    correlations,
    candle,
]
#: The families that read volume: `make_features(..., volume=False)` leaves them out, for a
#: panel holding a ticker without volume (validate.zero_volume: drop_features).
VOLUME_FAMILIES: tuple[Family, ...] = (volume, correlations)


def calendar_columns(timestamp: pd.Series, intraday: bool, tz: str) -> dict[str, Thunk]:
    """Day of week (0 = Monday) and month on the exchange's clock; hour of day for intraday bars."""

    def field(name: str) -> pd.Series:
        local = timestamp.dt.tz_convert(tz)
        out: pd.Series = getattr(local.dt, name)
        return out

    out: dict[str, Thunk] = {
        "day_of_week": partial(field, "dayofweek"),
        "month": partial(field, "month"),
    }
    if intraday:
        out["hour"] = partial(field, "hour")
    return out
