"""`updown acquire`: fetch raw bars, one Parquet file per ticker.

yfinance snapshots are updated incrementally (updown.data.incremental): only the bars after the
stored ones, plus an overlap that is checked for revised history. csv and sample files are read
whole and cut at data.end, or at `--end` (a date, or a time: the clock of a replay).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from updown.config import load_params
from updown.data.clock import fetch_up_to, with_end
from updown.data.incremental import Snapshot, Update, update
from updown.data.snapshot import SNAPSHOT_KEY, decode, encode, new_meta
from updown.data.sources import get_fetch
from updown.errors import UpdownError
from updown.io import check_ticker, parquet_metadata, read_parquet, ticker_path, write_parquet

log = logging.getLogger("updown")


def read_snapshot(path: Path) -> Snapshot | None:
    """The stored bars at `path` with their record; None if there are none, or they cannot be
    read (then the ticker is fetched whole, which replaces the unreadable file)."""
    if not path.exists():
        return None
    try:
        return Snapshot(read_parquet(path), decode(parquet_metadata(path, SNAPSHOT_KEY)))
    except UpdownError as exc:
        log.warning("%s; fetching it whole", exc)
        return None


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    cfg, until = with_end(params.data, a.end)
    tickers = [check_ticker(t) for t in (a.ticker or cfg.tickers)]
    fetch = fetch_up_to(get_fetch(cfg.source), until)
    paths = {t: ticker_path(a.out_dir, t) for t in tickers}
    if cfg.source == "yfinance":
        snapshots = {t: read_snapshot(paths[t]) for t in tickers}
        updates = update(tickers, snapshots, cfg, fetch, until)
    else:  # local files: read whole, which also picks up any edit to them
        frames = fetch(tickers, cfg)
        updates = {t: Update(frames[t], new_meta(cfg), "full", "read whole") for t in tickers}
    # Everything was fetched before the first write: a failed fetch replaced nothing.
    for ticker in tickers:
        done = updates[ticker]
        write_parquet(done.bars, paths[ticker], metadata=encode(done.meta))
        log.info("acquired %s: %s; %d rows -> %s", ticker, done.note, len(done.bars), paths[ticker])
