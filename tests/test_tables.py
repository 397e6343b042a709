"""The memory-lean training path gives exactly what the plain one gives: the same training table
from the features file, and the same LightGBM trees from row batches as from sliced frames."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from synthetic_panels import make_panel, small_features
from updown.config import load_params
from updown.contract import feature_columns
from updown.io import write_parquet
from updown.learn.features import make_features
from updown.learn.label import make_labels, resolved
from updown.learn.tables import (
    read_training_table,
    row_table,
    sorted_key_rows,
    training_keys,
    training_table,
)
from updown.learn.train import baseline_rows, lightgbm_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A features file and labels for a few tickers; some feature rows have no label."""
    params = load_params(REPO / "params.yaml")
    panel = make_panel(seed=3, tickers=5, n_days=700)
    path = tmp_path_factory.mktemp("tables") / "features.parquet"
    write_parquet(make_features(panel, small_features()), path)
    labels = make_labels(panel, resolved(params))
    return path, labels.sample(frac=0.9, random_state=1).sort_values(["ticker", "timestamp"])


@pytest.mark.parametrize("threads", [1, 3])
def test_lean_table_equals_the_plain_join(files, threads: int) -> None:
    path, labels = files
    lean = read_training_table(path, labels, threads=threads)
    plain = training_table(pd.read_parquet(path), labels)
    assert len(lean) == len(labels) < len(pd.read_parquet(path))
    pd.testing.assert_frame_equal(lean, plain)


@pytest.mark.parametrize("threads", [1, 2])
def test_lean_table_reads_only_the_rows_kept(files, threads: int) -> None:
    path, labels = files
    plain = training_table(pd.read_parquet(path), labels)
    keep = np.flatnonzero(plain["timestamp"] >= plain["timestamp"].quantile(0.8))
    lean = read_training_table(path, labels, keep=keep, threads=threads)
    pd.testing.assert_frame_equal(lean, plain.iloc[keep].reset_index(drop=True))
    keys, rows = training_keys(path, labels)
    pd.testing.assert_frame_equal(keys, plain[list(keys.columns)])
    assert len(rows) == len(plain) and (np.diff(rows) != 0).all()


def key_frame(rng: np.random.Generator, tickers: list[str], share: float) -> pd.DataFrame:
    """A random `share` of a grid of tickers by business days, sorted by key."""
    days = pd.bdate_range("2020-01-01", periods=60, tz="UTC").as_unit("us")
    grid = pd.MultiIndex.from_product([tickers, days], names=["ticker", "timestamp"])
    frame = grid.to_frame(index=False).astype({"ticker": "str"})
    return frame[rng.random(len(frame)) < share].reset_index(drop=True)


