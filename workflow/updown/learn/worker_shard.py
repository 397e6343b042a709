"""One worker's part of the training table: the rows of a shard of tickers, read from the
features and labels files without reading anyone else's rows into memory.

Tickers are cut into `n` shards of consecutive names (sorted as the table is), about equal in
labelled rows, so the training table is the shards' tables one after another, and purging and
the per-ticker embargo (updown.learn.split) cut each shard exactly as they cut the whole panel.

`read_shard` reads the labels and the keys of the features file row group by row group
(skipping groups whose ticker range misses the shard), joins them on each ticker's number rather
than its name, and then reads each feature column of the training and validation rows it keeps:
peak memory is the shard's rows plus one column of one row group, whatever the size of the
panel. (On 2.5 M rows of 14 features, the join on names held a worker's peak at 910 MB where
the table is 200 MB.)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import CLASSIFICATION, LABEL_COLUMNS, Task
from updown.errors import UpdownError
from updown.learn.split import CODE, Fold, block_codes
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


def _shard_rows(
    source: Any, tickers: tuple[str, ...], columns: list[str], where: bool = False
) -> pd.DataFrame:
    """`columns` of the file's rows of `tickers`, the ticker as its position in `tickers`
    (`_code`, int32: a join on strings costs a large shard hundreds of MB); `where`: with each
    row's row group and position in it (`_group`, `_pos`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(tickers)
    parts = []
    for g in _groups_with(source, tickers):
        group = source.read_row_group(g, columns=["ticker", *columns])
        code = pc.index_in(group.column("ticker"), value_set=wanted)
        mine = np.flatnonzero(pc.is_valid(code).to_numpy(zero_copy_only=False))
        if not len(mine):
            continue
        part = group.drop_columns(["ticker"]).take(mine).to_pandas()
        part["_code"] = code.take(mine).to_numpy(zero_copy_only=False).astype(np.int32)
        if where:
            part["_group"], part["_pos"] = np.int32(g), mine
        parts.append(part)
    if not parts:
        empty = source.schema_arrow.empty_table().select(columns).to_pandas()
        empty["_code"] = np.array([], dtype=np.int32)
        return empty.assign(_group=np.int32(0), _pos=np.int64(0)) if where else empty
    return pd.concat(parts, ignore_index=True)


def _join(labels: pd.DataFrame, keys: pd.DataFrame, labels_path: Path | str) -> pd.DataFrame:
    """Labels inner-joined to the features file's keys on (ticker code, timestamp), sorted."""
    on = ["_code", "timestamp"]
    try:
        joined = labels.merge(keys, on=on, how="inner", validate="one_to_one")
    except pd.errors.MergeError as exc:
        raise UpdownError(
            f"{labels_path}: a (ticker, timestamp) appears twice in the labels or the features "
            f"file on this worker ({exc}): rerun the label and features stages"
        ) from exc
    return joined.sort_values(on, ignore_index=True)


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
    tickers = tuple(sorted(tickers))  # numbered in the order the table sorts them
    source = _parquet(features_path)
    labels = [c for c in LABEL_COLUMNS if c != "ticker"]
    joined = _join(
        _shard_rows(_parquet(labels_path), tickers, labels),
        _shard_rows(source, tickers, ["timestamp"], where=True),
        labels_path,
    )
    check_labels(joined, task)
    # Blocks before the tickers' names: the test block's rows never become strings.
    blocks = block_codes(joined.rename(columns={"_code": "ticker"}), fold, embargo_bars)
    keep = np.flatnonzero((blocks == CODE["train"]) | (blocks == CODE["valid"]))
    joined, blocks = joined.iloc[keep].reset_index(drop=True), blocks[keep]
    code, group, pos = (joined.pop(c).to_numpy() for c in ("_code", "_group", "_pos"))
    joined["ticker"] = pd.array(np.asarray(tickers, dtype=object)[code], dtype="str")
    joined = joined[list(LABEL_COLUMNS)]
    types = [source.schema_arrow.field(n).type.to_pandas_dtype() for n in names]
    block = np.empty((len(names), len(joined)), dtype=np.result_type(*types))
    by_group = {int(g): np.flatnonzero(group == g) for g in np.unique(group)}
    for i, name in enumerate(names):
        for g, at in by_group.items():
            column = source.read_row_group(g, columns=[name]).column(0).to_numpy()
            block[i, at] = column[pos[at]]
    features = pd.DataFrame(block.T, columns=names, copy=False)
    table = pd.concat([joined, features], axis=1)
    train = np.flatnonzero(blocks == CODE["train"])
    classes: tuple[float, ...] = ()
    if task == CLASSIFICATION:
        classes = tuple(float(c) for c in np.unique(table["label"].to_numpy()[train]))
    return Shard(table, train, np.flatnonzero(blocks == CODE["valid"]), classes)
