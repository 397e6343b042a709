"""The features stage as shard jobs and a gather (see updown.learn.shards): a shard computes
its tickers' per-ticker features, the gather the cross-sectional ranks over every ticker."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import pandas as pd

from updown.config import FeaturesConfig
from updown.learn.batches import MAX_BATCH_ROWS, feature_batches, ticker_batches
from updown.learn.features import DTYPE, cross_sectional_ranks, planned_names
from updown.learn.shards import KEYS, check_covers, in_panel_order


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


def features_gather(
    frames: Iterable[pd.DataFrame],
    keys: pd.DataFrame,
    cfg: FeaturesConfig,
    intraday: bool,
    volume: bool,
    max_rows: int = MAX_BATCH_ROWS,
) -> Iterator[pd.DataFrame]:
    """The shards' features with the cross-sectional ranks, in the batches feature_batches
    yields for the whole panel (`keys`: its ticker and timestamp), so write_parquet_batches
    writes the same file as one job."""
    features = in_panel_order(frames)
    check_covers(features, keys, "features")
    names = planned_names(cfg, intraday, volume)
    ranked = [n for n in names if n.startswith("cs_rank_")]
    if ranked:
        bases = [n.removeprefix("cs_rank_") for n in ranked]
        ranks = cross_sectional_ranks(features["timestamp"], features[bases])
        for name, base in zip(ranked, bases, strict=True):
            features[name] = ranks[base].to_numpy(dtype=DTYPE)
    features = features[[*KEYS, *names]]
    batches = ticker_batches(features["ticker"], max_rows)
    if len(batches) <= 1:
        yield features
        return
    for rows in batches:
        yield features.iloc[rows]
