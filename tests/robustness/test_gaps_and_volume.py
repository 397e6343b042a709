"""Data that passes every row check and still fakes a verdict, through the real `updown` CLI:
years missing in the middle of a file, a ticker without volume, a raw file that is not there.

A long gap splits the ticker into segments, so no label, return or window spans it (or fails,
with validate.on_gap: fail); a ticker without volume is reported and its volume features left
out for the whole run (or the ticker dropped, or failed, per validate.zero_volume); a missing
raw file is dropped like any failing ticker when the policy says drop.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hostile import (
    REPO,
    csv_text,
    daily_bars,
    error_line,
    stage_command,
    updown,
    write_params,
)
from updown.config import load_params
from updown.learn.features import make_features, planned_names, volume_names
from updown.learn.label import make_labels, resolved

# Every test here runs the real `updown` CLI: `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow

PARAMS = {
    "data.source": "csv",
    "data.start": "2000-01-01",
    "data.end": "2008-12-31",
    "split.train_end": "2002-12-31",
    "split.valid_end": "2006-06-30",
    "data.csv.path": "in",
    "data.csv.pattern": "{ticker}.csv",
}
HOLE_FROM, HOLE_TO = "2002-07-01", "2005-06-30"  # three years missing from HOLE


def _hole() -> pd.DataFrame:
    bars = daily_bars(1600, seed=11)  # 2001-01-02 .. early 2007
    inside = (bars["timestamp"] >= HOLE_FROM) & (bars["timestamp"] <= HOLE_TO)
    return bars.loc[~inside].reset_index(drop=True)


def _no_volume(empty: bool) -> pd.DataFrame:
    bars = daily_bars(400, seed=5).astype({"volume": object})
    bars["volume"] = None if empty else 0
    return bars


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV files for GOOD, HOLE (three years missing), ZEROVOL (volume all 0) and NANVOL (an
    empty volume column), acquired into data/raw/csv."""
    root = tmp_path_factory.mktemp("gaps_volume")
    (root / "in").mkdir()
    files = {
        "GOOD": daily_bars(400),
        "HOLE": _hole(),
        "ZEROVOL": _no_volume(empty=False),
        "NANVOL": _no_volume(empty=True),
    }
    for name, frame in files.items():
        (root / "in" / f"{name}.csv").write_text(csv_text(frame))
    params = write_params(root / "params.yaml", {**PARAMS, "data.tickers": sorted(files)})
    done = updown("acquire", "--params", str(params), "--out-dir", "data/raw/csv", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def run_stage(root: Path, tmp_path: Path, stage: str, changes: dict[str, Any]) -> tuple[Any, Path]:
    """`updown <stage>` as DVC runs it, in a copy of the project, with `changes` to params."""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(root, work)
    params = write_params(work / "params.yaml", {**PARAMS, **changes}, base=root / "params.yaml")
    return updown(*stage_command(REPO, stage, params), cwd=work), work


def report(work: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((work / "reports" / "validation.json").read_text())
    return result


# --- gaps ------------------------------------------------------------------------------------


def test_a_long_gap_splits_the_ticker_and_no_label_return_or_window_spans_it(
    project: Path, tmp_path: Path
) -> None:
    tickers = {"data.tickers": ["HOLE"]}
    logs = {}
    for stage in ("validate", "label", "features"):
        done, work = run_stage(project, tmp_path, stage, tickers)
        assert done.returncode == 0, done.stderr[-3000:]
        logs[stage] = done.stderr
    assert (
        "split into segments at gaps longer than validate.max_gap_days=7: HOLE" in logs["validate"]
    )
    ticker = report(work)["tickers"]["HOLE"]
    assert ticker["segments"] == 2 and ticker["n_gaps"] == 1
    assert ticker["gaps"][0]["days"] > 3 * 365 and ticker["n_jumps"] == 0
    summary = report(work)["summary"]
    assert summary["tickers_split_at_gaps"] == ["HOLE"]
    assert summary["notes"] == [
        "split at gaps longer than validate.max_gap_days=7, no label or window spanning one: "
        "HOLE (2 segments)"
    ]

    prices = pd.read_parquet(work / "data" / "interim" / "prices.parquet")
    after = (prices["timestamp"] > pd.Timestamp(HOLE_TO, tz="UTC")).to_numpy()
    assert (prices.loc[after, "segment"] == 1).all() and (prices.loc[~after, "segment"] == 0).all()
    last_before = prices.loc[~after, "timestamp"].max()
    first_after = prices.loc[after, "timestamp"].min()

    # Labels: the last bar before the hole has no "next bar"; no label window crosses it.
    labels = pd.read_parquet(work / "data" / "interim" / "labels.parquet")
    assert last_before not in set(labels["timestamp"])
    crossing = (labels["timestamp"] <= last_before) & (labels["label_end"] >= first_after)
    assert not crossing.any()
    assert labels["forward_return"].abs().max() < 0.2  # the three-year move is in no label

    # Features: after the hole, exactly those of the later bars alone, as a ticker of their own.
    features = pd.read_parquet(work / "data" / "processed" / "features.parquet")
    cfg = load_params(work / "params.yaml").features
    later = prices.loc[after].reset_index(drop=True).drop(columns="segment")
    alone = make_features(later, cfg)
    tail = features[features["timestamp"] >= first_after].reset_index(drop=True)
    pd.testing.assert_frame_equal(tail, alone, check_exact=True)
    first = tail.iloc[0]
    assert np.isnan(first["ret_1"]) and np.isnan(first["gap"]) and np.isnan(first["vol_5"])
    # ... and the bars before it keep what one file of the earlier bars alone would give.
    earlier = prices.loc[~after].reset_index(drop=True).drop(columns="segment")
    head = features[features["timestamp"] <= last_before].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, make_features(earlier, cfg), check_exact=True)
    # The labels likewise: the two stretches labelled apart give the same rows.
    label_cfg = resolved(load_params(work / "params.yaml"))
    apart = pd.concat(
        [make_labels(earlier, label_cfg), make_labels(later, label_cfg)], ignore_index=True
    )
    pd.testing.assert_frame_equal(labels, apart, check_exact=True, check_dtype=False)


def test_on_gap_fail_stops_validate_naming_the_ticker_and_the_gap(
    project: Path, tmp_path: Path
) -> None:
    done, work = run_stage(
        project, tmp_path, "validate", {"data.tickers": ["HOLE"], "validate.on_gap": "fail"}
    )
    error_line(
        done,
        "validate",
        "ticker HOLE (in/HOLE.csv)",
        "1 gap(s) longer than validate.max_gap_days=7",
        "validate.on_gap=fail",
    )
    assert not (work / "data" / "interim" / "prices.parquet").exists()


# --- zero volume -----------------------------------------------------------------------------


@pytest.mark.parametrize(("ticker", "kind"), [("ZEROVOL", "zero"), ("NANVOL", "empty")])
def test_no_volume_by_default_drops_the_volume_features_for_the_whole_run(
    project: Path, tmp_path: Path, ticker: str, kind: str
) -> None:
    """validate.zero_volume: drop_features (the default): the ticker stays, validation.json
    says so, and the features stage leaves every volume feature out, for every ticker, instead
    of 20-odd columns of NaN for one of them."""
    tickers = {"data.tickers": ["GOOD", ticker]}
    done, work = run_stage(project, tmp_path, "validate", tickers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"no volume: {ticker}" in done.stderr
    summary, one = report(work)["summary"], report(work)["tickers"][ticker]
    assert summary["tickers_without_volume"] == [ticker] and summary["volume_features"] == "off"
    assert summary["notes"] == [
        f"volume features off for the whole run: {ticker} has no volume "
        "(validate.zero_volume: drop_features)"
    ]
    assert one["status"] == "ok" and one["volume"] == kind
    assert "validate.zero_volume=drop_features" in one["problems"][0]
    assert report(work)["tickers"]["GOOD"]["volume"] == "ok"
    prices = pd.read_parquet(work / "data" / "interim" / "prices.parquet")
    assert (prices.loc[prices["ticker"] == ticker, "volume"] == 0).all()

    done, work = run_stage(project, tmp_path, "features", tickers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"volume features off for the whole run: {ticker} has no volume" in done.stderr
    features = pd.read_parquet(work / "data" / "processed" / "features.parquet")
    cfg = load_params(work / "params.yaml").features
    off = volume_names(cfg)
    assert {"volume_level_20", "corr_pv_20", "wvma_5", "cs_rank_volume_level_20"} <= off
    assert list(features.columns[2:]) == [n for n in planned_names(cfg) if n not in off]
    assert not off & set(features.columns)
    # Every column that is left says something about every ticker.
    for name in features.columns[2:]:
        assert features.groupby("ticker")[name].count().min() > 0, name


def test_no_volume_with_zero_volume_fail_stops_validate_naming_the_ticker(
    project: Path, tmp_path: Path
) -> None:
    done, work = run_stage(
        project,
        tmp_path,
        "validate",
        {"data.tickers": ["GOOD", "ZEROVOL"], "validate.zero_volume": "fail"},
    )
    error_line(
        done,
        "validate",
        "ticker ZEROVOL (in/ZEROVOL.csv)",
        "no volume: no bar has a volume above 0",
        "validate.zero_volume=fail",
    )
    assert not (work / "reports" / "validation.json").exists()


def test_no_volume_with_zero_volume_drop_leaves_the_ticker_out_and_says_why(
    project: Path, tmp_path: Path
) -> None:
    """Dropped even under validate.on_error: fail: the setting asks for exactly that."""
    tickers = {"data.tickers": ["GOOD", "ZEROVOL"], "validate.zero_volume": "drop"}
    done, work = run_stage(project, tmp_path, "validate", tickers)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dropped ZEROVOL: no volume" in done.stderr
    summary, one = report(work)["summary"], report(work)["tickers"]["ZEROVOL"]
    assert summary["tickers_dropped"] == ["ZEROVOL"] and summary["tickers_kept"] == 1
    assert summary["volume_features"] == "on" and summary["tickers_without_volume"] == []
    assert one["status"] == "dropped" and one["volume"] == "zero"
    assert one["problems"] == ["no volume: no bar has a volume above 0 [validate.zero_volume=drop]"]
    prices = pd.read_parquet(work / "data" / "interim" / "prices.parquet")
    assert set(prices["ticker"]) == {"GOOD"}
    done, work = run_stage(project, tmp_path, "features", tickers)
    assert done.returncode == 0, done.stderr[-3000:]
    features = pd.read_parquet(work / "data" / "processed" / "features.parquet")
    assert "volume_level_20" in features.columns and features["volume_level_20"].notna().any()


# --- a missing raw file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [{"validate.on_error": "drop"}, {"validate.overrides": {"GONE": "drop"}}],
    ids=["on_error-drop", "override-drop"],
)
def test_a_missing_raw_file_is_dropped_with_its_reason_when_the_policy_says_drop(
    project: Path, tmp_path: Path, policy: dict[str, Any]
) -> None:
    done, work = run_stage(
        project, tmp_path, "validate", {"data.tickers": ["GONE", "GOOD"], **policy}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dropped GONE: no raw file: data/raw/csv/GONE.parquet does not exist" in done.stderr
    summary, gone = report(work)["summary"], report(work)["tickers"]["GONE"]
    assert summary["tickers_in"] == 2 and summary["tickers_dropped"] == ["GONE"]
    assert gone["status"] == "dropped" and gone["rows_in"] == 0
    assert gone["problems"][0].startswith("no raw file: data/raw/csv/GONE.parquet does not exist")
    prices = pd.read_parquet(work / "data" / "interim" / "prices.parquet")
    assert set(prices["ticker"]) == {"GOOD"}


def test_a_missing_raw_file_still_stops_validate_under_on_error_fail(
    project: Path, tmp_path: Path
) -> None:
    done, work = run_stage(project, tmp_path, "validate", {"data.tickers": ["GONE", "GOOD"]})
    error_line(
        done,
        "validate",
        "data/raw/csv/GONE.parquet: no raw bars for GONE of data.tickers",
        "set validate.overrides.GONE: drop to leave it out",
    )
    assert not (work / "reports" / "validation.json").exists()


def test_a_bound_that_splits_every_weekend_stops_features_naming_the_key(
    project: Path, tmp_path: Path
) -> None:
    """validate.max_gap_days is calendar time: at 2 days every weekend is a gap, the segments
    are a week long and no 60-bar window fills, which the features stage says in one line."""
    changes = {"data.tickers": ["GOOD"], "validate.max_gap_days": 2}
    done, work = run_stage(project, tmp_path, "validate", changes)
    assert done.returncode == 0, done.stderr[-3000:]
    assert report(work)["tickers"]["GOOD"]["segments"] > 70
    done, work = run_stage(project, tmp_path, "features", changes)
    error_line(
        done,
        "features",
        "ticker GOOD has only 5 bars between gaps longer than validate.max_gap_days",
        "not more than the longest feature window (60, features.",
        "raise validate.max_gap_days",
    )
