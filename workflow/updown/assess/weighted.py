"""Every metric as a weighted statistic: a function of row weights and bar weights, so a
bootstrap resample (a multiplicity per bar) is scored without building a resampled frame.

Since a row's weight is its bar's multiplicity, a metric made of integer counts (ROC AUC,
accuracy, balanced accuracy) is also a function of per-bar (and, for the AUC, per pair of bars)
counts computed once; every resample is then a few small matrix products instead of a pass over
all rows. The counts are exact in float64, so those draws equal the row-by-row ones to the bit.
Rank IC over rows uses the ranks of the full test block rather than re-ranking each resample: a
standard, slightly conservative approximation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from updown.assess.pair_counts import pair_counts

# Largest number of bars for which the AUC's (bars x bars) pair-count matrix is built (0.5 GB);
# above it each resample is one pass over the rows instead.
MAX_PAIR_BARS = 8192


@dataclass(frozen=True)
class Scorer:
    """A metric as a function of row weights and bar weights (ones give the point estimate).

    `batch`, when set, scores many resamples at once from their (resamples, n_bars) bar
    multiplicities, with exactly the values `fn` gives for the same weights."""

    per_bar: bool
    fn: Callable[[np.ndarray, np.ndarray], float]
    batch: Callable[[np.ndarray], np.ndarray] | None = None

    def point(self, n_rows: int, n_bars: int) -> float:
        return self.fn(np.ones(n_rows), np.ones(n_bars))


def _exact_sums(values: np.ndarray, bar: np.ndarray | None, n_bars: int | None) -> bool:
    """True when weighted sums of `values` are exact in float64 whatever the order of the sums
    (small integers, e.g. 0/1 hits): per-bar sums then give the row-by-row result to the bit."""
    if bar is None or n_bars is None or not len(values):
        return False
    with np.errstate(invalid="ignore"):
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            return False
    # A resample draws n_bars bars, each at most all its rows: the sums stay far below 2**53.
    most = float(np.abs(values).max()) * n_bars * float(np.bincount(bar).max())
    return most < 2.0**50


def _bar_sums(bar: np.ndarray, n_bars: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(bar, weights=values.astype(float), minlength=n_bars)


def weighted_mean(
    values: np.ndarray, bar: np.ndarray | None = None, n_bars: int | None = None
) -> Scorer:
    batch = None
    if bar is not None and n_bars is not None and _exact_sums(values, bar, n_bars):
        sums, rows = _bar_sums(bar, n_bars, values), _bar_sums(bar, n_bars, np.ones(len(bar)))

        def batch(counts: np.ndarray) -> np.ndarray:
            c = counts.astype(float)
            return np.asarray((c @ sums) / (c @ rows), dtype=float)

    return Scorer(False, lambda w, _: float(np.dot(w, values) / w.sum()), batch)


def weighted_rmse(err: np.ndarray) -> Scorer:
    sq = err**2
    return Scorer(False, lambda w, _: float(np.sqrt(np.dot(w, sq) / w.sum())))


def weighted_balanced_accuracy(
    correct: np.ndarray,
    positive: np.ndarray,
    bar: np.ndarray | None = None,
    n_bars: int | None = None,
) -> Scorer:
    pos, neg = correct * positive, correct * ~positive

    def fn(w: np.ndarray, _: np.ndarray) -> float:
        wp, wn = np.dot(w, positive), np.dot(w, ~positive)
        if wp == 0 or wn == 0:
            return float("nan")
        return float(0.5 * (np.dot(w, pos) / wp + np.dot(w, neg) / wn))

    batch = None
    if bar is not None and n_bars is not None and _exact_sums(correct, bar, n_bars):
        sums = [_bar_sums(bar, n_bars, v) for v in (positive, ~positive, pos, neg)]

        def batch(counts: np.ndarray) -> np.ndarray:
            c = counts.astype(float)
            wp, wn, hit_p, hit_n = (c @ v for v in sums)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = 0.5 * (hit_p / wp + hit_n / wn)
            return np.where((wp == 0) | (wn == 0), np.nan, out)

    return Scorer(False, fn, batch)


def weighted_auc(
    score: np.ndarray,
    positive: np.ndarray,
    bar: np.ndarray | None = None,
    n_bars: int | None = None,
) -> Scorer:
    """Mann-Whitney AUC with row weights; tied scores count one half.

    Given the bar of each row, resamples are scored in batches from pair counts per two bars
    (few bars) or from one cumulative sum over the negatives per resample (many bars)."""
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

    if bar is None or n_bars is None or not len(bar):
        return Scorer(False, fn)
    if 2.0 * (n_bars * float(np.bincount(bar).max())) ** 2 >= 2.0**53:
        return Scorer(False, fn)  # pair counts of a resample could lose their exactness
    level = np.asarray(inv).reshape(-1)
    is_pos = positive.astype(bool)

    def batch(counts: np.ndarray) -> np.ndarray:
        c = counts.astype(float)
        wp = c @ _bar_sums(bar, n_bars, is_pos)
        wn = c @ _bar_sums(bar, n_bars, ~is_pos)
        if n_bars <= MAX_PAIR_BARS:
            m2 = pair_counts(level, is_pos, bar, n_bars)
            num2 = np.zeros(len(c))
            step = max(1, (1 << 22) // n_bars)  # columns of m2 at a time, in float64
            for c0 in range(0, n_bars, step):
                part = c @ m2[:, c0 : c0 + step].astype(np.float64)
                num2 += np.einsum("rb,rb->r", part, c[:, c0 : c0 + step])
        else:
            num2 = _auc_pairs_by_rows(level, is_pos, bar, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (0.5 * num2) / (wp * wn)
        return np.where((wp == 0) | (wn == 0), np.nan, out)

    return Scorer(False, fn, batch)


def _auc_pairs_by_rows(
    level: np.ndarray, positive: np.ndarray, bar: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """Twice the weighted Mann-Whitney count for each row of bar weights `c`: per resample, a
    cumulative sum of the negatives' weights in score order read at each positive's level."""
    neg_order = np.argsort(level[~positive], kind="stable")
    neg_level = level[~positive][neg_order]
    neg_bar = bar[~positive][neg_order]
    lo = np.searchsorted(neg_level, level[positive], side="left")
    hi = np.searchsorted(neg_level, level[positive], side="right")
    near = np.argsort(lo, kind="stable")  # read the cumulative sums in order
    lo, hi, pos_bar = lo[near], hi[near], bar[positive][near]
    cum = np.zeros(len(neg_level) + 1)
    out = np.empty(len(c))
    for r, weights in enumerate(c):
        np.cumsum(weights[neg_bar], out=cum[1:])
        out[r] = np.dot(weights[pos_bar], cum[lo] + cum[hi])
    return out


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
