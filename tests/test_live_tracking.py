"""The live figures over time land in a real MLflow sqlite store as step metrics: one run per
model version and role, one step per as-of bar, and a rerun logs only the new bars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_monitor import journal, panel
from updown.live.figures import live_figures
from updown.live.monitor import matured
from updown.live.tracking import last_logged, log_steps, step_series


def test_each_step_is_the_window_of_bars_ending_there() -> None:
    prices = panel()
    rows = matured(journal(prices), prices)
    series = step_series(rows, 5)
    bars = sorted(rows["as_of"].unique())
    assert len(series) == len(bars)
    for i in (0, 3, 10, len(bars) - 1):
        part = rows[rows["as_of"].isin(bars[max(0, i - 4) : i + 1])]
        assert series["hit_rate"].iloc[i] == live_figures(part)["hit_rate"]
        assert series["as_of"].iloc[i] == bars[i]


def test_live_metrics_are_logged_once_per_bar_to_a_run_per_version(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    prices = panel()
    rows = matured(journal(prices), prices)
    early = rows[rows["as_of"] < rows["as_of"].unique()[30]]
    model = ("m", "1", "champion")
    assert log_steps(client, "updown", model, step_series(early, 5)) == 30
    # The journal grew: only the new bars are logged, to the same run.
    assert (
        log_steps(client, "updown", model, step_series(rows, 5)) == len(rows["as_of"].unique()) - 30
    )
    assert log_steps(client, "updown", model, step_series(rows, 5)) == 0
    experiment = client.get_experiment_by_name("updown-live")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].data.tags["live_model"] == "m/1"
    history = client.get_metric_history(runs[0].info.run_id, "live.hit_rate")
    series = step_series(rows, 5)
    assert [h.step for h in history] == [int(pd.Timestamp(t).timestamp()) for t in series["as_of"]]
    assert [h.value for h in history] == pytest.approx(series["hit_rate"].tolist())
    assert client.get_experiment_by_name("updown") is None  # the training experiment is untouched


def test_the_series_after_a_logged_step_is_the_tail_of_the_whole_series() -> None:
    prices = panel()
    rows = matured(journal(prices), prices)
    whole = step_series(rows, 5)
    last = int(pd.Timestamp(whole["as_of"].iloc[29]).timestamp())
    tail = step_series(rows, 5, after=last)
    pd.testing.assert_frame_equal(tail, whole.iloc[30:].reset_index(drop=True))


def test_the_last_logged_step_is_read_from_the_clients_store_whatever_the_global_uri(
    tmp_path: Path,
) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_experiment("updown")  # the training experiment comes first, as in a loop
    prices = panel()
    series = step_series(matured(journal(prices), prices), 5)
    model = ("m", "1", "champion")
    log_steps(client, "updown", model, series)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")
    run_id, last = last_logged(client, "updown", model)
    assert last == int(pd.Timestamp(series["as_of"].iloc[-1]).timestamp())
    experiment = client.get_experiment_by_name("updown-live")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
