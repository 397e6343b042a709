"""The AUC's pair counts per two bars: for the positives of one bar against the negatives of
another, how often the positive outscores (and ties). Every bootstrap resample's AUC is then a
quadratic form of its bar multiplicities (see `updown.assess.weighted.weighted_auc`)."""

from __future__ import annotations

import numpy as np


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
