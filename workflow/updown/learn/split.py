"""Time-ordered train / validation / test blocks with purging and an embargo; walk-forward folds.

A row belongs to the block its timestamp falls in. A row is purged (block '') when its label
window (up to `label_end`) reaches the next block, so no training label looks into validation or
test, and no validation label into test. The first `embargo_bars` rows of each ticker in every
later block (validation, test) are dropped too, a gap after each block boundary.

- holdout (`split.mode: holdout`): train up to `train_end`, validation up to `valid_end`, test
  after it. Dates are whole UTC days: a block runs through the end of its day.
- walk_forward: the test period (bars after `valid_end`) is cut into `folds` consecutive blocks
  of (near) equal numbers of distinct timestamps. Fold k tests on block k, validates on the
  `valid_bars` timestamps just before it, and trains on every earlier bar (`window: expanding`)
  or on the `train_bars` timestamps before the validation block (`rolling`). Rows after the
  fold's test block are not used by it. Bars counted here are distinct timestamps of the panel.

Every helper returns block names aligned with `rows`: "train", "valid", "test" or "" (unused).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from updown.config import SplitConfig
from updown.errors import UpdownError

BLOCKS = ("train", "valid", "test")
CODE = {name: i + 1 for i, name in enumerate(BLOCKS)}  # block_codes' numbers; 0: no block


@dataclass(frozen=True)
class Fold:
    """Half-open time ranges [start, end) of one fold's blocks (UTC timestamps)."""

    train_start: pd.Timestamp
    valid_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def _boundary(day: dt.date) -> pd.Timestamp:
    """The first instant after `day` (UTC), the end of a block that runs through `day`."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def block_codes(rows: pd.DataFrame, fold: Fold, embargo_bars: int) -> np.ndarray:
    """label_blocks as small integers: CODE[block], 0 for none (int8; a
    string per row costs a large panel hundreds of MB). `rows["ticker"]` may hold any code
    that is equal exactly where the ticker is (the embargo counts bars per ticker)."""
    ts, end = rows["timestamp"], rows["label_end"]
    code = np.select(
        [
            (ts >= fold.train_start) & (ts < fold.valid_start),
            (ts >= fold.valid_start) & (ts < fold.test_start),
            (ts >= fold.test_start) & (ts < fold.test_end),
        ],
        [CODE[name] for name in BLOCKS],
        default=0,
    ).astype(np.int8)
    # Purge: a label window that reaches the next block's first instant overlaps it.
    purged = ((code == CODE["train"]) & (end >= fold.valid_start).to_numpy()) | (
        (code == CODE["valid"]) & (end >= fold.test_start).to_numpy()
    )
    code[purged] = 0
    if embargo_bars:
        for name in ("valid", "test"):
            # Per ticker: the first rows of the block in time, whether purged or not.
            in_block = pd.Series((ts >= _start(fold, name)) & (ts < _end(fold, name)))
            rank = in_block.groupby(rows["ticker"].to_numpy()).cumsum().to_numpy()
            code[(in_block.to_numpy() & (rank <= embargo_bars)) & (code == CODE[name])] = 0
    return code


def label_blocks(rows: pd.DataFrame, fold: Fold, embargo_bars: int) -> pd.Series:
    """Block names for one fold: by timestamp, then purge, then embargo."""
    names = np.array(["", *BLOCKS], dtype=object)[block_codes(rows, fold, embargo_bars)]
    return pd.Series(names, index=rows.index, name="block").astype("str")


def _start(fold: Fold, name: str) -> pd.Timestamp:
    return fold.valid_start if name == "valid" else fold.test_start


def _end(fold: Fold, name: str) -> pd.Timestamp:
    return fold.test_start if name == "valid" else fold.test_end


def holdout_fold(cfg: SplitConfig) -> Fold:
    return Fold(
        train_start=pd.Timestamp.min.tz_localize("UTC"),
        valid_start=_boundary(cfg.train_end),
        test_start=_boundary(cfg.valid_end),
        test_end=pd.Timestamp.max.tz_localize("UTC"),
    )


def assign_blocks(rows: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """'train', 'valid', 'test' or '' (purged/embargoed) for each labelled row, by the holdout
    dates. `rows` needs ticker, timestamp and label_end, sorted by (ticker, timestamp)."""
    return label_blocks(rows, holdout_fold(cfg), cfg.embargo_bars)


def walk_forward_bounds(timestamps: pd.Series, cfg: SplitConfig) -> list[Fold]:
    """The folds' time ranges for rows with these timestamps (see the module docstring)."""
    wf = cfg.walk_forward
    unique = pd.DatetimeIndex(timestamps.drop_duplicates()).sort_values()
    after = unique[unique >= _boundary(cfg.valid_end)]
    if len(after) < wf.folds:
        raise UpdownError(
            f"split.walk_forward.folds: {wf.folds} test blocks need at least as many bars after "
            f"split.valid_end ({cfg.valid_end}); the data has {len(after)}"
        )
    folds = []
    for k, block in enumerate(np.array_split(np.arange(len(after)), wf.folds), start=1):
        test_start = after[block[0]]
        test_end = after[block[-1] + 1] if block[-1] + 1 < len(after) else _after_last(unique)
        at = unique.get_loc(test_start)
        valid_at = at - wf.valid_bars
        train_at = 0 if wf.window == "expanding" else valid_at - wf.train_bars
        if valid_at <= 0:
            raise UpdownError(
                f"split.walk_forward: fold {k} has no training bars before its "
                f"{wf.valid_bars} validation bars (valid_bars too large for the data)"
            )
        folds.append(
            Fold(
                train_start=unique[max(train_at, 0)],
                valid_start=unique[valid_at],
                test_start=test_start,
                test_end=test_end,
            )
        )
    return folds


