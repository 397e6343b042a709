"""`updown features`: compute the features of every bar from the price panel.

With `--shard I/N` only the tickers of shard I (updown.learn.shards) and only their per-ticker
features; with `--gather SHARD...` the shards' features put back in panel order with the
cross-sectional ranks: the same file as one job.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from updown.config import Params, load_params
from updown.io import read_parquet, write_parquet_batches
from updown.learn.batches import feature_batches
from updown.learn.feature_shards import features_gather, features_shard
from updown.learn.features import volume_names
from updown.learn.guards import check_feature_history
from updown.learn.shards import parse_shard, read_shard
from updown.panel import tickers_without_volume

log = logging.getLogger("updown")


def _with_volume(params: Params, prices: pd.DataFrame) -> bool:
    """Whether the volume features are on: off for every ticker when validate kept one without
    volume (validate.zero_volume: drop_features), as validation.json says. `prices`: the whole
    panel's ticker and volume columns at least."""
    silent = tickers_without_volume(prices)
    if silent and volume_names(params.features):
        log.warning(
            "volume features off for the whole run: %s %s no volume "
            "(validate.zero_volume=drop_features; see reports/validation.json)",
            ", ".join(silent[:8]) + (f" and {len(silent) - 8} more" if len(silent) > 8 else ""),
            "has" if len(silent) == 1 else "have",
        )
    return not silent


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    intraday = params.data.interval != "1d"
    if a.gather:
        keys = read_parquet(a.prices, columns=["ticker", "timestamp", "volume"])
        volume = _with_volume(params, keys)
        frames = (read_parquet(path) for path in a.gather)
        batches = features_gather(frames, keys, params.features, intraday, volume)
    elif a.shard:
        shard, shards = parse_shard(a.shard)
        volume = _with_volume(params, read_parquet(a.prices, columns=["ticker", "volume"]))
        prices = read_shard(a.prices, shard, shards)
        check_feature_history(prices, params.features)
        batches = features_shard(prices, params.features, intraday, volume)
    else:
        prices = read_parquet(a.prices)
        check_feature_history(prices, params.features)
        # A long panel is computed and written in whole-ticker batches, so memory stays
        # bounded; the file holds the same values as one pass.
        volume = _with_volume(params, prices)
        batches = feature_batches(
            prices, params.features, intraday, volume=volume, threads=params.features.threads
        )
    rows, columns = write_parquet_batches(batches, a.out)
    log.info("%d features x %d rows -> %s", columns - 2, rows, a.out)
