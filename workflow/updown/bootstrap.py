"""Moving-block bootstrap over time for the headline metric, paired across contenders.

Rows are not independent: the tickers of one bar share the market's move, and neighbouring bars
share volatility regimes (and, with a horizon above one bar, overlapping labels). So a resample
draws whole bars (every ticker of a bar together) in runs of `block_bars` consecutive bars. Each
resample is a multiplicity per bar; every contender is scored on the same resample, so the
difference model - baseline is bootstrapped pairwise, which is far tighter than comparing two
separate intervals.

Every metric is written as a weighted statistic (a row counts as often as its bar was drawn), so
no resampled frame is ever built. Rank IC over rows uses the ranks of the full test block rather
than re-ranking each resample: a standard, slightly conservative approximation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from updown.config import BootstrapConfig

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "ic": True,
    "rank_ic": True,
    "ic_mean": True,
    "rank_ic_mean": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
}
PER_BAR = {"ic_mean", "rank_ic_mean"}


@dataclass(frozen=True)
class Scorer:
    """A metric as a function of row weights and bar weights (ones give the point estimate)."""

    per_bar: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    def point(self, n_rows: int, n_bars: int) -> float:
        return self.fn(np.ones(n_rows), np.ones(n_bars))


def weighted_mean(values: np.ndarray) -> Scorer:
    return Scorer(False, lambda w, _: float(np.dot(w, values) / w.sum()))


def weighted_rmse(err: np.ndarray) -> Scorer:
    sq = err**2
    return Scorer(False, lambda w, _: float(np.sqrt(np.dot(w, sq) / w.sum())))


def weighted_balanced_accuracy(correct: np.ndarray, positive: np.ndarray) -> Scorer:
    pos, neg = correct * positive, correct * ~positive

    def fn(w: np.ndarray, _: np.ndarray) -> float:
        wp, wn = np.dot(w, positive), np.dot(w, ~positive)
        if wp == 0 or wn == 0:
            return float("nan")
        return float(0.5 * (np.dot(w, pos) / wp + np.dot(w, neg) / wn))

    return Scorer(False, fn)


def weighted_auc(score: np.ndarray, positive: np.ndarray) -> Scorer:
    """Mann-Whitney AUC with row weights; tied scores count one half."""
    levels, inv = np.unique(score, return_inverse=True)
    k = len(levels)
    pos = positive.astype(float)
    neg = 1.0 - pos

    def fn(w: np.ndarray, _: np.ndarray) -> float:
        wp = np.bincount(inv, weights=w * pos, minlength=k)
        wn = np.bincount(inv, weights=w * neg, minlength=k)
        total_p, total_n = wp.sum(), wn.sum()
        if total_p == 0 or total_n == 0:
            return float("nan")
        below = np.cumsum(wn) - wn
        return float(np.dot(wp, below + 0.5 * wn) / (total_p * total_n))

    return Scorer(False, fn)


def weighted_corr(x: np.ndarray, y: np.ndarray) -> Scorer:
    """Weighted Pearson correlation; a constant `x` (no ranking at all) scores 0."""
    constant = bool(np.ptp(x) == 0) if len(x) else True

    def fn(w: np.ndarray, _: np.ndarray) -> float:
        if constant:
            return 0.0
        sw = w.sum()
        mx, my = np.dot(w, x) / sw, np.dot(w, y) / sw
        dx, dy = x - mx, y - my
        vx, vy = np.dot(w, dx * dx), np.dot(w, dy * dy)
        if vx == 0 or vy == 0:
            return float("nan")
        return float(np.dot(w, dx * dy) / np.sqrt(vx * vy))

    return Scorer(False, fn)


def weighted_bar_mean(per_bar: np.ndarray) -> Scorer:
    """Mean of a per-bar statistic (e.g. the cross-sectional rank IC) over the drawn bars."""
    ok = np.isfinite(per_bar)
    vals = np.where(ok, per_bar, 0.0)

    def fn(_: np.ndarray, bw: np.ndarray) -> float:
        wb = bw * ok
        return float(np.dot(wb, vals) / wb.sum()) if wb.sum() else float("nan")

    return Scorer(True, fn)


def block_counts(n_bars: int, cfg: BootstrapConfig) -> np.ndarray:
    """(resamples, n_bars) multiplicities: how often each bar is drawn in each resample."""
    rng = np.random.default_rng(cfg.seed)
    block = max(1, min(cfg.block_bars, n_bars))
    n_blocks = -(-n_bars // block)
    starts = rng.integers(0, n_bars - block + 1, size=(cfg.resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(cfg.resamples, -1)[:, :n_bars]
    counts = np.zeros((cfg.resamples, n_bars), dtype=np.int32)
    np.add.at(counts, (np.arange(cfg.resamples)[:, None], idx), 1)
    return counts


@dataclass(frozen=True)
class Interval:
    point: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Comparison:
    """Model minus baseline, signed so that positive always means "the model is better"."""

    improvement: Interval
    verdict: int  # 1 better beyond the interval, -1 worse beyond it, 0 cannot tell


def _interval(point: float, draws: np.ndarray, confidence: float) -> Interval:
    alpha = (1.0 - confidence) / 2.0
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Interval(point, float("nan"), float("nan"))
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(point, float(lo), float(hi))


def paired_bootstrap(
    scorers: dict[str, Scorer],
    bar_of_row: np.ndarray,
    n_bars: int,
    metric: str,
    cfg: BootstrapConfig,
    reference: str = "model",
) -> tuple[dict[str, Interval], dict[str, Comparison]]:
    """Confidence intervals of `metric` for every contender and of the reference's improvement
    over each other contender, all from the same block resamples of the bars."""
    counts = block_counts(n_bars, cfg)
    draws = {name: np.empty(cfg.resamples) for name in scorers}
    rows_needed = any(not s.per_bar for s in scorers.values())
    n_rows = len(bar_of_row)
    for b in range(cfg.resamples):
        bar_w = counts[b].astype(float)
        row_w = bar_w[bar_of_row] if rows_needed else np.empty(0)
        for name, scorer in scorers.items():
            draws[name][b] = scorer.fn(row_w, bar_w)
    points = {name: s.point(n_rows, n_bars) for name, s in scorers.items()}
    intervals = {name: _interval(points[name], draws[name], cfg.confidence) for name in scorers}
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    comparisons = {}
    for name in scorers:
        if name == reference:
            continue
        diff = sign * (draws[reference] - draws[name])
        iv = _interval(sign * (points[reference] - points[name]), diff, cfg.confidence)
        verdict = 1 if iv.lo > 0 else -1 if iv.hi < 0 else 0
        comparisons[name] = Comparison(iv, verdict)
    return intervals, comparisons
