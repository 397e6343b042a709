"""The training table and LightGBM's view of it, without copies that grow with the panel.

`read_training_table` builds what `training_table(read_parquet(features), labels)` builds, value for value, but reads the features file one column at a time into a single float
block: peak memory is the table plus one column, where reading the whole file first holds it
two to three times over (Arrow's buffers, then pandas', then the join's).

`row_batches` hands LightGBM selected rows of a table in batches (an `lgb.Sequence`), so a
training block is binned straight from the table instead of from a copy of its rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import KEYS, LABEL_COLUMNS
from updown.errors import UpdownError


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
    keys["_row"] = np.arange(len(keys), dtype=np.int64)
    joined = labels[list(LABEL_COLUMNS)].merge(
        keys, on=list(KEYS), how="inner", validate="one_to_one"
    )
    joined = joined.sort_values(list(KEYS), ignore_index=True)
    return joined, joined.pop("_row").to_numpy()


def read_training_table(
    features_path: Path | str,
    labels: pd.DataFrame,
    keep: np.ndarray | None = None,
    keys: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Labels joined to the features file on (ticker, timestamp), sorted; only rows with both.
    Same columns, dtypes and values as training_table(read_parquet(features_path), labels).
    `keep` (positions in that table) reads those rows only, renumbered from 0. `keys`: what
    training_keys(features_path, labels) returned, when the caller has it (the join is a third
    of evaluate's reading)."""
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
    for i, name in enumerate(names):
        column = source.read(columns=[name]).column(0).to_numpy()
        block[i] = column[rows]
    features = pd.DataFrame(block.T, columns=names, copy=False)
    return pd.concat([joined, features], axis=1)


def row_batches(table: pd.DataFrame, rows: np.ndarray, names: list[str], batch: int = 65536) -> Any:
    """An lgb.Sequence over `table.iloc[rows][names]`: LightGBM reads it in batches of rows,
    float32 when every column is (single rows, for its binning sample, as float64)."""
    import lightgbm as lgb

    columns = [table[name].to_numpy() for name in names]
    dtype = np.result_type(*[c.dtype for c in columns], np.float32)
    # A table from read_training_table holds its features in one block: a view of it gathers a
    # row in one call. Anything else is read column by column, never copied whole.
    matrix = table[names].to_numpy()
    if not (matrix.dtype == dtype and np.shares_memory(matrix, columns[0])):
        matrix = None

    class Rows(lgb.Sequence):
        batch_size = batch

        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, idx: Any) -> np.ndarray:
            if isinstance(idx, slice):
                picked = rows[idx]
                if matrix is not None:
                    return np.ascontiguousarray(matrix[picked])
                out = np.empty((len(picked), len(columns)), dtype=dtype)
                for j, column in enumerate(columns):
                    out[:, j] = column[picked]
                return out
            if isinstance(idx, list):
                return np.stack([self[i] for i in idx])
            row = rows[int(idx)]  # LightGBM's binning sample, which it wants as doubles
            if matrix is not None:
                return matrix[row].astype(np.float64)
            return np.array([column[row] for column in columns], dtype=np.float64)

    return Rows()


def sampling_seed(params: dict[str, Any]) -> dict[str, int]:
    """The `data_random_seed` LightGBM derives from `seed` for its binning sample, as a Dataset
    parameter: a Dataset built from an lgb.Sequence samples with its own parameters only, which
    leave `seed` out, and would otherwise bin from a different sample of rows than the same
    data passed as a matrix (LightGBM's Config::Set: the first draw of Random(seed))."""
    if "data_random_seed" in params:
        return {"data_random_seed": int(params["data_random_seed"])}
    if "seed" not in params:
        return {}
    state = int(params["seed"]) & 0xFFFFFFFF
    state = (214013 * state + 2531011) & 0xFFFFFFFF
    return {"data_random_seed": ((state >> 16) & 0x7FFF) % 32767}
