"""Features at bar t from data up to and including the close of bar t, never later.

Each family maps the adjusted panel to named columns, parameterised by its windows
(`features.<family>_windows` in params.yaml; an empty list switches the family off). The whole
panel is computed in one vectorised pass per feature: shifts and rolling windows run over entire
columns and stop at each ticker's first row (see updown.panel), so there is no Python loop over
rows or tickers, and a value at bar t depends on its own ticker's bars up to t only (the
cross-sectional ranks, by design, also on the other tickers' values at t). A gap longer than
validate.max_gap_days starts a new segment (the panel's `segment` column), where every window
and lag restarts as at a ticker's first row: no feature spans a gap.

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

`features.preset: qlib14` computes QLIB14, a fixed 14-feature set standing in for the dataset of
Qlib's published data-server benchmark (14 features from daily OHLCV; Qlib does not list its
expressions, so this set takes one or two of each operator kind that task exercises: reference,
mean, std, max/min, correlation and bar shape). Columns are float32: LightGBM bins them anyway and
the panel of 100+ features stays well under the memory budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.contract import KEYS
from updown.errors import UpdownError
from updown.panel import (
    adjusted_ohlc,
    bars_since_extreme,
    check_sorted,
    lag,
    position_in_ticker,
    rolling,
    rolling_corr,
)

Thunk = Callable[[], pd.Series]
DTYPE = np.float32

# A stand-in for the 14-feature dataset of Qlib's data-server benchmark: one pass each of
# Ref, Mean, Std, Max, Min, Corr and bar-shape expressions over OHLCV.
QLIB14: tuple[str, ...] = (  # in the order make_features returns them
    "ret_1",
    "ret_5",
    "ret_20",
    "vol_5",
    "vol_20",
    "ma_dist_5",
    "ma_dist_20",
    "range_pos_20",
    "high_dist_20",
    "low_dist_20",
    "volume_level_5",
    "corr_pv_20",
    "body",
    "candle_range",
)


def qlib14_config(cfg: FeaturesConfig) -> FeaturesConfig:
    """The windows QLIB14 needs (everything else off); calendar time zone kept from `cfg`."""
    return dataclasses.replace(
        cfg,
        preset="qlib14",
        return_windows=(1, 5, 20),
        volatility_windows=(5, 20),
        ma_windows=(5, 20),
        trend_windows=(),
        range_windows=(20,),
        quantile_windows=(),
        oscillator_windows=(),
        volume_windows=(5,),
        corr_windows=(20,),
        candle=True,
        calendar=False,
        cross_sectional=(),
    )


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

    def roll(self, values: pd.Series, window: int, how: str, **kwargs: Any) -> pd.Series:
        return rolling(values, window, self.pos, how, **kwargs)

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
        return bars_since_extreme(b.col(col), w, b.pos, how) / w

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
        return rolling_corr(b.col("close"), b.logv, w, b.pos)

    def return_volume(w: int) -> pd.Series:
        return rolling_corr(b.r1, b.dlogv, w, b.pos)

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


def volume_names(cfg: FeaturesConfig) -> set[str]:
    """The features of `cfg` that read volume, with their cross-sectional ranks."""
    if cfg.preset == "qlib14":
        cfg = qlib14_config(cfg)
    bars = Bars(pd.DataFrame())  # families only name their thunks here; nothing is computed
    names = {name for family in VOLUME_FAMILIES for name in family(bars, cfg)}
    return names | {f"cs_rank_{n}" for n in names}


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


def plan(
    panel: pd.DataFrame, cfg: FeaturesConfig, intraday: bool, volume: bool = True
) -> tuple[Bars, dict[str, Thunk], list[str]]:
    """Every per-ticker feature `cfg` asks for, unevaluated, and the features to rank across
    tickers. Nothing is computed yet. The columns depend on `cfg`, `intraday` and `volume` only,
    never on the data: with one ticker the ranks are 1.0 (set cross_sectional: [] to leave them
    out), so a feature table never gains columns when later data brings a second ticker.
    `volume=False` leaves out the VOLUME_FAMILIES and the ranks of their features."""
    bars = Bars(panel)
    thunks: dict[str, Thunk] = {}
    off: set[str] = set()
    for family in FAMILIES:
        made = family(bars, cfg)
        if not volume and family in VOLUME_FAMILIES:
            off.update(made)
        else:
            thunks.update(made)
    if cfg.calendar:
        thunks.update(calendar_columns(panel["timestamp"], intraday, cfg.calendar_timezone))
    unknown = [n for n in cfg.cross_sectional if n not in thunks and n not in off]
    if unknown:
        raise UpdownError(
            f"features.cross_sectional: {unknown} are not features of this configuration "
            f"(available: {', '.join([*thunks, *sorted(off)])})"
        )
    return bars, thunks, [n for n in cfg.cross_sectional if n not in off]


def cross_sectional_ranks(timestamp: pd.Series, frame: pd.DataFrame) -> pd.DataFrame:
    """Percentile rank (0, 1] of each column among the tickers at the same timestamp; ties share
    their mean rank, NaN stays NaN. Uses values at that timestamp only."""
    codes = pd.Series(pd.factorize(timestamp)[0], index=frame.index)
    return frame.groupby(codes).rank(pct=True)


def make_features(
    panel: pd.DataFrame,
    cfg: FeaturesConfig,
    intraday: bool = False,
    only: Collection[str] | None = None,
    volume: bool = True,
) -> pd.DataFrame:
    """Enabled features for every (ticker, timestamp) of `panel`, float32, NaN where a window is
    not yet full (or a ratio is undefined). Shape: len(panel) rows, ticker + timestamp + features.

    `only` restricts the output to these names (cs_rank_<name> included), computing nothing
    else; `cfg.preset == "qlib14"` means `only=QLIB14` with the windows of `qlib14_config`.
    `volume=False` leaves out every feature that reads volume (VOLUME_FAMILIES), from `only` too.
    """
    check_sorted(panel)
    if cfg.preset == "qlib14":
        cfg, only = qlib14_config(cfg), QLIB14 if only is None else only
    if only is not None and not volume:
        off = volume_names(cfg)
        only = [n for n in only if n not in off]
    _, thunks, ranked = plan(panel, cfg, intraday, volume)
    names = [*thunks, *(f"cs_rank_{n}" for n in ranked)]
    if only is not None:
        missing = [n for n in only if n not in names]
        if missing:
            raise UpdownError(f"features: {missing} are not features of this configuration")
        names = [n for n in names if n in set(only)]
    to_rank = [n for n in ranked if f"cs_rank_{n}" in names]
    base = [n for n in thunks if n in names or n in to_rank]  # ranks need their feature
    # One float32 block, filled a column at a time: intermediates are freed as we go.
    values = np.empty((len(base), len(panel)), dtype=DTYPE)
    for i, name in enumerate(base):
        with np.errstate(all="ignore"):
            col = np.asarray(thunks[name](), dtype="float64")
            values[i] = np.where(np.isfinite(col), col, np.nan)
    features = pd.DataFrame(values.T, columns=base, copy=False)
    if to_rank:
        ranks = cross_sectional_ranks(panel["timestamp"], features[to_rank])
        for n in to_rank:
            features[f"cs_rank_{n}"] = ranks[n].to_numpy(dtype=DTYPE)
    if list(features.columns) != names:
        features = features[names]
    features.insert(0, "timestamp", panel["timestamp"].array)
    features.insert(0, "ticker", panel["ticker"].array)
    return features


def feature_names(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c not in KEYS]


def planned_names(cfg: FeaturesConfig, intraday: bool = False, volume: bool = True) -> list[str]:
    """The feature columns make_features returns under `cfg`, without computing anything."""
    if cfg.preset == "qlib14":
        off = set() if volume else volume_names(cfg)
        return [n for n in QLIB14 if n not in off]
    empty = pd.DataFrame({"ticker": pd.Series([], dtype="str"), "timestamp": pd.Series([])})
    _, thunks, ranked = plan(empty, cfg, intraday, volume)
    return [*thunks, *(f"cs_rank_{n}" for n in ranked)]
