"""Property tests: nothing at bar t knows what happened after t.

For random price panels (daily and hourly, tickers with different calendars) and a random cut
time, features at or before the cut are bit-for-bit the same whether the later data exists, is
removed, or is replaced; a label changes only with data after its bar and never with data after
its recorded window end, which lies the entry's offset plus `horizon` bars after it (every
entry: close, next open, next close); no training row's label window reaches its validation or test
block, in holdout and walk-forward splits; and across a gap longer than validate.max_gap_days,
nothing on one side changes when the bars on the other side do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from synthetic_panels import (
    bars_for,
    label_config,
    make_panel,
    replace_after,
    replace_before,
    small_features,
)
from updown.config import SplitConfig, WalkForwardConfig, load_params
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.learn.features import make_features
from updown.learn.label import make_labels
from updown.learn.split import holdout_fold, make_folds, walk_forward_bounds
from updown.returns import ENTRIES, entry_offset

FAST = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
KEYS = ["ticker", "timestamp"]
REPO = Path(__file__).resolve().parents[1]


def pick_cut(panel: pd.DataFrame, frac: float) -> pd.Timestamp:
    times = np.sort(panel["timestamp"].unique())
    return pd.Timestamp(times[min(int(frac * len(times)), len(times) - 1)])


def upto(frame: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    return frame[frame["timestamp"] <= cut].reset_index(drop=True)


panels = st.builds(
    dict,
    seed=st.integers(0, 2**32 - 1),
    tickers=st.integers(1, 4),
    freq=st.sampled_from(["1d", "1h"]),
    cut=st.floats(0.0, 1.0),
)


def build(p: dict) -> tuple[pd.DataFrame, pd.Timestamp]:
    panel = make_panel(
        p["seed"], p["tickers"], n_days=45 if p["freq"] == "1d" else 7, freq=p["freq"]
    )
    return panel, pick_cut(panel, p["cut"])


@FAST
@given(p=panels)
def test_features_up_to_t_are_identical_when_later_data_is_removed_or_replaced(p: dict) -> None:
    panel, cut = build(p)
    cfg, intraday = small_features(), p["freq"] == "1h"
    full = make_features(panel, cfg, intraday)
    before = upto(full, cut)
    removed = make_features(upto(panel, cut), cfg, intraday)
    replaced = make_features(replace_after(panel, cut, p["seed"] + 1), cfg, intraday)
    assert_frame_equal(removed, before, check_exact=True)
    assert_frame_equal(upto(replaced, cut), before, check_exact=True)
    # Not vacuous: the windows are full by the cut and the ranks see several tickers.
    if p["tickers"] > 1 and len(before) > 40:
        assert before[["vol_5", "slope_5", "corr_rv_5", "cs_rank_ret_1"]].notna().any().all()
        assert (before["cs_rank_ret_1"] < 1).any()


label_settings = st.builds(
    dict,
    kind=st.sampled_from(["direction", "return", "triple_barrier"]),
    horizon=st.integers(1, 5),
    threshold=st.sampled_from([0.0, 0.005, 0.5]),
    threshold_unit=st.sampled_from(["return", "volatility"]),
    dead_zone=st.sampled_from(["drop", "keep"]),
    excess=st.booleans(),
    vol_window=st.integers(2, 6),
    profit_take=st.floats(0.2, 3.0),
    stop_loss=st.floats(0.2, 3.0),
    entry=st.sampled_from(ENTRIES),
)


def labels_for(panel: pd.DataFrame, s: dict) -> pd.DataFrame:
    excess = s["excess"] and s["kind"] != "triple_barrier"
    return make_labels(panel, label_config(**{**s, "excess": excess}))


def matched(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of a and b with keys in both, aligned."""
    both = a[KEYS].merge(b[KEYS], on=KEYS)
    return (
        both.merge(a, on=KEYS).reset_index(drop=True),
        both.merge(b, on=KEYS).reset_index(drop=True),
    )


