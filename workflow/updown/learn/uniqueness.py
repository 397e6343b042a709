"""Average label uniqueness (Lopez de Prado, Advances in Financial Machine Learning, ch. 4):
`train.sample_weight: uniqueness`.

A label of horizon h > 1 spans h bars, so the labels of neighbouring bars of one ticker share
most of their return: 20 overlapping 20-bar labels are nearly one observation counted 20 times.
Each training row is weighted by its label's average uniqueness: over the bars its return spans,
the mean of 1 / (the number of training labels of the same ticker spanning that bar). A row whose
label no other label overlaps weighs 1; one sharing every bar with k - 1 others weighs 1/k.
Weights are then scaled to average 1, so LightGBM's regularisation (min_sum_hessian_in_leaf,
lambda) keeps the scale it has without weights.

The bars a label spans are the return intervals from its entry bar (`entry_offset` bars after
the signal's bar: 0 for an entry at the close, 1 at the next bar) to `label_end`, on the grid of
that ticker's bars present among the rows (their timestamps and label ends). Concurrency counts
only the rows given (one fold's training block), per ticker: tickers never overlap each other.

At label.horizon 1 with an entry at the close, no two labels share a bar: every weight is 1, so
the option is a no-op there (train logs it and passes no weights at all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE_WEIGHTS = ("none", "uniqueness")


def average_uniqueness(
    ticker: np.ndarray, timestamp: np.ndarray, label_end: np.ndarray, entry_offset: int = 0
) -> np.ndarray:
    """Each row's average label uniqueness in (0, 1] (not yet normalised); 1 where the label has
    no end (NaT) or spans no bar."""
    n = len(ticker)
    if not n:
        return np.empty(0)
    start = pd.DatetimeIndex(timestamp)
    end = pd.DatetimeIndex(label_end)
    has_end = ~end.isna()
    grid = pd.MultiIndex.from_arrays(
        [np.r_[ticker, ticker[has_end]], start.append(end[has_end])]
    ).unique().sort_values()  # fmt: skip
    pos_s = grid.get_indexer(pd.MultiIndex.from_arrays([ticker, start]))
    pos_e = np.full(n, -1, dtype=np.int64)
    pos_e[has_end] = grid.get_indexer(pd.MultiIndex.from_arrays([ticker[has_end], end[has_end]]))
    # The label spans the return intervals ending at grid bars first..last.
    first = pos_s + entry_offset + 1
    last = pos_e
    spans = has_end & (last >= first)
    g = len(grid)
    delta = np.zeros(g + 1)
    np.add.at(delta, first[spans], 1.0)
    np.add.at(delta, last[spans] + 1, -1.0)
    concurrency = np.cumsum(delta)[:g]
    with np.errstate(divide="ignore"):
        inverse = np.where(concurrency > 0, 1.0 / np.maximum(concurrency, 1.0), 0.0)
    running = np.r_[0.0, np.cumsum(inverse)]
    out = np.ones(n)
    width = (last - first + 1)[spans]
    out[spans] = (running[last[spans] + 1] - running[first[spans]]) / width
    return out


def uniqueness_weights(
    ticker: np.ndarray, timestamp: np.ndarray, label_end: np.ndarray, entry_offset: int = 0
) -> np.ndarray:
    """Average uniqueness scaled to a mean of 1 (LightGBM's `weight`)."""
    u = average_uniqueness(ticker, timestamp, label_end, entry_offset)
    return u / u.mean() if len(u) else u
