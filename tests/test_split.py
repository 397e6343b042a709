"""Splits pinned on small hand-made calendars: holdout blocks by date with purge and embargo,
walk-forward folds (expanding and rolling), and the errors that name their key."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from updown.config import SplitConfig, WalkForwardConfig, build_params, load_params
from updown.errors import UpdownError
from updown.learn.split import assign_blocks, make_folds, walk_forward_bounds, walk_forward_folds

DAYS = pd.bdate_range("2024-01-01", periods=20, tz="UTC").as_unit("us")  # Mon 1 .. Fri 26 Jan


def rows_for(tickers: dict[str, int], horizon: int = 1) -> pd.DataFrame:
    """Rows on the first n business days per ticker, each label window `horizon` bars long."""
    frames = []
    for ticker, n in tickers.items():
        ts = pd.Series(DAYS[:n])
        frames.append(
            pd.DataFrame({"ticker": ticker, "timestamp": ts, "label_end": ts.shift(-horizon)})
        )
    rows = pd.concat(frames, ignore_index=True).dropna().reset_index(drop=True)
    return rows.astype({"ticker": "str"})


def holdout(train_end: str, valid_end: str, embargo: int = 0) -> SplitConfig:
    return SplitConfig(
        train_end=dt.date.fromisoformat(train_end),
        valid_end=dt.date.fromisoformat(valid_end),
        embargo_bars=embargo,
    )


def walk(
    folds: int, window: str, valid_bars: int, train_bars: int = 5, embargo: int = 0
) -> SplitConfig:
    return SplitConfig(
        train_end=dt.date(2024, 1, 3),
        valid_end=dt.date(2024, 1, 12),
        embargo_bars=embargo,
        mode="walk_forward",
        walk_forward=WalkForwardConfig(
            folds=folds, window=window, valid_bars=valid_bars, train_bars=train_bars
        ),
    )


def test_holdout_blocks_by_date_and_purges_labels_that_cross_a_boundary() -> None:
    rows = rows_for({"A": 10}, horizon=2)  # 8 labelled bars, Jan 1-10
    blocks = assign_blocks(rows, holdout("2024-01-03", "2024-01-08")).tolist()
    # Train through Jan 3: Jan 1 ends Jan 3 (kept), Jan 2 and 3 end in validation (purged).
    # Validation Jan 4-8: Jan 4 ends Jan 8 (kept), Jan 5 and 8 end in test (purged).
    assert blocks == ["train", "", "", "valid", "", "", "test", "test"]


def test_holdout_embargo_drops_the_first_bars_of_each_later_block_per_ticker() -> None:
    rows = rows_for({"A": 12, "B": 12})
    blocks = assign_blocks(rows, holdout("2024-01-03", "2024-01-09", embargo=1))
    a = blocks[rows["ticker"] == "A"].tolist()
    # Train Jan 1-2 (Jan 3 purged: it ends Jan 4); validation Jan 4-9: Jan 4 embargoed, Jan 9
    # purged; test from Jan 10: Jan 10 embargoed, then Jan 11, 12, 15.
    assert a == ["train", "train", "", "", "valid", "valid", "", "", "test", "test", "test"]
    assert blocks[rows["ticker"] == "B"].tolist() == a


def test_walk_forward_cuts_the_test_period_into_consecutive_folds() -> None:
    rows = rows_for({"A": 20})  # 19 labelled bars; after Jan 12: Jan 15..25 = 9 bars
    folds = walk_forward_folds(rows, walk(folds=3, window="expanding", valid_bars=2))
    assert len(folds) == 3
    days = rows["timestamp"].dt.day
    tests = [days[f == "test"].tolist() for f in folds]
    assert tests == [[15, 16, 17], [18, 19, 22], [23, 24, 25]]
    valid = [days[f == "valid"].tolist() for f in folds]
    assert valid == [[11], [16], [19]]  # 2 bars before each test block, last one purged
    first_train = days[folds[0] == "train"].tolist()
    assert first_train == [1, 2, 3, 4, 5, 8, 9]  # Jan 10 purged: its label ends on Jan 11
    assert (folds[2] == "train").sum() > (folds[0] == "train").sum()  # expanding


def test_walk_forward_rolling_window_trains_on_the_last_train_bars() -> None:
    rows = rows_for({"A": 20})
    folds = walk_forward_folds(rows, walk(folds=2, window="rolling", valid_bars=2, train_bars=4))
    days = rows["timestamp"].dt.day
    # fold 1 tests Jan 15-19, validates Jan 11-12, trains on the 4 bars before: Jan 5-10.
    assert days[folds[0] == "train"].tolist() == [5, 8, 9]  # Jan 10 purged
    assert days[folds[0] == "test"].tolist() == [15, 16, 17, 18, 19]
    # fold 2 tests Jan 22-25, validates Jan 18-19, trains on Jan 12-17 (Jan 17 purged).
    assert days[folds[1] == "train"].tolist() == [12, 15, 16]


def test_walk_forward_counts_bars_as_distinct_timestamps_of_all_tickers() -> None:
    # A trades on even business days, B on odd ones: together they cover every day.
    rows = rows_for({"A": 20, "B": 20})
    rows = rows[(rows["timestamp"].dt.day % 2 == 0) == (rows["ticker"] == "A")]
    cfg = walk(folds=1, window="expanding", valid_bars=3)
    bounds = walk_forward_bounds(rows["timestamp"], cfg)
    assert bounds[0].train_start == DAYS[0]
    assert bounds[0].test_start == DAYS[10]  # Jan 15, the first bar after Jan 12
    assert bounds[0].valid_start == DAYS[7]  # 3 bars before: Jan 10, 11, 12


def test_make_folds_follows_the_mode() -> None:
    rows = rows_for({"A": 20})
    assert len(make_folds(rows, holdout("2024-01-05", "2024-01-12"))) == 1
    assert len(make_folds(rows, walk(folds=3, window="expanding", valid_bars=2))) == 3


def test_walk_forward_refuses_more_folds_than_test_bars_or_an_empty_history() -> None:
    rows = rows_for({"A": 20})
    with pytest.raises(UpdownError, match=r"split\.walk_forward\.folds"):
        walk_forward_folds(rows, walk(folds=12, window="expanding", valid_bars=2))
    with pytest.raises(UpdownError, match=r"split\.walk_forward.*fold 1"):
        walk_forward_folds(rows, walk(folds=1, window="expanding", valid_bars=10))


def test_split_settings_are_checked_with_their_key() -> None:
    raw = load_params("params.yaml").raw
    bad = {**raw, "split": {**raw["split"], "mode": "shuffle"}}
    with pytest.raises(UpdownError, match=r"split\.mode"):
        build_params(bad)
    wf = {**raw["split"]["walk_forward"], "window": "sliding"}
    with pytest.raises(UpdownError, match=r"split\.walk_forward\.window"):
        build_params({**raw, "split": {**raw["split"], "walk_forward": wf}})
    params = build_params({**raw, "split": {**raw["split"], "mode": "walk_forward"}})
    assert params.split.mode == "walk_forward" and params.split.walk_forward.folds >= 1