def merged_rows(left: pd.DataFrame, right: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The reference: an inner merge on the keys, sorted by key, as row positions."""
    a = left.assign(_l=np.arange(len(left)))
    b = right.assign(_r=np.arange(len(right)))
    both = a.merge(b, on=["ticker", "timestamp"], validate="one_to_one")
    both = both.sort_values(["ticker", "timestamp"])
    return both["_l"].to_numpy(), both["_r"].to_numpy()


@pytest.mark.parametrize("seed", range(8))
def test_sorted_key_rows_pair_the_rows_a_sorted_inner_merge_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["AA", "AAPL", "B", "BF.B", "MSFT", "Z", "ZTS"]
    # Each side its own tickers (some on one side only) and its own share of the bars.
    left = key_frame(rng, sorted(rng.choice(names, 5, replace=False)), rng.uniform(0.3, 1))
    right = key_frame(rng, sorted(rng.choice(names, 5, replace=False)), rng.uniform(0.3, 1))
    found = sorted_key_rows(left, right)
    assert found is not None
    expected = merged_rows(left, right)
    assert len(expected[0]) > 0
    for got, want in zip(found, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_sorted_key_rows_leave_what_is_not_sorted_and_unique_to_the_merge() -> None:
    rng = np.random.default_rng(0)
    frame = key_frame(rng, ["A", "B", "C"], 0.8)
    assert sorted_key_rows(frame, frame) is not None
    shuffled = frame.sample(frac=1, random_state=1).reset_index(drop=True)
    twice = pd.concat([frame, frame.iloc[[5]]]).sort_values(["ticker", "timestamp"])
    missing = frame.astype({"timestamp": "datetime64[us, UTC]"})
    missing.loc[0, "timestamp"] = pd.NaT
    other_unit = frame.astype({"timestamp": "datetime64[ns, UTC]"})
    as_text = frame.astype({"timestamp": "str"})
    for odd in (shuffled, twice.reset_index(drop=True), missing, other_unit):
        assert sorted_key_rows(frame, odd) is None
        assert sorted_key_rows(odd, frame) is None
    assert sorted_key_rows(as_text, as_text) is None


def test_sorted_key_rows_of_an_empty_frame_pair_nothing() -> None:
    frame = key_frame(np.random.default_rng(0), ["A", "B"], 0.8)
    for left, right in ((frame.iloc[:0], frame), (frame, frame.iloc[:0])):
        found = sorted_key_rows(left, right)
        assert found is not None
        assert [len(rows) for rows in found] == [len(r) for r in merged_rows(left, right)] == [0, 0]


def test_a_label_key_given_twice_is_refused_as_before(files) -> None:
    path, labels = files
    twice = pd.concat([labels, labels.iloc[[10]]]).sort_values(["ticker", "timestamp"])
    with pytest.raises(pd.errors.MergeError, match="one-to-one"):
        training_keys(path, twice)


def test_lean_table_names_missing_label_columns(files) -> None:
    path, labels = files
    with pytest.raises(Exception, match="label_end"):
        read_training_table(path, labels.drop(columns="label_end"))


@pytest.mark.parametrize("seed", [42, 7])
def test_row_tables_grow_the_same_trees_as_sliced_frames(files, seed: int) -> None:
    path, labels = files
    table = read_training_table(path, labels)
    names = feature_columns(list(table.columns))
    cfg = load_params(REPO / "params.yaml").train
    params = {**lightgbm_params(cfg, "binary", "binary_logloss"), "seed": seed}
    # A binning sample smaller than the block, so LightGBM samples rows (by its seed).
    params["bin_construct_sample_cnt"] = 300
    # Every ticker's first 70% of rows: one run of consecutive rows per ticker, as a block is.
    cut = table["timestamp"] < table.groupby("ticker")["timestamp"].transform("quantile", 0.7)
    rows = np.flatnonzero(cut.to_numpy())
    assert len(rows) > 3 * params["bin_construct_sample_cnt"]
    y = table["label"].to_numpy()

    frame = table.iloc[rows]
    plain = lgb.train(params, lgb.Dataset(frame[names], frame["label"]), num_boost_round=5)
    arrow = row_table(table, rows, names)
    assert arrow.column(names[0]).num_chunks == table["ticker"].nunique()  # views, not a copy
    # No Dataset params: lgb.train hands it the seed that picks the binning sample, as train does.
    lean_set = lgb.Dataset(arrow, y[rows], feature_name=names)
    lean_set.pandas_categorical = []
    lean = lgb.train(params, lean_set, num_boost_round=5)
    assert lean.model_to_string() == plain.model_to_string()


def test_row_tables_of_scattered_rows_or_separate_columns_hold_the_same_values(files) -> None:
    path, labels = files
    block = read_training_table(path, labels)
    separate = training_table(pd.read_parquet(path), labels)  # not one float block
    names = feature_columns(list(block.columns))
    for table in (block, separate):
        for rows in (np.arange(3, len(table), 5), np.r_[0:40, 90:200, 300:310]):
            arrow = row_table(table, rows, names)
            expected = table.iloc[rows][names].to_numpy()
            np.testing.assert_array_equal(arrow.to_pandas().to_numpy(), expected)
            assert arrow.column_names == names


def test_baselines_use_every_training_row_up_to_the_cap_then_an_even_sample() -> None:
    rows = np.arange(10, 10 + 500)
    assert baseline_rows(rows, cap=500) is rows
    picked = baseline_rows(rows, cap=100)
    assert len(picked) == len(np.unique(picked)) == 100
    assert picked[0] == rows[0] and picked[-1] == rows[-1]
    assert np.all(np.diff(picked) > 0) and np.isin(picked, rows).all()
    assert np.diff(picked).max() <= np.ceil((len(rows) - 1) / 99)  # evenly spaced, no wide gap
    default = load_params(REPO / "params.yaml").train.baseline_max_rows
    assert len(baseline_rows(np.arange(1_300_000), default)) == default  # S&P: capped
