"""Hourly bars end to end: features (hour of day on the exchange clock), labels across the
overnight gap, splits by date and by bar count, and the whole pipeline on an hourly CSV folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run, set_params
from synthetic_panels import NY, label_config, make_panel, small_features
from updown.config import SplitConfig, WalkForwardConfig, load_params
from updown.data.validate import validate_all
from updown.learn.features import make_features
from updown.learn.label import make_labels
from updown.learn.split import assign_blocks, walk_forward_folds

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return make_panel(21, tickers=2, n_days=30, freq="1h", drop_fraction=0.0)


def local(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(NY)


def test_hourly_features_carry_the_hour_on_the_exchange_clock(hourly: pd.DataFrame) -> None:
    out = make_features(hourly, small_features(), intraday=True)
    assert sorted(out["hour"].unique()) == list(range(9, 16))
    np.testing.assert_array_equal(out["hour"], local(hourly["timestamp"]).dt.hour)
    np.testing.assert_array_equal(out["day_of_week"], local(hourly["timestamp"]).dt.dayofweek)
    # Windows count bars: ret_7 at 09:30 reaches back to 09:30 of the previous trading day.
    one = hourly[hourly["ticker"] == "T0"].reset_index(drop=True)
    first_of_day = local(one["timestamp"]).dt.hour == 9
    i = int(np.flatnonzero(first_of_day)[3])
    expected = np.log(one["adj_close"].iloc[i] / one["adj_close"].iloc[i - 7])
    cfg = small_features(return_windows=(7,), cross_sectional=())
    ret7 = make_features(one, cfg, intraday=True, only=["ret_7"])["ret_7"]
    assert ret7.iloc[i] == pytest.approx(expected, rel=1e-5)


def test_hourly_labels_look_the_horizon_in_bars_across_the_night(hourly: pd.DataFrame) -> None:
    out = make_labels(hourly, label_config(horizon=2))
    t0 = out[out["ticker"] == "T0"]
    last_bar = t0[local(t0["timestamp"]).dt.strftime("%H:%M") == "15:30"].iloc[0]
    end = local(pd.Series([last_bar["label_end"]])).iloc[0]
    assert end.strftime("%H:%M") == "10:30"  # two bars on: 09:30, 10:30 the next trading day
    assert end.date() > local(pd.Series([last_bar["timestamp"]])).iloc[0].date()
    barrier = make_labels(hourly, label_config(kind="triple_barrier", horizon=7, vol_window=14))
    assert set(barrier["touch"]) <= {"take", "stop", "vertical"} and len(barrier) > 100
    assert (barrier["label_end"] > barrier["timestamp"]).all()


def test_hourly_holdout_purges_the_last_bars_of_the_training_day(hourly: pd.DataFrame) -> None:
    labels = make_labels(hourly, label_config(horizon=1))
    days = sorted(set(local(labels["timestamp"]).dt.date))
    cfg = SplitConfig(train_end=days[10], valid_end=days[20], embargo_bars=0)
    blocks = assign_blocks(labels, cfg)
    on_day = local(labels["timestamp"]).dt.date == days[10]
    hours = local(labels["timestamp"]).dt.strftime("%H:%M")
    # 15:30 NY is 20:30 UTC, still on the training day; its label ends the next morning.
    assert set(blocks[on_day & (hours == "15:30")]) == {""}
    assert set(blocks[on_day & (hours == "14:30")]) == {"train"}
    assert (labels.loc[blocks == "train", "label_end"] < pd.Timestamp(days[11], tz="UTC")).all()


def test_hourly_walk_forward_counts_hourly_bars(hourly: pd.DataFrame) -> None:
    labels = make_labels(hourly, label_config(horizon=1))
    days = sorted(set(local(labels["timestamp"]).dt.date))
    cfg = SplitConfig(
        train_end=days[5],
        valid_end=days[20],
        embargo_bars=0,
        mode="walk_forward",
        walk_forward=WalkForwardConfig(folds=2, window="rolling", valid_bars=7, train_bars=14),
    )
    folds = walk_forward_folds(labels, cfg)
    for blocks in folds:
        valid_times = labels.loc[blocks == "valid", "timestamp"]
        train_times = labels.loc[blocks == "train", "timestamp"]
        assert valid_times.nunique() == 6  # one trading day of 7 bars, its last bar purged
        assert train_times.nunique() == 13  # two days of 7, the last purged


def test_hourly_nights_and_weekends_are_no_gap_but_a_missing_week_splits_the_ticker() -> None:
    """validate.max_gap_days is calendar time, the same bound for hourly and daily bars: a night
    (17.5 h) or a weekend (65.5 h) keeps one segment; ten days without bars start a new one,
    where labels and windows restart as at a ticker's first bar."""
    panel = make_panel(5, tickers=1, n_days=40, freq="1h", drop_fraction=0.0)
    raw = {"T0": panel.drop(columns="ticker")}
    cfg = dataclasses.replace(load_params(REPO / "params.yaml").validate, min_rows=1)
    whole, report = validate_all(raw, cfg)
    assert set(whole["segment"]) == {0} and report["tickers"]["T0"]["n_gaps"] == 0
    days = local(panel["timestamp"]).dt.date
    hole = (days >= days.iloc[0] + dt.timedelta(days=20)) & (
        days < days.iloc[0] + dt.timedelta(days=30)
    )
    split, report = validate_all({"T0": panel.loc[~hole].drop(columns="ticker")}, cfg)
    assert report["tickers"]["T0"]["segments"] == 2
    start = int(np.flatnonzero(split["segment"].to_numpy() == 1)[0])
    labels = make_labels(split, label_config(horizon=3))
    assert (labels["label_end"] < split["timestamp"].iloc[start]).sum() == start - 3
    features = make_features(split, small_features(), intraday=True)
    assert features.loc[start, ["ret_1", "vol_3", "gap"]].isna().all()
    assert features.loc[start + 3, "vol_3"] > 0


