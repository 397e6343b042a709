"""The shared S&P 500 folder runs end to end through the csv source with a params override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run, set_params

pytestmark = [pytest.mark.integration, pytest.mark.shared]

# Neither test is about how acquire spreads the tickers: 2 jobs (the 2 cores) rather than 16
# start 14 fewer processes for the whole folder, ~0.6 s of CPU each, for the same files read.
SP500 = {
    "data.source": "csv",
    "data.start": "1999-11-01",
    "data.end": "2018-12-31",
    "data.acquire_jobs": 2,
}


def test_provider_error_file_stops_the_run_by_name_under_fail_policy(
    new_project, sp500_dir: Path
) -> None:
    project = new_project()
    set_params(
        project,
        {**SP500, "data.csv.path": str(sp500_dir), "data.tickers": ["AAPL", "BF.B", "MSFT"]},
    )
    done = run(["snakemake", "--cores", "2", "reports/validation.json"], project, check=False)
    assert done.returncode != 0
    assert "updown validate: error: ticker BF.B" in done.stderr
    assert "BF.B.csv.gz" in done.stderr
    assert "provider error message" in done.stderr
    assert not (project / "data/interim/prices.parquet").exists()


def test_whole_folder_runs_end_to_end_dropping_the_bad_file(new_project, sp500_dir: Path) -> None:
    project = new_project()
    tickers = sorted(p.name.removesuffix(".csv.gz") for p in sp500_dir.glob("*.csv.gz"))
    set_params(
        project,
        {
            **SP500,
            "data.csv.path": str(sp500_dir),
            "data.tickers": tickers,
            "validate.on_error": "drop",
            # What is proven is that every stage runs on every file of the folder, not the model
            # nor the whole history (`make bench` runs 1999-2018 with the defaults): 2013 on
            # (the split's three blocks, 6 of 19 years) and 10 rounds instead of 100 save about
            # a minute and a half of the suite's CPU.
            "data.start": "2013-01-01",
            "train.num_boost_round": 10,
            "train.baseline_max_rows": 50000,  # ~116 linear weights need no more here
            "evaluate.bootstrap.resamples": 200,
        },
    )
    run(["snakemake", "--cores", "2"], project, timeout=1800)
    validation = json.loads((project / "reports/validation.json").read_text())
    assert "BF.B" in validation["summary"]["tickers_dropped"]
    assert "provider error message" in validation["tickers"]["BF.B"]["problems"][0]
    assert validation["summary"]["tickers_kept"] > 390
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["test"]["tickers"] > 390
