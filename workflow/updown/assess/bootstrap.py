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

Since a row's weight is its bar's multiplicity, a metric made of integer counts (ROC AUC,
accuracy, balanced accuracy) is also a function of per-bar (and, for the AUC, per pair of bars)
counts computed once; every resample is then a few small matrix products instead of a pass over
all rows. The counts are exact in float64, so those draws equal the row-by-row ones to the bit.
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


def pair_counts(
    level: np.ndarray, positive: np.ndarray, bar: np.ndarray, n_bars: int, k: int | None = None
) -> np.ndarray:
    """(n_bars, n_bars) matrix: for positives of bar a (row) against negatives of bar b
    (column), 2 per pair the positive outscores and 1 per tie (twice the Mann-Whitney count).

    Rows sorted by `level` (the rank of the score) are cut into segments of about `k` rows that
    never split a level, so a negative of an earlier segment is strictly below every positive of
    a later one: those pairs come from per-segment counts by (sparse) matrix products. Pairs
    inside a segment are compared one by one, except in a level larger than `k` (a constant
    score, say), a segment of its own whose pairs all tie. Every count is an integer, so the
    result is exact: in float32 (half the memory) while a count is at most twice a bar's
    positives times its negatives, below 2**24; else in float64."""
    n = len(level)
    order = np.argsort(level, kind="stable")
    lv, pos, br = level[order], positive[order].astype(bool), bar[order].astype(np.int64)
    most = 2.0 * np.bincount(br[pos]).max(initial=0) * np.bincount(br[~pos]).max(initial=0)
    m2 = np.zeros((n_bars, n_bars), dtype=np.float32 if most < 2.0**24 else np.float64)
    if n == 0:
        return m2
    k = k or int(np.clip(np.sqrt(n_bars), 16, 128))  # balances the two kinds of work
    starts = np.flatnonzero(np.r_[True, lv[1:] != lv[:-1]])
    sizes = np.diff(np.r_[starts, n])
    big = sizes > k
    bucket = starts // k
    new = np.ones(len(starts), dtype=bool)
    new[1:] = (bucket[1:] != bucket[:-1]) | big[1:] | big[:-1]
    seg_of_level = np.cumsum(new) - 1
    seg = np.repeat(seg_of_level, sizes)
    tie_seg = np.zeros(int(seg_of_level[-1]) + 1, dtype=bool)
    tie_seg[seg_of_level[big]] = True
    _across_segments(m2, seg, np.r_[starts[new], n], tie_seg, pos, br)
    ends = np.repeat(starts + sizes, sizes)  # where each row's level ends
    _inside_segments(m2.reshape(-1), seg, ~tie_seg[seg], ends, lv, pos, br, n_bars)
    return m2


