"""Features at bar t from data up to and including the close of bar t, never later.

Each family maps the adjusted panel to named columns, parameterised by its windows
(`features.<family>_windows` in params.yaml; an empty list switches the family off). The whole
panel is computed in one vectorised pass per feature: shifts and rolling windows run over entire
columns and stop at each ticker's first row (see updown.panel), so there is no Python loop over
rows or tickers, and a value at bar t depends on its own ticker's bars up to t only (the
cross-sectional ranks, by design, also on the other tickers' values at t). A gap longer than
validate.max_gap_days starts a new segment (the panel's `segment` column), where every window
and lag restarts as at a ticker's first row: no feature spans a gap.

The families and their columns are listed in updown.learn.indicators.

`features.preset: qlib14` computes QLIB14, a fixed 14-feature set standing in for the dataset of
Qlib's published data-server benchmark (14 features from daily OHLCV; Qlib does not list its
expressions, so this set takes one or two of each operator kind that task exercises: reference,
mean, std, max/min, correlation and bar shape). Columns are float32: LightGBM bins them anyway and
the panel of 100+ features stays well under the memory budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.contract import KEYS
from updown.errors import UpdownError
from updown.learn.indicators import FAMILIES, VOLUME_FAMILIES, Bars, Thunk, calendar_columns
from updown.panel import check_sorted, ticker_spans

DTYPE = np.float32
# Rows a thread must have to be worth starting (make_features' `threads`).
THREAD_ROWS = 50_000

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


def volume_names(cfg: FeaturesConfig) -> set[str]:
    """The features of `cfg` that read volume, with their cross-sectional ranks."""
    if cfg.preset == "qlib14":
        cfg = qlib14_config(cfg)
    bars = Bars(pd.DataFrame())  # families only name their thunks here; nothing is computed
    names = {name for family in VOLUME_FAMILIES for name in family(bars, cfg)}
    return names | {f"cs_rank_{n}" for n in names}


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


def cross_sectional_ranks(
    timestamp: pd.Series, frame: pd.DataFrame, threads: int = 1
) -> pd.DataFrame:
    """Percentile rank (0, 1] of each column among the tickers at the same timestamp; ties share
    their mean rank, NaN stays NaN. Uses values at that timestamp only. The same numbers as
    pandas' `groupby(timestamp).rank(pct=True)`, from one sort per column instead of its
    per-group pass (5x faster on the S&P panel); columns on `threads` threads."""
    codes = pd.factorize(timestamp)[0]
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        ranked = pool.map(lambda name: _group_pct_rank(codes, frame[name].to_numpy()), frame)
        return pd.DataFrame(dict(zip(frame.columns, ranked, strict=True)), index=frame.index)


def _group_pct_rank(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Average rank within each group over the group's count of non-NaN values, float64, NaN for
    NaN. The mean rank of a tie is (first + last) / 2, a half-integer held exactly, so dividing by
    the count rounds once, as pandas' sum-of-ranks / ties / count does."""
    n = len(values)
    out = np.full(n, np.nan)
    valid = ~np.isnan(values)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return out
    group, value = codes[rows], values[rows]
    order = _group_value_order(group, value)
    group, value = group[order], value[order]
    idx = np.arange(len(rows), dtype=np.int64)
    new_group = np.r_[True, group[1:] != group[:-1]]
    new_tie = new_group | np.r_[True, value[1:] != value[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    tie_start = np.maximum.accumulate(np.where(new_tie, idx, 0))
    tie_end = np.minimum.accumulate(np.where(np.r_[new_tie[1:], True], idx, len(idx))[::-1])[::-1]
    count = np.diff(np.r_[np.flatnonzero(new_group), len(idx)])[np.cumsum(new_group) - 1]
    mean_rank = ((tie_start - group_start + 1) + (tie_end - group_start + 1)) / 2.0
    out[rows[order]] = mean_rank / count
    return out


def _group_value_order(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The order sorting rows by group, then value (no NaN). float32 values: one sort of a 64-bit
    key, the group above the value's bits mapped to an unsigned integer of the same order (a
    third of the time of the two-key sort)."""
    if value.dtype != np.float32:
        return np.lexsort((value, group))
    bits = value.view(np.uint32)
    ordered = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    return np.argsort(ordered | (group.astype(np.uint64) << np.uint64(32)), kind="stable")


def _fill(values: np.ndarray, thunks: dict[str, Thunk], names: list[str]) -> None:
    """Row i of `values` (float32) := feature names[i], an infinity or a NaN as NaN. A finite
    value beyond float32's range stays the infinity the cast makes of it."""
    for i, name in enumerate(names):
        with np.errstate(all="ignore"):
            col = np.asarray(thunks[name](), dtype="float64")
            values[i] = col
            bad = ~np.isfinite(col)
            if bad.any():
                values[i, bad] = np.nan


def make_features(
    panel: pd.DataFrame,
    cfg: FeaturesConfig,
    intraday: bool = False,
    only: Collection[str] | None = None,
    volume: bool = True,
    threads: int = 1,
) -> pd.DataFrame:
    """Enabled features for every (ticker, timestamp) of `panel`, float32, NaN where a window is
    not yet full (or a ratio is undefined). Shape: len(panel) rows, ticker + timestamp + features.

    `only` restricts the output to these names (cs_rank_<name> included), computing nothing
    else; `cfg.preset == "qlib14"` means `only=QLIB14` with the windows of `qlib14_config`.
    `volume=False` leaves out every feature that reads volume (VOLUME_FAMILIES), from `only` too.
    `threads` > 1 computes whole tickers on each thread (numpy and pandas' windows release the
    GIL: 1.7x on two), panels of at least THREAD_ROWS rows per thread; the same values.
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
    spans = ticker_spans(panel["ticker"], min(threads, len(panel) // THREAD_ROWS))
    if len(spans) == 1:
        _fill(values, thunks, base)
    else:  # whole tickers per thread, each on its own Bars: nothing shared but the block

        def fill_span(rows: slice) -> None:
            part = panel.iloc[rows].reset_index(drop=True)
            _fill(values[:, rows], plan(part, cfg, intraday, volume)[1], base)

        with ThreadPoolExecutor(len(spans)) as pool:
            list(pool.map(fill_span, spans))
    features = pd.DataFrame(values.T, columns=base, copy=False)
    if to_rank:
        ranks = cross_sectional_ranks(panel["timestamp"], features[to_rank], threads)
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