@FAST
@given(p=panels, s=label_settings)
def test_labels_never_change_with_data_after_their_window_end(p: dict, s: dict) -> None:
    panel, cut = build(p)
    assume(p["tickers"] > 1 or not s["excess"])
    full = labels_for(panel, s)
    done = full[full["label_end"] <= cut].reset_index(drop=True)
    truncated = upto(panel, cut)
    assume(truncated["ticker"].nunique() > 1 or not s["excess"])
    removed = labels_for(truncated, s)
    replaced = labels_for(replace_after(panel, cut, p["seed"] + 1), s)
    for other in (removed, replaced):
        mine, theirs = matched(done, other)
        assert_frame_equal(theirs, mine, check_exact=True)
    # Every finished label survives a change of later prices; with the data removed, only
    # triple-barrier rows whose vertical barrier lies past the cut may go (bars without their
    # full horizon are not labelled, whatever the path did).
    assert len(matched(done, replaced)[0]) == len(done)
    lost = done.merge(removed[KEYS], on=KEYS, how="left", indicator=True)
    lost = lost[lost["_merge"] == "left_only"]
    if len(lost):
        assert s["kind"] == "triple_barrier"
        assert (lost["label_end"] <= cut).all()


@FAST
@given(p=panels, s=label_settings)
def test_labels_change_with_data_after_t_and_only_with_it(p: dict, s: dict) -> None:
    panel, cut = build(p)
    assume(p["tickers"] > 1 or not s["excess"])
    full = labels_for(panel, s)
    # Data before the cut replaced: labels of bars at or after it stay, except those whose
    # volatility scale (vol_window bars up to t, known at t) still reaches before the cut.
    earlier = replace_before(panel, cut, p["seed"] + 2)
    scaled = s["kind"] == "triple_barrier" or (
        s["kind"] == "direction" and s["threshold"] > 0 and s["threshold_unit"] == "volatility"
    )
    window_start = panel.groupby("ticker")["timestamp"].shift(s["vol_window"] if scaled else 0)
    clean = panel.loc[window_start >= cut, KEYS]
    mine, theirs = matched(clean.merge(full, on=KEYS), labels_for(earlier, s))
    assert_frame_equal(theirs, mine, check_exact=True)
    assert len(mine) == len(clean.merge(full, on=KEYS))
    # Data after the cut replaced: labels whose window straddles the cut do move.
    later = labels_for(replace_after(panel, cut, p["seed"] + 3), s)
    straddle = full[(full["timestamp"] <= cut) & (full["label_end"] > cut)]
    a, b = matched(straddle, later)
    if len(a):
        assert not np.array_equal(a["forward_return"], b["forward_return"])


@FAST
@given(p=panels, s=label_settings)
def test_every_label_window_runs_from_its_entry_to_horizon_bars_after_it(p: dict, s: dict) -> None:
    panel, _ = build(p)
    assume(p["tickers"] > 1 or not s["excess"])
    out = labels_for(panel, s)
    ahead = entry_offset(s["entry"]) + s["horizon"]
    exit_bar = panel.assign(exit=panel.groupby("ticker")["timestamp"].shift(-ahead))
    got = out.merge(exit_bar[[*KEYS, "exit"]], on=KEYS)
    assert got["exit"].notna().all()  # no label without its whole window
    if s["kind"] == "triple_barrier":  # a touch ends the window early, never late
        assert (got["label_end"] <= got["exit"]).all() and (
            got["label_end"] > got["timestamp"]
        ).all()
    elif not s["excess"]:
        assert (got["label_end"] == got["exit"]).all()


split_settings = st.builds(
    dict,
    seed=st.integers(0, 2**32 - 1),
    tickers=st.integers(1, 3),
    freq=st.sampled_from(["1d", "1h"]),
    max_horizon=st.integers(1, 8),
    embargo=st.integers(0, 3),
    mode=st.sampled_from(["holdout", "walk_forward"]),
    train_frac=st.floats(0.2, 0.5),
    valid_frac=st.floats(0.55, 0.8),
    folds=st.integers(1, 4),
    window=st.sampled_from(["expanding", "rolling"]),
    valid_bars=st.integers(1, 15),
    train_bars=st.integers(1, 40),
)


