"""The signal sheet (alphalens-style): what each contender's score predicts of the return it could
actually trade, how fast that fades with the holding horizon, and how much trading it implies.

For every contender (the model and each baseline) and every horizon h of `evaluate.horizons`:

- the IC (Pearson) and rank IC (Spearman) of the score against the tradable forward return
  (`updown.returns.forward_returns` from the label's entry point, h bars; never across a gap).
  With several tickers, the cross-sectional correlation of each bar averaged over the bars (as
  alphalens and Qlib); with one ticker, the time-series correlation over the test rows. Each
  with a moving-block bootstrap interval over the bars (`updown.assess.bootstrap`);
- the mean forward return by score quantile (`evaluate.quantiles`, per bar across tickers, or
  over time for one ticker) and the top-minus-bottom spread.

And once per contender (it does not depend on h): the rank autocorrelation of the score from one
bar to the next (alphalens' factor_rank_autocorrelation; for one ticker, the lag-1 rank
autocorrelation of its score over time) and the turnover it implies: the share of the top
quantile's members that were not in it the bar before.

Horizons overlap: the returns of bars less than h apart share h - 1 bars, so a block of the
bootstrap must be longer than h. Each horizon's blocks are max(evaluate.bootstrap.block_bars,
h + 1) bars; a test period too short for 20 such blocks gets no interval at that horizon (the
same bound as the headline's, `bootstrap.check_design`). Everything is vectorised over rows
(bincount sums, one sort per ranking): no loop over bars or tickers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from updown.assess.bootstrap import MIN_BLOCKS, Interval, block_counts
from updown.config import BootstrapConfig
from updown.panel import value_changes
from updown.returns import forward_returns


@dataclass(frozen=True)
class Keys:
    """The test rows' layout: bar (0..n_bars-1, time order) of each row, and each row's previous
    row of the same ticker at the bar just before (-1: none)."""

    bar: np.ndarray
    n_bars: int
    prev: np.ndarray
    cross_sectional: bool  # several tickers: statistics per bar; one: over time

    @property
    def group(self) -> np.ndarray:
        """What a quantile is formed within: the bar (several tickers) or the whole period."""
        return self.bar if self.cross_sectional else np.zeros(len(self.bar), dtype=np.int64)


def row_keys(pred: pd.DataFrame) -> Keys:
    """`pred` sorted by (ticker, timestamp), as evaluate's predictions are."""
    codes, bars = pd.factorize(pred["timestamp"], sort=True)
    bar = np.asarray(codes, dtype=np.int64)
    prev = np.full(len(bar), -1, dtype=np.int64)
    if len(bar) > 1:
        follows = ~value_changes(pred["ticker"]) & (bar[1:] == bar[:-1] + 1)
        prev[1:][follows] = np.arange(len(bar) - 1)[follows]
    return Keys(bar, len(bars), prev, bool(pred["ticker"].nunique() > 1))


def tradable_returns(
    pred: pd.DataFrame, prices: pd.DataFrame, entry: str, horizons: tuple[int, ...]
) -> dict[int, np.ndarray]:
    """For each horizon: the forward log return of each row of `pred` from `entry` (NaN where it
    would pass the ticker's or gap segment's last bar). Only the test period's price rows are
    read; trimming earlier rows changes no lead."""
    tickers = pred["ticker"].unique()
    keep = prices["ticker"].isin(tickers) & (prices["timestamp"] >= pred["timestamp"].min())
    panel = prices[keep.to_numpy()].reset_index(drop=True)
    at = pd.MultiIndex.from_arrays([panel["ticker"], panel["timestamp"]]).get_indexer(
        pd.MultiIndex.from_arrays([pred["ticker"], pred["timestamp"]])
    )
    out = {}
    for h in horizons:
        r = forward_returns(panel, entry, h)[0].to_numpy(dtype=float)
        out[h] = np.where(at >= 0, r[np.maximum(at, 0)], np.nan)
    return out


# -- correlations --------------------------------------------------------------------------------


def _spread(bar: np.ndarray, x: np.ndarray, n_bars: int) -> np.ndarray:
    """Largest minus smallest value in each bar (exact: a constant bar gives 0)."""
    hi = np.full(n_bars, -np.inf)
    lo = np.full(n_bars, np.inf)
    np.maximum.at(hi, bar, x)
    np.minimum.at(lo, bar, x)
    return hi - lo


