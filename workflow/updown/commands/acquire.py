"""`updown acquire`: fetch raw bars, one Parquet file per ticker."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.data.sources import get_fetch
from updown.io import check_ticker, ticker_path, write_parquet

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    tickers = [check_ticker(t) for t in (a.ticker or params.data.tickers)]
    frames = get_fetch(params.data.source)(tickers, params.data)  # fetch everything before writing
    for ticker in tickers:
        path = ticker_path(a.out_dir, ticker)
        write_parquet(frames[ticker], path)
        log.info("acquired %s: %d rows -> %s", ticker, len(frames[ticker]), path)
