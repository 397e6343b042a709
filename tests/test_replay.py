"""`updown replay` on the sample: the live loop over history with a simulated clock.

One short replay (8 bars, label horizon 1 so that calls mature two bars later) shared by the
tests: the first model at the first bar, a retrain at the fifth, its challenger in shadow, the
gate at the eighth. A second replay of the same command is killed at a random moment and rerun.
The done-means are checked by the replay's own audit (updown.live.audit, which the 60-bar
replay benchmark runs too), and here on top with this replay's exact figures.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_project, project_env, run, set_params
from updown.config import load_params
from updown.live import audit
from updown.live.journal import KEY, read_journal
from updown.live.loop import RETRAIN, STEP, loop_ledger
from updown.live.promotion import alias_history
from updown.live.retrain import abandon_unfinished

pytestmark = pytest.mark.integration

START, END = "2018-06-01", "2018-06-12"  # 8 trading days
PARAMS = {
    "label.horizon": 1,  # outcome known 2 bars after the call (next open to the open after)
    "train.num_boost_round": 20,
    "evaluate.bootstrap.resamples": 200,
    "retrain.every_bars": 4,
    "retrain.shadow_bars": 1,
    "retrain.on_drift": False,
    "retrain.metric": "hit_rate",
    "data.acquire_jobs": 1,  # both tickers in one acquire job: 2 fewer processes per replay
}
TOOK: list[float] = []  # the uninterrupted replay's wall time: the kill lands within it
REPLAY = ["updown", "replay", "--start", START, "--end", END, "--cores", "2"]


def replay_folder(project: Path) -> Path:
    (folder,) = (project / "replays").iterdir()
    return folder


@pytest.fixture(scope="session")
def sample_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a finished replay on the sample (do not modify)."""
    project = copy_project(tmp_path_factory.mktemp("replay") / "project")
    set_params(project, PARAMS, render_dvc=False)
    began = time.perf_counter()
    run(REPLAY, project, timeout=1200)
    TOOK.append(time.perf_counter() - began)
    return replay_folder(project)


def assert_ok(checks: list[audit.Check]) -> None:
    assert all(c.ok for c in checks), "\n".join(audit.render(checks))


def test_the_journal_holds_one_champion_call_per_ticker_and_step_none_after_its_clock(
    sample_replay: Path,
) -> None:
    journal = read_journal(sample_replay / "journal")
    champion = journal[journal["role"] == "champion"]
    steps = loop_ledger(sample_replay / "journal").read()
    clocks = steps[steps["event"] == STEP]["bar"]
    assert len(clocks) == 8
    assert len(champion) == 2 * len(clocks)
    assert set(champion["as_of"]) == set(clocks)
    assert_ok(audit.call_checks(journal, steps))


def test_each_journalled_probability_is_what_predict_as_of_answers(sample_replay: Path) -> None:
    journal = read_journal(sample_replay / "journal")
    sampled = audit.sampled_calls(journal)
    assert set(sampled["model_version"]) == {"1", "2"}  # the first champion and the challenger
    assert_ok(audit.predict_checks(sample_replay, journal))
    # and once as a user runs it, in a process of its own, with the champion
    history = alias_history(sample_replay / "journal").read()
    moves = history[history["alias"] == "champion"]
    champion = str(moves[moves["event"].isin(["set", "promoted"])]["to_version"].iloc[-1])
    row = journal[journal["model_version"] == champion].iloc[-1]
    cmd = ["updown", "predict", "--ticker", row.ticker, "--as-of", str(row.as_of), "--json"]
    out = run(cmd, sample_replay).stdout.strip().splitlines()[-1]
    assert json.loads(out)["p_up"] == row.p_up


