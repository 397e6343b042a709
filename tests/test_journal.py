"""The journal: append-only, no duplicates on rerun, no row rewritten, and a writer killed with
SIGKILL at any moment leaves it as it was before the append or as it is after it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import REPO, project_env
from updown.config import load_params
from updown.live.journal import COLUMNS, journal, journal_rows, label_entry, read_journal
from updown.returns import entry_offset

NOW = pd.Timestamp("2019-01-02 21:00", tz="UTC")


def scored(tickers: list[str], as_of: str, p: list[float]) -> pd.DataFrame:
    """What predict_latest returns for these tickers at one bar."""
    return pd.DataFrame(
        {
            "ticker": tickers,
            "as_of": [pd.Timestamp(as_of, tz="UTC").isoformat()] * len(tickers),
            "direction": ["up" if x > 0.5 else "down" for x in p],
            "p_up": p,
            "run_id": "r1",
            "stale": False,
        }
    )


def rows_at(as_of: str, p: list[float], version: str = "1") -> pd.DataFrame:
    params = load_params(REPO / "params.yaml")
    return journal_rows(
        scored(["A", "B"], as_of, p), params, ("m", version, "champion"), "champion", NOW
    )


def test_journal_rows_carry_the_call_the_model_and_when_the_outcome_is_known() -> None:
    rows = rows_at("2019-01-02 21:00", [0.6, 0.4])
    params = load_params(REPO / "params.yaml")
    assert list(rows.columns) == list(COLUMNS)
    assert rows["horizon"].tolist() == [params.label.horizon] * 2
    entry = label_entry(params)  # `auto`: the backtest's execution point
    assert rows["entry"].tolist() == [entry] * 2
    assert rows["outcome_bars"].tolist() == [entry_offset(entry) + params.label.horizon] * 2
    assert rows["direction"].tolist() == ["up", "down"]
    assert rows[["model_name", "model_version", "role"]].iloc[0].tolist() == ["m", "1", "champion"]


def test_rerunning_a_step_adds_nothing_and_no_part_is_ever_rewritten(tmp_path: Path) -> None:
    table = journal(tmp_path)
    first = table.append(rows_at("2019-01-02 21:00", [0.6, 0.4]))
    assert len(first) == 2
    part = table.parts()[0]
    before = part.read_bytes()
    assert len(table.append(rows_at("2019-01-02 21:00", [0.6, 0.4]))) == 0
    # The same key with another value is the same call: the journal keeps the first.
    assert len(table.append(rows_at("2019-01-02 21:00", [0.9, 0.1]))) == 0
    assert len(table.append(rows_at("2019-01-03 21:00", [0.7, 0.2]))) == 2
    # Another model version's calls on the same bar are rows of their own.
    assert len(table.append(rows_at("2019-01-03 21:00", [0.5, 0.5], version="2"))) == 2
    assert part.read_bytes() == before
    got = read_journal(tmp_path)
    assert len(got) == 6 and got["p_up"].tolist()[:2] == [0.6, 0.4]
    assert not got.duplicated(["ticker", "as_of", "model_version", "role"]).any()


def test_journal_rows_read_back_to_the_bit(tmp_path: Path) -> None:
    p = np.random.default_rng(3).random(2).tolist()
    journal(tmp_path).append(rows_at("2019-01-02 21:00", p))
    assert read_journal(tmp_path)["p_up"].tolist() == p


WRITER = """
import os, sys, time, numpy as np, pandas as pd
import pyarrow.parquet as pq
from updown.live.journal import journal
folder, n, seed, pause_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(seed)
rows = pd.DataFrame({
    "ticker": [f"T{i}" for i in range(n)],
    "as_of": pd.Timestamp("2019-01-02", tz="UTC") + pd.to_timedelta(seed, "D"),
    "horizon": 1, "entry": "close", "outcome_bars": 1, "label_kind": "direction",
    "model_name": "m", "model_version": "1", "alias": "champion", "role": "champion",
    "run_id": "r", "direction": "up", "p_up": rng.random(n), "predicted_return": np.nan,
    "stale": False, "journalled_at": pd.Timestamp("2019-01-02", tz="UTC"),
})

def pausing(name, real):
    # Stop at a chosen point of the append and wait there to be killed.
    def wrapper(*args, **kwargs):
        if pause_at == "before_" + name:
            print("paused", flush=True); time.sleep(600)
        out = real(*args, **kwargs)
        if pause_at == "after_" + name:
            print("paused", flush=True); time.sleep(600)
        return out
    return wrapper

pq.write_table = pausing("write", pq.write_table)
os.replace = pausing("rename", os.replace)
print("ready", flush=True)
journal(folder).append(rows)
print("done", flush=True)
"""
# Where a writer is killed: while the part is being written (the temporary half made), once it
# is written but not yet renamed, and once renamed (before the folder is synced and the lock let go).
PAUSES = ("before_write", "after_write", "before_rename", "after_rename")


def start_writer(folder: Path, n: int, seed: int, pause_at: str = "") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(n), str(seed), pause_at],
        stdout=subprocess.PIPE,
        text=True,
        env=project_env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def snapshot(folder: Path) -> pd.DataFrame:
    return read_journal(folder).sort_values(["as_of", "ticker"], ignore_index=True)


def check_before_or_after(before: pd.DataFrame, after: pd.DataFrame, n: int) -> str:
    if len(after) == len(before):
        pd.testing.assert_frame_equal(after, before)
        return "before"
    assert len(after) == len(before) + n
    kept = after[after["as_of"].isin(before["as_of"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before)
    return "after"


def test_a_writer_killed_at_each_point_of_an_append_leaves_the_journal_before_or_after(
    tmp_path: Path,
) -> None:
    folder, n = tmp_path / "j", 2000
    start_writer(folder, n, 0).wait(timeout=120)
    outcomes = {}
    for seed, pause in enumerate(PAUSES, start=1):
        before = snapshot(folder)
        proc = start_writer(folder, n, seed, pause)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "paused"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        outcomes[pause] = check_before_or_after(before, snapshot(folder), n)
        # The next append of the same step completes it, once, and clears what the kill left.
        start_writer(folder, n, seed).wait(timeout=120)
        assert len(snapshot(folder)) == n * (seed + 1)
        assert list((folder / "predictions").glob(".*.tmp")) == []
    assert outcomes == {
        "before_write": "before",
        "after_write": "before",
        "before_rename": "before",
        "after_rename": "after",
    }


def test_a_writer_killed_at_random_moments_leaves_the_journal_before_or_after(
    tmp_path: Path,
) -> None:
    folder, n = tmp_path / "j", 50_000
    proc = start_writer(folder, n, 0)
    start = time.perf_counter()  # from "ready": the append alone
    proc.wait(timeout=120)
    took = time.perf_counter() - start
    rng = np.random.default_rng(0)
    for seed in range(1, 5):
        before = snapshot(folder)
        proc = start_writer(folder, n, seed)
        time.sleep(took * rng.uniform(0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        check_before_or_after(before, snapshot(folder), n)
        start_writer(folder, n, seed).wait(timeout=120)
        assert len(snapshot(folder)) == n * (seed + 1)