def _across_segments(
    m2: np.ndarray,
    seg: np.ndarray,
    seg_start: np.ndarray,
    tie_seg: np.ndarray,
    pos: np.ndarray,
    br: np.ndarray,
) -> None:
    """Add to `m2` the pairs of rows in different segments (2 each) and in a tied segment (1
    each), a group of segments at a time (bounded memory): inside a group, each positive adds
    the negatives of its group's earlier segments by bar (a sparse product); the negatives of
    earlier groups come from a dense product of per-group counts at the end."""
    from scipy import sparse

    n_bars, dtype = len(m2), m2.dtype  # a group's counts are bounded as m2's: same precision
    n_seg = len(tie_seg)
    group = max(1, (1 << 23) // n_bars)
    n_groups = -(-n_seg // group)
    cols = max(1, (1 << 23) // n_bars)  # columns of m2 per product
    pos_count = np.zeros((n_groups, n_bars))
    neg_below = np.zeros((n_groups, n_bars))
    for g in range(n_groups):
        g0, g1 = g * group, min((g + 1) * group, n_seg)
        r0, r1 = seg_start[g0], seg_start[g1]
        local, is_pos, where = seg[r0:r1] - g0, pos[r0:r1], br[r0:r1]
        q = np.bincount(local[~is_pos] * n_bars + where[~is_pos], minlength=(g1 - g0) * n_bars)
        q = q.reshape(g1 - g0, n_bars).astype(dtype)
        counted = np.empty_like(q)  # 2 x the negatives of the group's earlier segments
        counted[0] = 0
        for r in range(1, g1 - g0):  # row by row: far faster than cumsum along axis 0
            np.add(counted[r - 1], q[r - 1], out=counted[r])
        counted *= 2
        ties = tie_seg[g0:g1]
        if ties.any():
            counted[ties] += q[ties]
        ones = np.ones(int(is_pos.sum()), dtype=dtype)
        pos_in = sparse.csr_matrix((ones, (where[is_pos], local[is_pos])), (n_bars, g1 - g0))
        for c0 in range(0, n_bars, cols):
            m2[:, c0 : c0 + cols] += pos_in @ np.ascontiguousarray(counted[:, c0 : c0 + cols])
        pos_count[g] = np.bincount(where[is_pos], minlength=n_bars)
        if g + 1 < n_groups:
            neg_below[g + 1] = neg_below[g] + q.sum(axis=0, dtype=np.float64)
    neg_below *= 2.0
    for r0 in range(0, n_bars, cols):
        m2[r0 : r0 + cols] += pos_count[:, r0 : r0 + cols].T @ neg_below


def _inside_segments(
    flat: np.ndarray,
    seg: np.ndarray,
    mixed: np.ndarray,
    ends: np.ndarray,
    lv: np.ndarray,
    pos: np.ndarray,
    br: np.ndarray,
    n_bars: int,
) -> None:
    """Add to `flat` (the pair matrix, flattened) the pairs of a positive and a negative in the
    same segment of small levels (`mixed`): 2 when the negative's level is lower, 1 when equal.
    Such negatives are the first few of the segment's (rows are in level order), so the e-th
    pass pairs every positive that has more than e of them with its segment's e-th negative."""
    neg_rows = np.flatnonzero(mixed & ~pos)
    pos_rows = np.flatnonzero(mixed & pos)
    if not len(neg_rows) or not len(pos_rows):
        return
    first_neg = np.searchsorted(neg_rows, np.searchsorted(seg, seg[pos_rows]))
    below = np.searchsorted(neg_rows, ends[pos_rows]) - first_neg  # negatives at or below
    order = np.argsort(-below, kind="stable")
    pos_rows, first_neg, below = pos_rows[order], first_neg[order], below[order]
    active = np.searchsorted(-below, -np.arange(int(below[0])), side="left")  # below > e
    keys: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    pending = 0
    for e, m in enumerate(active):
        i, j = pos_rows[:m], neg_rows[first_neg[:m] + e]
        keys.append(br[i] * n_bars + br[j])
        weights.append(2.0 - (lv[i] == lv[j]))
        pending += m
        if pending > (1 << 21):
            _add_at(flat, np.concatenate(keys), np.concatenate(weights))
            keys, weights, pending = [], [], 0
    if keys:
        _add_at(flat, np.concatenate(keys), np.concatenate(weights))


def _add_at(flat: np.ndarray, keys: np.ndarray, weights: np.ndarray) -> None:
    """flat[keys] += weights, repeated keys adding up; no array of flat's size on the side
    when flat is large."""
    if len(flat) <= 1 << 22:
        flat += np.bincount(keys, weights, len(flat))
        return
    cells, at = np.unique(keys, return_inverse=True)
    flat[cells] += np.bincount(at, weights, len(cells))


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


def block_counts(n_bars: int, cfg: BootstrapConfig) -> np.ndarray:
    """(resamples, n_bars) multiplicities: how often each bar is drawn in each resample."""
    rng = np.random.default_rng(cfg.seed)
    block = max(1, min(cfg.block_bars, n_bars))
    n_blocks = -(-n_bars // block)
    starts = rng.integers(0, n_bars - block + 1, size=(cfg.resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(cfg.resamples, -1)[:, :n_bars]
    cells = (np.arange(cfg.resamples)[:, None] * n_bars + idx).reshape(-1)
    counts = np.bincount(cells, minlength=cfg.resamples * n_bars)
    return counts.reshape(cfg.resamples, n_bars).astype(np.int32)


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
    one_by_one = {name: s for name, s in scorers.items() if s.batch is None}
    for name, scorer in scorers.items():
        if scorer.batch is not None:
            draws[name][:] = scorer.batch(counts)
    rows_needed = any(not s.per_bar for s in one_by_one.values())
    n_rows = len(bar_of_row)
    for b in range(cfg.resamples if one_by_one else 0):
        bar_w = counts[b].astype(float)
        row_w = bar_w[bar_of_row] if rows_needed else np.empty(0)
        for name, scorer in one_by_one.items():
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
