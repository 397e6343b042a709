"""`make bench` cannot rot: a tiny run of the harness end to end, and its parts on their own.

No test here looks at a time: the benchmark prints its figures, it never asserts them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import project_env
from updown.config import load_params
from updown.dag.acquire_jobs import acquire_jobs

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import synthetic  # noqa: E402

STAGES = {"acquire", "validate", "label", "features", "train", "evaluate", "track", "predict"}


@pytest.mark.integration
def test_tiny_bench_run_measures_every_stage_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(BENCH / "run.py"),
        "--scenarios",
        "synthetic",
        "--synthetic-tickers",
        "3",
        "--synthetic-bars",
        "700",
        "--synthetic-baseline",
        "--workdir",
        str(tmp_path / "work"),
        "--out",
        str(out),
    ]
    done = subprocess.run(
        cmd, cwd=REPO, env=project_env(), capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    sc = report["scenarios"]["synthetic"]

    assert set(sc["stages"]) == STAGES
    # one acquire process per non-empty hash bucket of the 3 tickers (data.acquire_jobs)
    jobs = acquire_jobs(
        [f"SYN{i:04d}" for i in range(3)], load_params(REPO / "params.yaml").data.acquire_jobs
    )
    assert sc["stages"]["acquire"]["processes"] == len(jobs)
    for name, stage in sc["stages"].items():
        assert stage["failed"] == 0, name
        assert stage["wall_s"] > 0 and stage["cpu_s"] > 0 and stage["max_rss_mb"] > 10, name
    assert sc["panel_rows"] == sc["raw_rows"] == sc["stages"]["features"]["rows"] > 0
    assert sc["features"] >= 14
    assert sc["end_to_end"]["stage_processes"] == len(jobs) + 7  # and the 7 other stages

    assert sc["noop_snakemake"]["stage_processes"] == 0
    assert sc["dvc"]["noop_stage_processes"] == 0
    assert sc["features_qlib14"]["features"] == 14
    assert sc["add_one_ticker"]["ticker"] == "SYN0002"
    assert sc["add_one_ticker"]["panel"]["stages_run"] == {"acquire": 1, "validate": 1}

    loop = sc["baseline"]["loop"]
    assert loop["columns"] == sc["features"]
    assert loop["check_detail"]["columns_agreeing"] == sc["features"], loop["check"]
    assert sc["baseline"]["ratio_compute"] > 0

    assert {t["target"] for t in report["targets"]} >= {"10x largest stage peak RSS"}
    assert "== synthetic" in done.stdout and "== targets" in done.stdout


def test_stage_meter_records_a_stage_and_passes_its_exit_status_through(tmp_path: Path) -> None:
    log = tmp_path / "stages.jsonl"
    env = {**os.environ, "UPDOWN_BENCH_REAL": "/bin/sh", "UPDOWN_BENCH_LOG": str(log)}
    done = subprocess.run(
        [sys.executable, "-S", str(BENCH / "stage_meter.py"), "-c", "exit 3", "--ticker", "X"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["stage"] == "-c" and record["ticker"] == "X" and record["exit"] == 3
    assert record["wall_s"] > 0 and record["max_rss_mb"] > 0


def test_stage_meter_address_space_cap_stops_a_stage_that_outgrows_it(tmp_path: Path) -> None:
    log = tmp_path / "stages.jsonl"
    env = {
        **os.environ,
        "UPDOWN_BENCH_REAL": sys.executable,
        "UPDOWN_BENCH_LOG": str(log),
        "UPDOWN_BENCH_AS_LIMIT_MB": "400",
    }
    grab = "b = bytearray(1024 * 2**20)"  # 1 GB, beyond the cap
    done = subprocess.run(
        [sys.executable, "-S", str(BENCH / "stage_meter.py"), "-c", grab],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "MemoryError" in done.stderr


def test_synthetic_panel_is_valid_bars_and_the_same_for_the_same_seed(tmp_path: Path) -> None:
    a = synthetic.write_panel(tmp_path / "a", tickers=5, bars=400, seed=7)
    b = synthetic.write_panel(tmp_path / "b", tickers=5, bars=400, seed=7)
    assert a["tickers"] == ["SYN0000", "SYN0001", "SYN0002", "SYN0003", "SYN0004"]
    assert a["rows"] == b["rows"] and a["rows"] >= 5 * 300
    for name in a["tickers"]:
        frame = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        assert frame.equals(pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))
        assert list(frame.columns) == synthetic.COLUMNS
        top = np.maximum(frame["open"], frame["close"])
        bottom = np.minimum(frame["open"], frame["close"])
        assert (frame["high"] >= top).all() and (bottom >= frame["low"]).all()
        assert (frame["low"] > 0).all() and (frame["volume"] >= 0).all()
        assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].is_unique
        assert str(frame["timestamp"].iloc[-1].date()) == synthetic.DEFAULT_END
