"""Features of a long panel computed in whole-ticker batches equal the one-pass result exactly,
and the batched Parquet file reads back as the one-pass table."""

from __future__ import annotations

import dataclasses
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from updown.config import load_params
from updown.io import write_parquet, write_parquet_batches
from updown.learn.batches import feature_batches, ticker_batches
from updown.learn.features import make_features

REPO = Path(__file__).resolve().parents[1]


def random_panel(n_tickers: int, seed: int = 0) -> pd.DataFrame:
    """Random-walk bars for tickers of different lengths, sorted by (ticker, timestamp)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2010-01-01", periods=400, tz="UTC")
    frames = []
    for i in range(n_tickers):
        n = int(rng.integers(150, 400))
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.005, n))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": f"T{i:02d}",
                    "timestamp": days[-n:],
                    "open": open_,
                    "high": np.maximum(open_, close) * 1.01,
                    "low": np.minimum(open_, close) * 0.99,
                    "close": close,
                    "adj_close": close * 0.9,
                    "volume": rng.integers(1_000, 100_000, n).astype("float64"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def cfg():
    return load_params(REPO / "params.yaml").features


def test_batches_hold_whole_tickers_in_order_within_the_size(cfg) -> None:
    panel = random_panel(9)
    sizes = panel.groupby("ticker", sort=False).size()
    limit = int(sizes.max()) + 50
    batches = ticker_batches(panel["ticker"], limit)
    assert batches[0].start == 0 and batches[-1].stop == len(panel)
    assert all(a.stop == b.start for a, b in pairwise(batches))
    for rows in batches:
        assert rows.stop - rows.start <= limit
        tickers = panel["ticker"].iloc[rows].unique()
        assert sizes[tickers].sum() == rows.stop - rows.start  # no ticker is split
    assert len(batches) > 1


def test_a_ticker_longer_than_the_limit_is_a_batch_of_its_own() -> None:
    panel = random_panel(3)
    batches = ticker_batches(panel["ticker"], 10)
    assert len(batches) == 3


@pytest.mark.parametrize("max_rows", [300, 1000, 10**9])
def test_batched_features_equal_one_pass_bit_for_bit(cfg, max_rows: int) -> None:
    panel = random_panel(8)
    whole = make_features(panel, cfg)
    parts = list(feature_batches(panel, cfg, max_rows=max_rows))
    assert len(parts) == len(ticker_batches(panel["ticker"], max_rows))
    joined = pd.concat(parts, ignore_index=True)
    assert list(joined.columns) == list(whole.columns)
    assert any(c.startswith("cs_rank_") for c in whole.columns)
    for col in whole.columns:
        a, b = joined[col].to_numpy(), whole[col].to_numpy()
        if col in ("ticker", "timestamp"):
            assert (a == b).all(), col
        else:
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), col


@pytest.mark.parametrize("volume", [True, False])
def test_batched_features_with_segments_and_without_volume_equal_one_pass(
    cfg, volume: bool
) -> None:
    panel = random_panel(8, seed=3)
    panel["segment"] = (panel.groupby("ticker").cumcount() >= 100).astype("int32")
    whole = make_features(panel, cfg, volume=volume)
    joined = pd.concat(feature_batches(panel, cfg, max_rows=700, volume=volume), ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole, check_exact=True)
    assert ("volume_level_20" in whole.columns) == volume
    assert whole.loc[panel["segment"].diff().eq(1).to_numpy(), "ret_1"].isna().all()


def test_batched_preset_qlib14_equals_one_pass(cfg) -> None:
    qlib = dataclasses.replace(cfg, preset="qlib14")
    panel = random_panel(6)
    joined = pd.concat(feature_batches(panel, qlib, max_rows=500), ignore_index=True)
    pd.testing.assert_frame_equal(joined, make_features(panel, qlib))


def test_batched_parquet_reads_back_as_the_whole_table(cfg, tmp_path: Path) -> None:
    panel = random_panel(8)
    whole = make_features(panel, cfg)
    rows, columns = write_parquet_batches(
        feature_batches(panel, cfg, max_rows=400), tmp_path / "f.parquet"
    )
    assert (rows, columns) == whole.shape
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), whole)


def test_one_batch_writes_the_same_bytes_as_write_parquet(cfg, tmp_path: Path) -> None:
    whole = make_features(random_panel(3), cfg)
    write_parquet(whole, tmp_path / "a.parquet")
    write_parquet_batches([whole], tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_a_failing_batch_leaves_no_file(cfg, tmp_path: Path) -> None:
    def frames():
        yield make_features(random_panel(2), cfg)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_parquet_batches(frames(), tmp_path / "f.parquet")
    assert list(tmp_path.iterdir()) == []