def _after_last(unique: pd.DatetimeIndex) -> pd.Timestamp:
    return unique[-1] + pd.Timedelta(microseconds=1)


def walk_forward_folds(rows: pd.DataFrame, cfg: SplitConfig) -> list[pd.Series]:
    """Block names per walk-forward fold (oldest test block first), each aligned with `rows`
    (ticker, timestamp, label_end; sorted by ticker, timestamp)."""
    return [
        label_blocks(rows, fold, cfg.embargo_bars)
        for fold in walk_forward_bounds(rows["timestamp"], cfg)
    ]


def fold_bounds(timestamps: pd.Series, cfg: SplitConfig) -> list[Fold]:
    """The time ranges of each fold of `split.mode`, from the labelled rows' timestamps: what a
    part of the panel (one shard of tickers) needs to cut its own rows as the whole panel would."""
    if cfg.mode == "walk_forward":
        return walk_forward_bounds(timestamps, cfg)
    return [holdout_fold(cfg)]


def make_folds(rows: pd.DataFrame, cfg: SplitConfig) -> list[pd.Series]:
    """Block names for each fold of `split.mode`: one for holdout, `folds` for walk_forward."""
    if cfg.mode == "walk_forward":
        return walk_forward_folds(rows, cfg)
    return [assign_blocks(rows, cfg)]


def scored_blocks(blocks: list[pd.Series], which: str, mode: str) -> list[pd.Series]:
    """The blocks as evaluate reads them, the rows it scores named "test". `which` is
    evaluate.block: "test" leaves them as they are; "validation" scores the holdout's
    validation block instead and leaves the test block unread (''), so that a sweep can compare
    configurations without any test figure existing."""
    if which == "test":
        return blocks
    if mode != "holdout":
        raise UpdownError(
            "evaluate.block: validation scores the holdout's validation block, but split.mode is "
            f"{mode!r} (its validation blocks overlap earlier test blocks): use split.mode: "
            "holdout, or evaluate.block: test"
        )
    return [
        pd.Series(np.where(b == "valid", "test", ""), index=b.index).astype("str") for b in blocks
    ]