def bar_corr(bar: np.ndarray, x: np.ndarray, y: np.ndarray, n_bars: int) -> np.ndarray:
    """Pearson correlation of x and y within each bar (bincount sums, no groupby). A bar whose x
    is constant has no ranking: 0; fewer than two rows or a constant y: NaN (as the headline's
    `scoring.per_bar_corr`)."""
    n = np.bincount(bar, minlength=n_bars).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (np.bincount(bar, x, n_bars) / n)[bar]
        dy = y - (np.bincount(bar, y, n_bars) / n)[bar]
        sxx = np.bincount(bar, dx * dx, n_bars)
        syy = np.bincount(bar, dy * dy, n_bars)
        ic = np.bincount(bar, dx * dy, n_bars) / np.sqrt(sxx * syy)
    ic = np.where(_spread(bar, x, n_bars) == 0, 0.0, ic)
    return np.where((n < 2) | ~(_spread(bar, y, n_bars) > 0), np.nan, ic)


def rank_within(group: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Average rank of x within its group (1 = lowest; ties share the mean of their ranks), as
    pandas' groupby rank but from one sort (x finite)."""
    n = len(x)
    if not n:
        return np.empty(0)
    order = np.lexsort((x, group))
    g, v = group[order], x[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_value = new_group | np.r_[True, v[1:] != v[:-1]]
    pos = np.arange(n, dtype=float)
    first_of_group = np.maximum.accumulate(np.where(new_group, pos, 0.0))
    run = np.cumsum(new_value) - 1  # the run of equal values each sorted row belongs to
    run_start = pos[new_value]
    run_end = np.r_[run_start[1:], n] - 1
    mean_pos = (run_start + run_end)[run] / 2.0
    out = np.empty(n)
    out[order] = mean_pos - first_of_group + 1.0
    return out


def _dot(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m @ v without BLAS: its threads only contend with the other stages' on a busy machine
    (30x slower there for these small products)."""
    return np.einsum("ij,j->i", m, v)


def ranks_where(group: np.ndarray, x: np.ndarray, ok: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Ranks of x within its group among the rows where `ok` (NaN elsewhere), from `full` (the
    ranks among all rows): only groups that lose some but not all rows are ranked again."""
    out = np.where(ok, full, np.nan)
    kept = np.bincount(group, ok)
    partial = (kept > 0) & (kept < np.bincount(group))
    rows = ok & partial[group]
    if rows.any():
        out[rows] = rank_within(group[rows], x[rows])
    return out


def _bar_mean_draws(per_bar: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of a per-bar figure over each resample's drawn bars (NaN bars skipped)."""
    ok = np.isfinite(per_bar)
    c = counts if counts.dtype == np.float64 else counts.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _dot(c, np.where(ok, per_bar, 0.0)) / _dot(c, ok.astype(float))


def _series_corr_draws(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of x and y for each row of weights `w` (resamples, rows)."""
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = _dot(w, x) / sw, _dot(w, y) / sw
        vx = _dot(w, x * x) / sw - mx * mx
        vy = _dot(w, y * y) / sw - my * my
        return (_dot(w, x * y) / sw - mx * my) / np.sqrt(vx * vy)


def _interval(point: float, draws: np.ndarray | None, confidence: float) -> Interval:
    if draws is None:
        return Interval(point, float("nan"), float("nan"))
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Interval(point, float("nan"), float("nan"))
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(point, float(lo), float(hi))


def correlation(
    keys: Keys, x: np.ndarray, y: np.ndarray, counts: np.ndarray | None, confidence: float
) -> Interval:
    """The IC of x against y (rows where both are finite): mean cross-sectional correlation per
    bar, or one time series; with its bootstrap interval when `counts` (resamples, n_bars)."""
    ok = np.isfinite(x) & np.isfinite(y)
    bar, x, y = keys.bar[ok], x[ok], y[ok]
    if keys.cross_sectional:
        per_bar = bar_corr(bar, x, y, keys.n_bars)
        point = float(np.nanmean(per_bar)) if np.isfinite(per_bar).any() else float("nan")
        draws = None if counts is None else _bar_mean_draws(per_bar, counts)
        return _interval(point, draws, confidence)
    if len(x) < 3 or np.ptp(x) == 0:
        return Interval(0.0 if len(x) >= 3 else float("nan"), float("nan"), float("nan"))
    point = float(np.corrcoef(x, y)[0, 1])
    draws = None if counts is None else _series_corr_draws(x, y, counts[:, bar])
    return _interval(point, draws, confidence)


# -- quantiles -----------------------------------------------------------------------------------


def quantile_of(group: np.ndarray, rank: np.ndarray, quantiles: int) -> np.ndarray:
    """Quantile (0 lowest .. quantiles-1 highest) of each row's score within its group, equal
    counts by rank; ties share a quantile (a constant score lands in the middle, so it has no
    top or bottom). A group of n < `quantiles` rows uses n bins spread over the whole range,
    so its lowest and highest rows are still the bottom and top quantiles; -1: a group of one."""
    ranked = np.isfinite(rank)
    n = np.bincount(group, ranked)[group]
    bins = np.minimum(n, quantiles)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.minimum(np.floor((rank - 1.0) * bins / n), bins - 1)
        q = np.round(b * (quantiles - 1) / (bins - 1))
    return np.where(ranked & (bins > 1), q, -1).astype(np.int64)


def quantile_returns(
    group: np.ndarray, q: np.ndarray, ret: np.ndarray, quantiles: int
) -> tuple[np.ndarray, float]:
    """Mean forward return of each quantile (per group, then averaged over the groups that hold
    it) and the mean over groups of the top-minus-bottom spread."""
    ok = (q >= 0) & np.isfinite(ret)
    cell = group[ok] * quantiles + q[ok]
    size = int(group.max(initial=0) + 1) * quantiles
    with np.errstate(invalid="ignore", divide="ignore"):
        table = (np.bincount(cell, ret[ok], size) / np.bincount(cell, minlength=size)).reshape(
            -1, quantiles
        )
    means = np.array(
        [np.nanmean(col) if np.isfinite(col).any() else np.nan for col in table.T], dtype=float
    )
    spread = table[:, -1] - table[:, 0]
    return means, float(np.nanmean(spread)) if np.isfinite(spread).any() else float("nan")


# -- stability -----------------------------------------------------------------------------------


def rank_autocorrelation(keys: Keys, rank: np.ndarray) -> float:
    """How alike the score's ranking is from one bar to the next: the mean over bars of the
    cross-sectional correlation of this bar's ranks with the same tickers' ranks the bar before
    (alphalens), or for one ticker the lag-1 correlation of its score's ranks over time."""
    pair = np.flatnonzero(keys.prev >= 0)
    if not len(pair):
        return float("nan")
    if keys.cross_sectional:
        per_bar = bar_corr(keys.bar[pair], rank[pair], rank[keys.prev[pair]], keys.n_bars)
        return float(np.nanmean(per_bar)) if np.isfinite(per_bar).any() else float("nan")
    a, b = rank[pair], rank[keys.prev[pair]]
    return float(np.corrcoef(a, b)[0, 1]) if np.ptp(a) > 0 and np.ptp(b) > 0 else float("nan")


def top_turnover(keys: Keys, q: np.ndarray, quantiles: int) -> float:
    """The mean share of the top quantile's members (tickers, or for one ticker its bars in the
    top quantile) that were not in it the bar before: what holding the top quantile trades."""
    top = q == quantiles - 1
    was_top = np.zeros(len(top), dtype=bool)
    has_prev = keys.prev >= 0
    was_top[has_prev] = top[keys.prev[has_prev]]
    later = keys.bar > 0  # the first test bar has no bar before it
    members = np.bincount(keys.bar[top & later], minlength=keys.n_bars)
    new = np.bincount(keys.bar[top & later & ~was_top], minlength=keys.n_bars)
    held = members > 0
    return float((new[held] / members[held]).mean()) if held.any() else float("nan")


# -- the sheet -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContenderSignal:
    """One contender's sheet; dicts keyed by horizon (bars)."""

    ic: dict[int, Interval]
    rank_ic: dict[int, Interval]
    quantile_means: dict[int, np.ndarray]  # mean forward log return of quantile 1 (low) .. Q
    spread: dict[int, float]  # top minus bottom quantile
    rank_autocorr: float
    turnover: float

    def section(self, with_quantiles: bool) -> dict[str, float]:
        out: dict[str, float] = {}
        for h, iv in self.ic.items():
            out |= {f"ic_h{h}": iv.point, f"ic_h{h}_lo": iv.lo, f"ic_h{h}_hi": iv.hi}
        for h, iv in self.rank_ic.items():
            out |= {f"rank_ic_h{h}": iv.point, f"rank_ic_h{h}_lo": iv.lo, f"rank_ic_h{h}_hi": iv.hi}
        out |= {f"spread_h{h}": s for h, s in self.spread.items()}
        if with_quantiles:
            for h, means in self.quantile_means.items():
                out |= {f"q{k + 1}_h{h}": float(m) for k, m in enumerate(means)}
        return out | {"rank_autocorr": self.rank_autocorr, "top_turnover": self.turnover}


@dataclass(frozen=True)
class SignalSheet:
    entry: str  # where the tradable return starts (updown.returns)
    horizons: tuple[int, ...]
    quantiles: int
    cross_sectional: bool  # several tickers: per-bar statistics; one: over time
    contenders: dict[str, ContenderSignal]
    no_interval: dict[int, str]  # horizon -> why it has no interval (absent: it has one)
    n_bars: int

    def sections(self) -> dict[str, dict[str, float]]:
        """metrics.json's `signal_<contender>` sections (the model's with its quantiles)."""
        return {f"signal_{name}": c.section(name == "model") for name, c in self.contenders.items()}


def horizon_counts(
    n_bars: int, horizon: int, cfg: BootstrapConfig
) -> tuple[np.ndarray | None, str | None]:
    """The block resamples for one horizon (blocks longer than it), or why there are none."""
    block = max(cfg.block_bars, horizon + 1)
    if n_bars < MIN_BLOCKS * block:
        return None, (
            f"{n_bars} test bars are too few for {MIN_BLOCKS} blocks of {block} bars (blocks "
            f"must be longer than the {horizon}-bar horizon, whose returns overlap)"
        )
    return block_counts(n_bars, replace(cfg, block_bars=block)).astype(np.float64), None


def no_ranking(horizons: tuple[int, ...], quantiles: int) -> ContenderSignal:
    """The sheet of a constant score (the majority baseline): it ranks nothing, so every figure
    is undefined (NaN, left out of metrics.json) rather than a hollow 0 with a zero interval."""
    nan = float("nan")
    none = Interval(nan, nan, nan)
    return ContenderSignal(
        {h: none for h in horizons},
        {h: none for h in horizons},
        {h: np.full(quantiles, nan) for h in horizons},
        {h: nan for h in horizons},
        nan,
        nan,
    )


def contender_signal(
    keys: Keys,
    score: np.ndarray,
    returns: dict[int, np.ndarray],
    ret_rank: dict[int, np.ndarray],
    counts: dict[int, np.ndarray | None],
    quantiles: int,
    confidence: float,
) -> ContenderSignal:
    has = np.isfinite(score)
    if not has.any() or np.ptp(score[has]) == 0:
        return no_ranking(tuple(returns), quantiles)
    rank = ranks_where(keys.group, score, has, rank_within(keys.group, np.nan_to_num(score)))
    q = quantile_of(keys.group, rank, quantiles)
    ic, rank_ic, means, spread = {}, {}, {}, {}
    for h, ret in returns.items():
        score_rank = ranks_where(keys.group, score, np.isfinite(ret) & has, rank)
        ic[h] = correlation(keys, score, ret, counts[h], confidence)
        rank_ic[h] = correlation(keys, score_rank, ret_rank[h], counts[h], confidence)
        means[h], spread[h] = quantile_returns(keys.group, q, ret, quantiles)
    rank_auto = rank_autocorrelation(keys, rank)
    return ContenderSignal(ic, rank_ic, means, spread, rank_auto, top_turnover(keys, q, quantiles))


def signal_sheet(
    pred: pd.DataFrame,
    prices: pd.DataFrame,
    contenders: list[str],
    entry: str,
    horizons: tuple[int, ...],
    quantiles: int,
    boot: BootstrapConfig,
) -> SignalSheet:
    """The sheet for every contender's `score_<name>` column of `pred` (test rows, sorted by
    ticker and timestamp) against the returns tradable from `entry` in `prices` (the panel)."""
    keys = row_keys(pred)
    returns = tradable_returns(pred, prices, entry, horizons)
    ret_rank, counts, why = {}, {}, {}
    for h, ret in returns.items():
        ok = np.isfinite(ret)
        ret_rank[h] = np.full(len(ret), np.nan)
        ret_rank[h][ok] = rank_within(keys.group[ok], ret[ok])  # one sort per horizon
        counts[h], reason = horizon_counts(keys.n_bars, h, boot)
        if reason:
            why[h] = reason
    sheet = {
        name: contender_signal(
            keys, pred[f"score_{name}"].to_numpy(dtype=float), returns, ret_rank, counts,
            quantiles, boot.confidence,
        )
        for name in contenders
    }  # fmt: skip
    return SignalSheet(entry, horizons, quantiles, keys.cross_sectional, sheet, why, keys.n_bars)
