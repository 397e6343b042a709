"""`updown features`: compute the features of every bar from the price panel."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.io import read_parquet, write_parquet_batches
from updown.learn.batches import feature_batches
from updown.learn.guards import check_feature_history

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    prices = read_parquet(a.prices)
    check_feature_history(prices, params.features)
    # A long panel is computed and written in whole-ticker batches, so memory stays bounded;
    # the file holds the same values as one pass.
    batches = feature_batches(prices, params.features, intraday=params.data.interval != "1d")
    rows, columns = write_parquet_batches(batches, a.out)
    log.info("%d features x %d rows -> %s", columns - 2, rows, a.out)
