"""Bounded memory for a panel too long to hold all its features at once: whole-ticker batches.

Per-ticker features depend on their own ticker's rows only (every window stops at the ticker's
first row, and at each segment's after a long gap, see updown.panel), so computing them on a group of whole tickers gives exactly the
values of one pass over the panel. Cross-sectional ranks compare tickers at the same bar, so they
are computed once over the whole panel first, on the few columns they rank, and sliced into each
batch. Peak memory then follows the batch size, not the panel's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.learn.features import make_features, planned_names
from updown.panel import value_changes

# Rows per batch: about 2 GB of peak memory with the full feature set (measured on the S&P
# folder, 1.7 million rows in one pass). Panels up to this size are computed in one pass.
MAX_BATCH_ROWS = 2_500_000


def ticker_batches(ticker: pd.Series, max_rows: int) -> list[slice]:
    """Consecutive row ranges of whole tickers, each at most `max_rows` long unless one ticker
    alone is longer. `ticker` is the ticker column of a panel sorted by ticker."""
    n = len(ticker)
    if n == 0:
        return []
    starts = np.flatnonzero(np.r_[True, value_changes(ticker)])
    bounds = [*starts.tolist(), n]
    batches, first = [], 0
    for end, nxt in pairwise(bounds[1:]):
        if nxt - first > max_rows:  # the next ticker would overflow: close the batch here
            batches.append(slice(first, end))
            first = end
    batches.append(slice(first, n))
    return batches


def feature_batches(
    panel: pd.DataFrame,
    cfg: FeaturesConfig,
    intraday: bool = False,
    max_rows: int = MAX_BATCH_ROWS,
    volume: bool = True,
    threads: int = 1,
) -> Iterator[pd.DataFrame]:
    """make_features(panel, cfg, intraday, volume=volume), yielded as whole-ticker batches of
    rows in panel order with the same columns; concatenated, they equal the one-pass result.
    Each batch is computed on `threads` threads (make_features)."""
    batches = ticker_batches(panel["ticker"], max_rows)
    if len(batches) <= 1:
        yield make_features(panel, cfg, intraday=intraday, volume=volume, threads=threads)
        return
    names = planned_names(cfg, intraday, volume)
    ranked = [n for n in names if n.startswith("cs_rank_")]
    per_ticker = [n for n in names if n not in ranked]
    ranks = None
    if ranked:
        bases = [n.removeprefix("cs_rank_") for n in ranked]
        only = [*bases, *ranked]
        ranks = make_features(panel, cfg, intraday, only=only, volume=volume, threads=threads)
        ranks = ranks[ranked]
    for rows in batches:
        part = panel.iloc[rows].reset_index(drop=True)
        out = make_features(part, cfg, intraday, only=per_ticker, volume=volume, threads=threads)
        if ranks is not None:
            for name in ranked:
                out[name] = ranks[name].to_numpy()[rows]
        yield out[["ticker", "timestamp", *names]]
