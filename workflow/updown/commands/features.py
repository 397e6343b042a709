"""`updown features`: compute the features of every bar from the price panel."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.heap import keep_freed_memory
from updown.io import read_parquet, write_parquet_batches
from updown.learn.batches import feature_batches
from updown.learn.features import volume_names
from updown.learn.guards import check_feature_history
from updown.panel import tickers_without_volume

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    keep_freed_memory()  # a column-sized array freed and allocated ~300 times: reuse the pages
    params = load_params(a.params)
    prices = read_parquet(a.prices)
    check_feature_history(prices, params.features)
    # validate kept a ticker without volume (validate.zero_volume: drop_features): its volume
    # features would all be NaN, so they are left out for every ticker, as validation.json says.
    silent = tickers_without_volume(prices)
    if silent and volume_names(params.features):
        log.warning(
            "volume features off for the whole run: %s %s no volume "
            "(validate.zero_volume=drop_features; see reports/validation.json)",
            ", ".join(silent[:8]) + (f" and {len(silent) - 8} more" if len(silent) > 8 else ""),
            "has" if len(silent) == 1 else "have",
        )
    # A long panel is computed and written in whole-ticker batches, so memory stays bounded;
    # the file holds the same values as one pass.
    batches = feature_batches(
        prices, params.features, intraday=params.data.interval != "1d", volume=not silent
    )
    rows, columns = write_parquet_batches(batches, a.out)
    log.info("%d features x %d rows -> %s", columns - 2, rows, a.out)
