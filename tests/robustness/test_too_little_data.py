"""Too little data for the feature windows, the labels or the split: a clear line from the
stage that finds out, before LightGBM is ever called, and the previous outputs untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile import (
    REPO,
    csv_text,
    daily_bars,
    error_line,
    fingerprint,
    stage_command,
    updown,
    write_params,
)

# Every test here runs the real `updown` CLI: `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow

# Dates that the config checks accept for 400 business days from 2001-01-02 (to mid 2002).
PARAMS = {
    "data.source": "csv",
    "data.start": "2000-01-01",
    "data.end": "2003-12-31",
    "split.train_end": "2001-12-31",
    "split.valid_end": "2002-03-31",
    "data.csv.path": "in",
    "data.csv.pattern": "{ticker}.csv",
    "validate.min_rows": 30,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One long ticker and one with 40 bars, acquired and validated (validate.min_rows 30)."""
    root = tmp_path_factory.mktemp("too_little")
    (root / "in").mkdir()
    (root / "in" / "LONG.csv").write_text(csv_text(daily_bars(400)))
    (root / "in" / "SHORT.csv").write_text(csv_text(daily_bars(40, seed=3)))
    params = write_params(root / "params.yaml", {**PARAMS, "data.tickers": ["LONG", "SHORT"]})
    for args in (["acquire", "--out-dir", "data/raw/csv"], stage_command(REPO, "validate", params)):
        done = updown(*args, cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


def previous(root: Path, tmp_path: Path, *outputs: str) -> dict[str, str]:
    """Stand-ins for a previous run's outputs, in a copy of the project; their digests."""
    work = tmp_path / "work"
    shutil.copytree(root, work)
    for out in outputs:
        (work / out).parent.mkdir(parents=True, exist_ok=True)
        (work / out).write_text(f"previous {out}")
    return fingerprint(work, "data", "models", "reports")


def test_a_ticker_shorter_than_the_feature_windows_stops_features(
    project: Path, tmp_path: Path
) -> None:
    before = previous(project, tmp_path, "data/processed/features.parquet")
    work = tmp_path / "work"
    done = updown(*stage_command(REPO, "features", work / "params.yaml"), cwd=work)
    error_line(
        done,
        "features",
        "ticker SHORT has only 40 bars",
        "not more than the longest feature window (60, features.",
        "validate.min_rows above 60",
    )
    assert fingerprint(work, "data", "models", "reports") == before


def test_no_labelled_rows_stops_label_with_the_keys(project: Path, tmp_path: Path) -> None:
    before = previous(project, tmp_path, "data/interim/labels.parquet")
    work = tmp_path / "work"
    params = write_params(work / "strict.yaml", {"label.threshold": 5.0}, base=work / "params.yaml")
    done = updown(*stage_command(REPO, "label", params), cwd=work)
    error_line(done, "label", "no rows could be labelled", "label.threshold=5.0")
    assert fingerprint(work, "data", "models", "reports") == before


def test_too_few_rows_to_train_stops_train_before_lightgbm(project: Path, tmp_path: Path) -> None:
    """Only LONG, and a train block of a few weeks: fewer rows than training needs."""
    previous(project, tmp_path, "models/model.txt", "models/baselines.json")
    work = tmp_path / "work"
    params = write_params(
        work / "short.yaml",
        {"data.tickers": ["LONG"], "split.train_end": "2001-02-15"},
        base=work / "params.yaml",
    )
    for stage in ("validate", "label", "features"):
        done = updown(*stage_command(REPO, stage, params), cwd=work)
        assert done.returncode == 0, done.stderr[-3000:]
    before = fingerprint(work, "models")
    done = updown(*stage_command(REPO, "train", params), cwd=work)
    line = error_line(done, "train", "labelled rows in the train block", "need at least")
    assert "LightGBM" not in line and "lightgbm" not in done.stderr.lower()
    assert fingerprint(work, "models") == before
