"""One worker's part of the training table: the rows of a shard of tickers, read from the
features and labels files without reading anyone else's rows into memory.

Tickers are cut into `n` shards of consecutive names (sorted as the table is), about equal in
labelled rows, so the training table is the shards' tables one after another, and purging and
the per-ticker embargo (updown.learn.split) cut each shard exactly as they cut the whole panel.

`read_shard` reads the labels of its tickers (Parquet row-group filters), the keys of the
features file row group by row group (skipping groups whose ticker range misses the shard), and
then each feature column of the rows it keeps: peak memory is the shard's rows plus one column of
one row group, whatever the size of the panel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import CLASSIFICATION, KEYS, LABEL_COLUMNS, Task
from updown.errors import UpdownError
from updown.learn.split import Fold, label_blocks
from updown.learn.train import check_labels


def ticker_shards(rows_per_ticker: pd.Series, n: int) -> list[tuple[str, ...]]:
    """`n` runs of consecutive tickers (in sorted order) holding about equal numbers of rows;
    fewer when there are fewer tickers than `n`."""
    counts = rows_per_ticker.sort_index()
    tickers = [str(t) for t in counts.index]
    n = max(1, min(n, len(tickers)))
    cumulative = np.cumsum(counts.to_numpy(dtype=np.int64))
    bounds = [0]
    for k in range(1, n):  # cut where the running total crosses k/n of the rows
        cut = int(np.searchsorted(cumulative, cumulative[-1] * k / n, side="left")) + 1
        bounds.append(min(max(cut, bounds[-1] + 1), len(tickers) - (n - k)))
    bounds.append(len(tickers))
    return [tuple(tickers[a:b]) for a, b in itertools.pairwise(bounds)]


@dataclass
class Shard:
    """A shard's rows of one fold's training and validation blocks, sorted by (ticker,
    timestamp): the label columns and the features in one block (as read_training_table)."""

    table: pd.DataFrame
    train: np.ndarray  # positions in `table`
    valid: np.ndarray
    classes: tuple[float, ...]  # distinct training labels (classification), else ()
    uniqueness: np.ndarray | None = None  # training rows' average uniqueness, not normalised


def _parquet(path: Path | str) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{path}: cannot read as Parquet on this worker: {exc}") from exc


def _groups_with(source: Any, tickers: tuple[str, ...]) -> list[int]:
    """Row groups whose ticker statistics overlap [first, last] of the shard (all without them)."""
    column = source.schema_arrow.get_field_index("ticker")
    picked = []
    for g in range(source.metadata.num_row_groups):
        stats = source.metadata.row_group(g).column(column).statistics
        known = stats is not None and stats.has_min_max
        if known and (str(stats.max) < tickers[0] or str(stats.min) > tickers[-1]):
            continue
        picked.append(g)
    return picked


def _feature_keys(source: Any, tickers: tuple[str, ...]) -> pd.DataFrame:
    """(ticker, timestamp, _group, _pos) of the features file's rows of `tickers`."""
    wanted = set(tickers)
    parts = []
    for g in _groups_with(source, tickers):
        keys = source.read_row_group(g, columns=list(KEYS)).to_pandas()
        mine = np.flatnonzero(keys["ticker"].isin(wanted).to_numpy())
        if len(mine):
            part = keys.iloc[mine].reset_index(drop=True)
            parts.append(part.assign(_group=g, _pos=mine))
    if not parts:
        return pd.DataFrame({"ticker": [], "timestamp": [], "_group": [], "_pos": []})
    return pd.concat(parts, ignore_index=True)


def read_shard_labels(labels_path: Path | str, tickers: tuple[str, ...]) -> pd.DataFrame:
    """The label columns of the shard's tickers (row groups of other tickers are skipped)."""
    try:
        return pd.read_parquet(
            labels_path,
            columns=list(LABEL_COLUMNS),
            filters=[("ticker", "in", list(tickers))],
            engine="pyarrow",
        )
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{labels_path}: cannot read as Parquet on this worker: {exc}") from exc


def read_shard(
    features_path: Path | str,
    labels_path: Path | str,
    tickers: tuple[str, ...],
    fold: Fold,
    embargo_bars: int,
    names: list[str],
    task: Task,
) -> Shard:
    """The shard's training and validation rows of `fold` (its labels checked on every block,
    as train_model checks the whole table's)."""
    source = _parquet(features_path)
    labels = read_shard_labels(labels_path, tickers)
    keys = _feature_keys(source, tickers)
    joined = labels.merge(keys, on=list(KEYS), how="inner", validate="one_to_one")
    joined = joined.sort_values(list(KEYS), ignore_index=True)
    check_labels(joined, task)
    blocks = label_blocks(joined, fold, embargo_bars).to_numpy()
    keep = np.flatnonzero((blocks == "train") | (blocks == "valid"))
    joined, blocks = joined.iloc[keep].reset_index(drop=True), blocks[keep]
    group, pos = joined.pop("_group").to_numpy(), joined.pop("_pos").to_numpy()
    types = [source.schema_arrow.field(n).type.to_pandas_dtype() for n in names]
    block = np.empty((len(names), len(joined)), dtype=np.result_type(*types))
    by_group = {int(g): np.flatnonzero(group == g) for g in np.unique(group)}
    for i, name in enumerate(names):
        for g, at in by_group.items():
            column = source.read_row_group(g, columns=[name]).column(0).to_numpy()
            block[i, at] = column[pos[at]]
    features = pd.DataFrame(block.T, columns=names, copy=False)
    table = pd.concat([joined, features], axis=1)
    train = np.flatnonzero(blocks == "train")
    classes: tuple[float, ...] = ()
    if task == CLASSIFICATION:
        classes = tuple(float(c) for c in np.unique(table["label"].to_numpy()[train]))
    return Shard(table, train, np.flatnonzero(blocks == "valid"), classes)
