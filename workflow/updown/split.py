"""Time-ordered train / validation / test blocks with purging and an embargo.

A row belongs to the block its timestamp falls in. A row is purged when its label window (up to
`label_end`) reaches past the end of its own block, so no training label looks into validation
or test. The first `embargo_bars` rows of each later block are dropped per ticker.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from updown.config import SplitConfig

BLOCKS = ("train", "valid", "test")


def _boundary(day: dt.date) -> pd.Timestamp:
    """The first instant after `day` (UTC), the end of a block that runs through `day`."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def assign_blocks(rows: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """'train', 'valid', 'test' or '' (purged/embargoed) for each labelled row.

    `rows` needs ticker, timestamp and label_end, sorted by (ticker, timestamp).
    """
    ts, end = rows["timestamp"], rows["label_end"]
    b1, b2 = _boundary(cfg.train_end), _boundary(cfg.valid_end)
    block = np.where(ts < b1, "train", np.where(ts < b2, "valid", "test")).astype(object)
    purged = ((block == "train") & (end >= b1)) | ((block == "valid") & (end >= b2))
    block[purged.to_numpy()] = ""
    if cfg.embargo_bars:
        for name in ("valid", "test"):
            in_block = pd.Series(block == name, index=rows.index)
            rank = in_block.groupby(rows["ticker"]).cumsum()
            block[(in_block & (rank <= cfg.embargo_bars)).to_numpy()] = ""
    return pd.Series(block, index=rows.index, name="block").astype("str")