@pytest.mark.integration
def test_hourly_csv_bars_with_utc_offsets_and_missing_bars_run_through_label_and_features(
    new_project: Callable[[], Path], tmp_path: Path
) -> None:
    """Hourly CSV text with UTC offsets and 1% of the bars missing, through acquire, validate,
    label and features under Snakemake. Train to predict on hourly bars run end to end in
    test_make_run_hourly_runs_the_example_in_its_own_folder."""
    project = new_project()
    folder = tmp_path / "hourly"
    folder.mkdir()
    panel = make_panel(4, tickers=2, n_days=320, freq="1h", drop_fraction=0.01)
    for ticker, rows in panel.groupby("ticker"):
        out = rows.drop(columns="ticker").assign(timestamp=local(rows["timestamp"]))
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S%z")
        out.to_csv(folder / f"{ticker}.csv", index=False)
    days = sorted(set(local(panel["timestamp"]).dt.date))
    iso: Callable[[dt.date], str] = lambda d: d.isoformat()  # noqa: E731
    set_params(
        project,
        {
            "data.source": "csv",
            "data.tickers": ["T0", "T1"],
            "data.interval": "1h",
            "data.start": iso(days[0] - dt.timedelta(days=1)),
            "data.end": iso(days[-1] + dt.timedelta(days=1)),
            "data.csv.path": str(folder),
            "data.csv.pattern": "{ticker}.csv",
            "data.csv.columns.adj_close": "adj_close",
            "label.horizon": 3,
            "split.train_end": iso(days[200]),
            "split.valid_end": iso(days[260]),
        },
    )
    targets = ["data/processed/features.parquet", "data/interim/labels.parquet"]
    run(["snakemake", "--cores", "2", *targets], project)
    features = pd.read_parquet(project / "data/processed/features.parquet")
    assert sorted(features["hour"].unique()) == list(range(9, 16))
    labels = pd.read_parquet(project / "data/interim/labels.parquet")
    assert (labels["label_end"] > labels["timestamp"]).all()
    assert sorted(labels["ticker"].unique()) == ["T0", "T1"]


@pytest.mark.integration
def test_make_run_hourly_runs_the_example_in_its_own_folder(
    new_project: Callable[[], Path],
) -> None:
    """The one-command hourly example: examples/hourly.yaml over params.yaml, the seeded
    generator's bars, the whole pipeline in runs/hourly; the daily outputs are not touched, and
    a second `make run-hourly` has nothing to do."""
    project = new_project()
    (project / ".venv").symlink_to(REPO / ".venv")  # -o: use it as it is, never rebuild it
    make = ["make", "-o", ".venv/.installed", "run-hourly"]
    run(make, project)
    out = project / "runs" / "hourly"
    features = pd.read_parquet(out / "data/processed/features.parquet")
    assert sorted(features["hour"].unique()) == list(range(9, 16))
    metrics = json.loads((out / "reports/metrics.json").read_text())
    assert metrics["test"]["tickers"] == 5
    assert metrics["test"]["bars"] > 20 * 20  # enough 20-bar blocks for a bootstrap verdict
    latest = pd.read_csv(out / "reports/latest.csv")
    assert sorted(latest["ticker"]) == [f"SYN{i:04d}" for i in range(5)]
    assert (out / "mlflow.db").is_file() and (out / "reports/report.html").is_file()
    for daily in ("data", "models", "reports", "logs", "mlflow.db"):
        assert not (project / daily).exists(), daily
    # The generator is seeded: the same command writes the same bars.
    again = project / "again"
    run([sys.executable, "benchmarks/synthetic.py", "--out", str(again), "--tickers", "5",
         "--bars", "3500", "--interval", "1h", "--seed", "1"], project)  # fmt: skip
    for path in sorted((out / "bars").iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    rerun = run(make, project)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
