"""The features stage as shard jobs and a gather (see updown.learn.shards): a shard computes
its tickers' per-ticker features, the gather the cross-sectional ranks over every ticker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from itertools import pairwise

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig
from updown.errors import UpdownError
from updown.learn.batches import MAX_BATCH_ROWS, feature_batches, ticker_batches
from updown.learn.features import DTYPE, cross_sectional_ranks, planned_names
from updown.learn.shards import KEYS


def features_shard(
    panel: pd.DataFrame, cfg: FeaturesConfig, intraday: bool, volume: bool
) -> Iterator[pd.DataFrame]:
    """The per-ticker features of the shard's panel (all but the cross-sectional ranks), in
    whole-ticker batches so a long shard stays within the batch memory."""
    if not len(panel):
        yield panel[KEYS]
        return
    per_ticker = dataclasses.replace(cfg, cross_sectional=())
    yield from feature_batches(panel, per_ticker, intraday=intraday, volume=volume)


def _runs(ticker: np.ndarray) -> list[tuple[str, int, int]]:
    """(ticker, first row, end row) of each ticker's run in a column sorted by ticker."""
    if not len(ticker):
        return []
    starts = np.flatnonzero(np.r_[True, ticker[1:] != ticker[:-1]]).tolist()
    return [(str(ticker[a]), a, b) for a, b in pairwise([*starts, len(ticker)])]


def _placed(frames: Iterable[pd.DataFrame], keys: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The shards' feature columns `names` as one float32 block (feature, row) in the panel's
    row order (`keys`: its ticker and timestamp), filled one shard at a time: the gather holds
    the result and one shard, not every shard and a concatenated copy."""
    where = {t: (a, b) for t, a, b in _runs(keys["ticker"].to_numpy())}
    stamps = pd.DatetimeIndex(keys["timestamp"]).asi8
    block = np.empty((len(names), len(keys)), dtype=DTYPE)
    filled = np.zeros(len(keys), dtype=bool)
    stale = UpdownError(
        "features: the shards do not hold the price panel's rows and the configured features: "
        "rerun the shard jobs on the current panel and params"
    )
    for frame in frames:
        if not len(frame):  # an empty shard (no ticker hashed to it) adds nothing
            continue
        if list(frame.columns) != [*KEYS, *names]:
            raise stale
        dest = np.empty(len(frame), dtype=np.int64)
        for ticker, a, b in _runs(frame["ticker"].to_numpy()):
            first, end = where.get(ticker, (0, -1))
            if end - first != b - a:
                raise stale
            dest[a:b] = np.arange(first, end)
        if filled[dest].any():
            raise UpdownError("features: a ticker is in more than one shard (mixed counts?)")
        if not np.array_equal(pd.DatetimeIndex(frame["timestamp"]).asi8, stamps[dest]):
            raise stale
        filled[dest] = True
        for i, name in enumerate(names):
            block[i, dest] = frame[name].to_numpy()
    if not filled.all():
        raise stale
    return block


def features_gather(
    frames: Iterable[pd.DataFrame],
    keys: pd.DataFrame,
    cfg: FeaturesConfig,
    intraday: bool,
    volume: bool,
    max_rows: int = MAX_BATCH_ROWS,
) -> Iterator[pd.DataFrame]:
    """The shards' features with the cross-sectional ranks, laid out as make_features lays them
    out, in the batches feature_batches yields for the whole panel (`keys`: its ticker and
    timestamp), so write_parquet_batches writes the same file as one job."""
    names = planned_names(cfg, intraday, volume)
    ranked = [n for n in names if n.startswith("cs_rank_")]
    per_ticker = [n for n in names if n not in ranked]
    block = _placed(frames, keys, per_ticker)
    features = pd.DataFrame(block.T, columns=per_ticker, copy=False)
    if ranked:
        bases = [n.removeprefix("cs_rank_") for n in ranked]
        ranks = cross_sectional_ranks(keys["timestamp"], features[bases])
        for name, base in zip(ranked, bases, strict=True):
            features[name] = ranks[base].to_numpy(dtype=DTYPE)
    features.insert(0, "timestamp", keys["timestamp"].array)
    features.insert(0, "ticker", keys["ticker"].array)
    batches = ticker_batches(features["ticker"], max_rows)
    if len(batches) <= 1:
        yield features
        return
    for rows in batches:
        yield features.iloc[rows]