def random_label_rows(panel: pd.DataFrame, seed: int, max_horizon: int) -> pd.DataFrame:
    """Each bar with a label window of random length 1..max_horizon bars of its ticker."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, max_horizon + 1, len(panel))
    ends = {h: panel.groupby("ticker")["timestamp"].shift(-h) for h in range(1, max_horizon + 1)}
    label_end = pd.Series(pd.NaT, index=panel.index, dtype=panel["timestamp"].dtype)
    for h, end in ends.items():
        label_end = label_end.where(k != h, end)
    rows = panel[KEYS].assign(label_end=label_end)
    return rows[rows["label_end"].notna()].reset_index(drop=True)


def split_config(s: dict, days: list[dt.date]) -> SplitConfig:
    return SplitConfig(
        train_end=days[int(s["train_frac"] * len(days))],
        valid_end=days[int(s["valid_frac"] * len(days))],
        embargo_bars=s["embargo"],
        mode=s["mode"],
        walk_forward=WalkForwardConfig(
            folds=s["folds"],
            window=s["window"],
            valid_bars=s["valid_bars"],
            train_bars=s["train_bars"],
        ),
    )


@FAST
@given(s=split_settings)
def test_no_training_label_window_reaches_its_validation_or_test_block(s: dict) -> None:
    panel = make_panel(
        s["seed"], s["tickers"], n_days=60 if s["freq"] == "1d" else 12, freq=s["freq"]
    )
    rows = random_label_rows(panel, s["seed"], s["max_horizon"])
    days = sorted(set(rows["timestamp"].dt.date))
    cfg = split_config(s, days)
    try:
        folds = make_folds(rows, cfg)
        bounds = (
            walk_forward_bounds(rows["timestamp"], cfg)
            if s["mode"] == "walk_forward"
            else [holdout_fold(cfg)]
        )
    except UpdownError:
        assume(False)
        return
    ts, end = rows["timestamp"], rows["label_end"]
    for blocks, fold in zip(folds, bounds, strict=True):
        train, valid, test = (blocks == "train"), (blocks == "valid"), (blocks == "test")
        assert (end[train] < fold.valid_start).all() and (end[valid] < fold.test_start).all()
        assert (ts[train] >= fold.train_start).all() and (ts[train] < fold.valid_start).all()
        assert ((ts[valid] >= fold.valid_start) & (ts[valid] < fold.test_start)).all()
        assert ((ts[test] >= fold.test_start) & (ts[test] < fold.test_end)).all()
        # Only what must go goes: a clean training row is kept, and past each ticker's first
        # `embargo` bars of a block, every row of that block whose window ends inside it is kept.
        in_train = (ts >= fold.train_start) & (ts < fold.valid_start)
        assert (train == (in_train & (end < fold.valid_start))).all()
        for name, start, stop, limit in (
            ("valid", fold.valid_start, fold.test_start, fold.test_start),
            ("test", fold.test_start, fold.test_end, pd.Timestamp.max.tz_localize("UTC")),
        ):
            inside = (ts >= start) & (ts < stop)
            rank = inside.groupby(rows["ticker"]).cumsum()
            expected = inside & (rank > s["embargo"]) & (end < limit)
            assert ((blocks == name) == expected).all()
    if s["mode"] == "walk_forward":
        tests = [set(ts[b == "test"]) for b in folds]
        assert all(not (a & b) for i, a in enumerate(tests) for b in tests[i + 1 :])


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_walk_forward_test_blocks_follow_each_other_without_overlap(window: str) -> None:
    panel = make_panel(7, 2, n_days=120)
    rows = random_label_rows(panel, 7, 3)
    days = sorted(set(rows["timestamp"].dt.date))
    cfg = SplitConfig(
        train_end=days[30],
        valid_end=days[60],
        embargo_bars=0,
        mode="walk_forward",
        walk_forward=WalkForwardConfig(folds=3, window=window, valid_bars=10, train_bars=20),
    )
    bounds = walk_forward_bounds(rows["timestamp"], cfg)
    assert [b.test_end for b in bounds[:-1]] == [b.test_start for b in bounds[1:]]
    assert bounds[0].test_start > pd.Timestamp(days[60], tz="UTC")
    assert all(b.train_start < b.valid_start < b.test_start < b.test_end for b in bounds)


gap_settings = st.builds(
    dict,
    seed=st.integers(0, 2**32 - 1),
    tickers=st.integers(1, 3),
    freq=st.sampled_from(["1d", "1h"]),
    at=st.floats(0.1, 0.9),
    days=st.integers(8, 1200),
)


def with_gap(p: dict) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """A panel whose ticker T0 jumps `days` calendar days forward after a random bar; the last
    bar before the gap and the first after it."""
    panel = make_panel(
        p["seed"], p["tickers"], n_days=45 if p["freq"] == "1d" else 7, freq=p["freq"]
    )
    rows = np.flatnonzero((panel["ticker"] == "T0").to_numpy())
    k = rows[min(int(p["at"] * len(rows)), len(rows) - 2)]
    later = rows[rows > k]
    panel.loc[later, "timestamp"] = panel.loc[later, "timestamp"] + pd.Timedelta(days=p["days"])
    return panel, panel.loc[k, "timestamp"], panel.loc[later[0], "timestamp"]


def perturb(panel: pd.DataFrame, rows: np.ndarray, seed: int) -> pd.DataFrame:
    """`panel` with the bars at `rows` (one ticker's) replaced by another valid random path."""
    out = panel.copy()
    rng = np.random.default_rng(seed)
    fresh = bars_for(pd.DatetimeIndex(out.loc[rows, "timestamp"]), rng, rng.uniform(0.5, 2))
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        out.loc[rows, col] = fresh[col].to_numpy()
    return out


def validated(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel as `validate` hands it on: with its segments (a gap over max_gap_days)."""
    raw = {t: g.drop(columns="ticker").reset_index(drop=True) for t, g in panel.groupby("ticker")}
    cfg = dataclasses.replace(
        load_params(REPO / "params.yaml").validate, min_rows=1, max_gap_days=7
    )
    out, _ = validate_all(raw, cfg)
    return out


def side_of(frame: pd.DataFrame, side: str, gap: tuple[pd.Timestamp, pd.Timestamp]) -> np.ndarray:
    """Rows at or before the gap's last bar ("before"), or at or after its first ("after")."""
    ts = frame["timestamp"]
    return (ts <= gap[0] if side == "before" else ts >= gap[1]).to_numpy()


@FAST
@given(p=gap_settings, s=label_settings)
def test_nothing_on_one_side_of_a_gap_changes_with_the_bars_on_the_other_side(
    p: dict, s: dict
) -> None:
    panel, *gap = with_gap(p)
    assume(p["tickers"] > 1 or not s["excess"])
    cfg, intraday = small_features(), p["freq"] == "1h"
    base = validated(panel)
    t0 = (base["ticker"] == "T0").to_numpy()
    assert (base.loc[t0 & side_of(base, "after", gap), "segment"] >= 1).all()
    features, labels = make_features(base, cfg, intraday), labels_for(base, s)
    for side, other, seed in (("before", "after", 1), ("after", "before", 2)):
        # T0's bars on one side replaced: every row on the other side, of every ticker, stays.
        rows = np.flatnonzero(t0 & side_of(base, side, gap))
        changed = validated(perturb(base.drop(columns="segment"), rows, p["seed"] + seed))
        for old, new in (
            (features, make_features(changed, cfg, intraday)),
            (labels, labels_for(changed, s)),
        ):
            assert_frame_equal(
                new[side_of(new, other, gap)].reset_index(drop=True),
                old[side_of(old, other, gap)].reset_index(drop=True),
                check_exact=True,
            )
    # Not vacuous: the last bar before the gap has no label (there is no next bar), and the
    # first bar after it starts afresh, as a ticker's first bar does. (An excess label's end is
    # the latest among the tickers at its bar, which another ticker may push past the gap.)
    t0_labels = labels[labels["ticker"] == "T0"]
    assert not (t0_labels["timestamp"] == gap[0]).any()
    if not s["excess"]:
        assert (t0_labels["label_end"] <= gap[0]).sum() + (
            t0_labels["timestamp"] >= gap[1]
        ).sum() == len(t0_labels)
    first = features[(features["ticker"] == "T0") & (features["timestamp"] == gap[1])]
    assert first[["ret_1", "gap", "vol_3"]].isna().all().all()