def realised_from_source(journal: pd.DataFrame) -> pd.Series:
    """Each call's outcome recomputed from the sample's bars: the log return from the next
    open to the open `horizon` bars later (label entry next_open)."""
    from arch.data import nasdaq, sp500

    opens = {"^GSPC": sp500.load()["Open"], "^IXIC": nasdaq.load()["Open"]}
    out = []
    for row in journal.itertuples():
        series = opens[row.ticker]
        days = series.index.tz_localize("America/New_York").tz_convert("UTC")
        i = int(np.searchsorted(days, row.as_of))
        assert days[i] == row.as_of
        j = i + 1 + row.horizon
        ok = j < len(series) and days[j] <= journal["as_of"].max() + pd.Timedelta(days=0)
        out.append(math.log(series.iloc[j] / series.iloc[i + 1]) if ok else math.nan)
    return pd.Series(out, index=journal.index)


def test_the_monitors_figures_equal_those_recomputed_from_the_journal(sample_replay: Path) -> None:
    journal = read_journal(sample_replay / "journal")
    params = load_params(sample_replay / "params.yaml")
    # the audit's outcomes are the sample's own opens' (read here straight from its package)
    panel = audit.source_panel(params, journal["journalled_at"].max())
    ours, theirs = audit.realised(journal, panel), realised_from_source(journal)
    pd.testing.assert_series_equal(ours, theirs, check_names=False, rtol=1e-12)
    assert ours.notna().sum() >= 8
    checks = audit.monitor_checks(sample_replay, journal, params)
    assert_ok(checks)
    assert checks[0].detail.startswith(("2 ", "3 "))  # the champion's and the challenger's calls


def test_a_retrain_a_shadow_period_and_a_gate_decision_are_recorded_in_history_and_mlflow(
    sample_replay: Path,
) -> None:
    from mlflow import MlflowClient

    steps = loop_ledger(sample_replay / "journal").read()
    assert (steps["event"] == RETRAIN).sum() == 2  # the first model and one retrain
    journal = read_journal(sample_replay / "journal")
    assert_ok(
        audit.history_checks(sample_replay, journal, load_params(sample_replay / "params.yaml"))
    )
    uri = f"sqlite:///{sample_replay / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = {v.version for v in client.search_model_versions("name = 'updown'")}
    assert {"1", "2"} <= {str(v) for v in versions}
    assert str(client.get_model_version_by_alias("updown", "champion").version) in {"1", "2"}
    judged = client.get_model_version("updown", "2").tags
    assert judged["gate"] in {"promoted", "kept"} and judged["gate_at"].startswith("2018-06-12")


def test_a_replay_killed_at_a_random_moment_resumes_to_the_same_journal(
    sample_replay: Path, tmp_path: Path
) -> None:
    project = copy_project(tmp_path / "project")
    set_params(project, PARAMS, render_dvc=False)
    seconds = random.Random(os.getpid()).uniform(2, 0.9 * (TOOK[0] if TOOK else 60))
    proc = subprocess.Popen(
        REPLAY, cwd=project, env=project_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(seconds)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if (project / "replays").is_dir():  # where it was killed, for the log
        steps = loop_ledger(replay_folder(project) / "journal").read()
        print(f"killed after {seconds:.1f} s: {len(steps)} loop record(s)", steps.tail(2))
    run(REPLAY, project, timeout=1200)
    folder = replay_folder(project)
    assert folder.name == sample_replay.name
    # Run ids are MLflow's random ids, different in every store; everything else is equal.
    key = list(KEY)
    got = read_journal(folder / "journal").drop(columns="run_id").sort_values(key)
    want = read_journal(sample_replay / "journal").drop(columns="run_id").sort_values(key)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    shutil.rmtree(project)


def test_a_version_left_by_a_killed_track_is_removed_so_the_rerun_gets_its_number(
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("updown", artifact_location=str(tmp_path / "a"))
    client.create_registered_model("m")

    def version_of(status: str) -> str:
        run = client.create_run(experiment)
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        source = f"runs:/{run.info.run_id}/model"
        return str(client.create_model_version("m", source, run.info.run_id).version)

    assert version_of("FINISHED") == "1"
    assert version_of("RUNNING") == "2"  # a track killed after registering
    assert abandon_unfinished(client, uri, "updown", "m") == ["2"]
    assert version_of("FINISHED") == "2"  # the rerun's version: what an unkilled run got
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
