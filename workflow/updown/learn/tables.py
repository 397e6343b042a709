"""The training table and LightGBM's view of it, without copies that grow with the panel.

`read_training_table` builds what `training_table(read_parquet(features), labels)` builds, value
for value, but reads the features file one column at a time into a single float block: peak
memory is the table plus a column per reading thread, where reading the whole file first holds
it two to three times over (Arrow's buffers, then pandas', then the join's).

`row_table` hands LightGBM selected rows of a table as an Arrow table of views of its columns,
so a training block is binned straight from the table instead of from a copy of its rows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import KEYS, LABEL_COLUMNS
from updown.errors import UpdownError
from updown.panel import sorted_ticker_starts

# Rows per run of consecutive rows below which row_table gathers rather than chunks.
MIN_RUN = 64


def _check_label_columns(labels: pd.DataFrame) -> None:
    missing = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing:
        raise UpdownError(f"labels: missing column(s) {', '.join(missing)}")


def training_table(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Labels joined to features on (ticker, timestamp), sorted; only rows with both."""
    _check_label_columns(labels)
    table = labels[list(LABEL_COLUMNS)].merge(
        features, on=list(KEYS), how="inner", validate="one_to_one"
    )
    return table.sort_values(list(KEYS), ignore_index=True)


def _parquet_file(path: Path | str) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the stage that makes it first)") from exc
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{path}: cannot read as Parquet: {exc}") from exc


def training_keys(
    features_path: Path | str, labels: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """The label part of the training table (keys and label columns of the labels that have a
    feature row, sorted by key) and, for each of its rows, the row of the features file."""
    _check_label_columns(labels)
    keys = _parquet_file(features_path).read(columns=list(KEYS)).to_pandas()
    found = sorted_key_rows(labels, keys)
    if found is not None:  # both sorted by key, no key twice: the merge's answer, 4x sooner
        mine, theirs = found
        return labels[list(LABEL_COLUMNS)].iloc[mine].reset_index(drop=True), theirs
    keys["_row"] = np.arange(len(keys), dtype=np.int64)
    joined = labels[list(LABEL_COLUMNS)].merge(
        keys, on=list(KEYS), how="inner", validate="one_to_one"
    )
    joined = joined.sort_values(list(KEYS), ignore_index=True)
    return joined, joined.pop("_row").to_numpy()


def _ticker_runs(frame: pd.DataFrame) -> tuple[dict[str, tuple[int, int]], np.ndarray] | None:
    """Each ticker's rows (start, end) and the timestamps as int64, when `frame` is sorted by
    (ticker, timestamp) with no key twice and no missing timestamp; else None."""
    starts = sorted_ticker_starts(frame["ticker"])
    stamps = frame["timestamp"]
    if starts is None or stamps.isna().any():
        return None
    times = pd.DatetimeIndex(stamps).asi8
    if len(frame) == 0:
        return {}, times
    rising = np.diff(times) > 0
    rising[starts[1:] - 1] = True  # a new ticker may start at any time
    if not rising.all():
        return None
    ends = np.r_[starts[1:], len(frame)]
    names = frame["ticker"].iloc[starts].tolist()
    return dict(zip(names, zip(starts.tolist(), ends.tolist(), strict=True), strict=True)), times


def sorted_key_rows(
    left: pd.DataFrame, right: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of `left` and of `right` holding the same (ticker, timestamp), in key order: what
    an inner merge sorted by key pairs up, ticker by ticker on sorted timestamps instead of
    hashing every key. None unless both frames are sorted by key with no key twice, and their
    key columns have the same dtypes, text and datetime (the merge then answers, and refuses a
    repeated key)."""
    if any(left[k].dtype != right[k].dtype for k in KEYS):
        return None
    if left["timestamp"].dtype.kind != "M" or not pd.api.types.is_string_dtype(left["ticker"]):
        return None  # times compared as instants, tickers as text: what the merge compares
    left_runs, right_runs = _ticker_runs(left), _ticker_runs(right)
    if left_runs is None or right_runs is None:
        return None
    (mine, my_times), (theirs, their_times) = left_runs, right_runs
    pairs = []
    for ticker, (a, b) in mine.items():  # in ticker order: the pairs come out sorted by key
        if ticker in theirs:
            c, d = theirs[ticker]
            _, i, j = np.intersect1d(
                my_times[a:b], their_times[c:d], assume_unique=True, return_indices=True
            )
            pairs.append((i + a, j + c))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return (
        np.concatenate([p[0] for p in pairs]).astype(np.int64),
        np.concatenate([p[1] for p in pairs]).astype(np.int64),
    )


def read_training_table(
    features_path: Path | str,
    labels: pd.DataFrame,
    keep: np.ndarray | None = None,
    keys: tuple[pd.DataFrame, np.ndarray] | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Labels joined to the features file on (ticker, timestamp), sorted; only rows with both.
    Same columns, dtypes and values as training_table(read_parquet(features_path), labels).
    `keep` (positions in that table) reads those rows only, renumbered from 0. `keys`: what
    training_keys(features_path, labels) returned, when the caller has it (the join is a third
    of evaluate's reading). `threads` columns are read at a time, each by its own thread."""
    joined, rows = training_keys(features_path, labels) if keys is None else keys
    if keep is not None:
        joined, rows = joined.iloc[keep].reset_index(drop=True), rows[keep]
    source = _parquet_file(features_path)
    names = [n for n in source.schema_arrow.names if n not in KEYS]
    dtypes = [source.schema_arrow.field(n).type.to_pandas_dtype() for n in names]
    if len(set(dtypes)) != 1:  # mixed types: the plain way, which keeps each column's own
        table = training_table(pd.read_parquet(features_path), labels)
        return table if keep is None else table.iloc[keep].reset_index(drop=True)
    block = np.empty((len(names), len(rows)), dtype=dtypes[0])

    def read_column(i: int) -> None:
        # Its own file handle per column: Arrow decodes it and numpy gathers its rows outside
        # the GIL, so two threads read the S&P features in half the time of one.
        column = _parquet_file(features_path).read(columns=[names[i]], use_threads=threads <= 1)
        block[i] = column.column(0).to_numpy()[rows]

    with ThreadPoolExecutor(max(threads, 1)) as pool:
        list(pool.map(read_column, range(len(names))))
    features = pd.DataFrame(block.T, columns=names, copy=False)
    return pd.concat([joined, features], axis=1)


def row_table(table: pd.DataFrame, rows: np.ndarray, names: list[str]) -> Any:
    """`table.iloc[rows][names]` as a pyarrow Table for LightGBM, each column chunked at the
    runs of consecutive rows (a block's rows are runs, one per ticker), every chunk a view of the
    table's own column: nothing is copied. LightGBM bins an Arrow table a column per thread, a
    third faster than rows pushed one by one (the S&P training block: 5.1 s against 7.7 s), into
    the same bins. Rows in runs shorter than `MIN_RUN` on average are gathered instead, a copy
    of the selected rows (no block of ours is that scattered)."""
    import pyarrow as pa

    rows = np.asarray(rows, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(rows) < MIN_RUN * (len(breaks) + 1):
        return pa.table({name: table[name].to_numpy()[rows] for name in names})
    bounds = list(zip(np.r_[0, breaks], np.r_[breaks, len(rows)], strict=True))
    spans = [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in bounds]
    columns = {}
    for name in names:
        values = table[name].to_numpy()
        columns[name] = pa.chunked_array(
            [pa.array(values[a:b]) for a, b in spans], type=pa.from_numpy_dtype(values.dtype)
        )
    return pa.table(columns)
