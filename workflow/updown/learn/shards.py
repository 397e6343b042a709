"""Features and labels as sharded jobs: each shard job computes its own tickers, a gather job what
needs every ticker, and the gathered table equals the one-job table to the bit.

`features.shards` / `label.shards` = N > 1 splits the validated panel by ticker into N shards by
the stable hash the acquire jobs use (updown.dag.acquire_jobs.bucket): shard i holds the tickers
whose crc32 is i modulo N, so adding a ticker changes one shard. A shard job reads only its
tickers' rows of the panel (a Parquet filter, a row group at a time) and computes everything that
depends on a ticker's own rows: the per-ticker features (every window stops at the ticker's first
row, see updown.panel) and the label's forward returns. The gather puts the shards back in panel
order (sorted by ticker, then time) and computes what compares tickers: the cross-sectional
ranks of features (`features.cross_sectional`) and the excess-return labels (`label.excess`).
The values of each row are computed by the same code on the same float inputs as in one job, so
the gathered file is the one-job file byte for byte (tests/test_shards.py).

This module: which tickers a shard holds, reading them, and putting shards back in panel order.
The stages' own parts are updown.learn.feature_shards and updown.learn.label_shards.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from updown.dag.acquire_jobs import bucket
from updown.errors import UpdownError
from updown.io import read_parquet

KEYS = ["ticker", "timestamp"]


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (shard I of N, 0 <= I < N) as (I, N); the `--shard` of `updown features` / `label`."""
    try:
        shard, shards = (int(x) for x in text.split("/"))
    except ValueError:
        raise UpdownError(f"--shard {text!r}: expected I/N, e.g. 0/4 (shard 0 of 4)") from None
    if not 0 <= shard < shards:
        raise UpdownError(f"--shard {text!r}: need 0 <= I < N")
    return shard, shards


def shard_tickers(tickers: Iterable[str], shard: int, shards: int) -> list[str]:
    """The tickers of shard `shard` of `shards`, in the given order."""
    return [t for t in tickers if bucket(t, shards) == shard]


def read_shard(prices: Path | str, shard: int, shards: int) -> pd.DataFrame:
    """The rows of the price panel at `prices` whose ticker is in the shard, in panel order.
    Only the ticker column of the whole panel is read; an empty shard gives an empty panel."""
    tickers = read_parquet(prices, columns=["ticker"])["ticker"].unique()
    mine = shard_tickers((str(t) for t in tickers), shard, shards)
    # pyarrow cannot type an empty set; "" is no ticker (updown.io.check_ticker refuses it).
    return read_parquet(prices, filters=[("ticker", "in", mine or [""])])


def in_panel_order(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The shards' rows as one frame in panel order: each shard is sorted by ticker, then time,
    so their tickers' runs, sorted by ticker, are the panel's rows. One copy of the data."""
    runs: list[tuple[str, pd.DataFrame]] = []
    for frame in frames:
        if not len(frame):  # an empty shard (no ticker hashed to it) adds nothing
            continue
        ticker = frame["ticker"].to_numpy()
        starts = np.flatnonzero(np.r_[True, ticker[1:] != ticker[:-1]])
        bounds = [*starts.tolist(), len(frame)]
        runs.extend((str(ticker[a]), frame.iloc[a:b]) for a, b in pairwise(bounds))
    names = [t for t, _ in runs]
    if len(set(names)) != len(names):
        raise UpdownError("shards: a ticker is in more than one shard (mixed shard counts?)")
    if not runs:
        raise UpdownError("shards: every shard is empty")
    runs.sort(key=lambda run: run[0])
    return pd.concat([r for _, r in runs], ignore_index=True)
