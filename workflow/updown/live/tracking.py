"""The live figures over time as MLflow step metrics: one run per deployed model version and
role, in the experiment `<mlflow.experiment>-live` (kept apart so that live runs never count as
configurations tried on the data), step = the as-of bar (seconds since 1970, UTC; the metric's
timestamp is the bar's time too), each value the figure over the `monitor.window_bars` bars
ending at that bar. A rerun logs only bars after the last one logged, so the run grows with the
journal and never holds a step twice.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from updown.live.figures import LIVE_METRICS, live_figures
from updown.serve.store import open_experiment

if TYPE_CHECKING:
    from mlflow import MlflowClient

PREFIX = "live."
KEYS = (*LIVE_METRICS, "rows")
MODEL_TAG, ROLE_TAG = "live_model", "live_role"


def step_of(bars: pd.Series | np.ndarray) -> np.ndarray:
    """The MLflow step of as-of bars: seconds since 1970, UTC."""
    return (pd.DatetimeIndex(bars).asi8 // 10**9).astype("int64")


def step_series(rows: pd.DataFrame, window_bars: int, after: int = -1) -> pd.DataFrame:
    """For each matured as-of bar whose step is past `after`, in order: the live figures over
    the `window_bars` bars ending there (rows: matured calls of one model version and role,
    updown.live.monitor). A loop passes the last step it logged: a step costs the new bars."""
    bars = np.sort(rows["as_of"].unique())
    out = []
    for i in np.flatnonzero(step_of(bars) > after) if len(bars) else []:
        bar = bars[i]
        part = rows[rows["as_of"].isin(bars[max(0, i - window_bars + 1) : i + 1])]
        out.append({"as_of": pd.Timestamp(bar), **live_figures(part)})
    return pd.DataFrame(out, columns=["as_of", *live_figures(rows.iloc[:0]).keys()])


def live_run(client: MlflowClient, experiment_id: str, model: tuple[str, str, str]) -> str:
    """The run holding the live metrics of (name, version, role), created when missing."""
    name, version, role = model
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{MODEL_TAG} = '{name}/{version}' and tags.{ROLE_TAG} = '{role}'",
        max_results=1,
    )
    if found:
        return str(found[0].info.run_id)
    tags = {MODEL_TAG: f"{name}/{version}", ROLE_TAG: role}
    run = client.create_run(experiment_id, tags=tags, run_name=f"live {name} v{version} {role}")
    return str(run.info.run_id)


def last_logged(
    client: MlflowClient, experiment: str, model: tuple[str, str, str]
) -> tuple[str, int]:
    """The live run of `model` and the last step it holds (-1: none)."""
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)  # open_experiment asks the global store
    run_id = live_run(client, open_experiment(client, f"{experiment}-live"), model)
    logged = client.get_metric_history(run_id, PREFIX + "rows")
    return run_id, max((m.step for m in logged), default=-1)


def log_steps(
    client: MlflowClient, experiment: str, model: tuple[str, str, str], series: pd.DataFrame
) -> int:
    """Log the bars of `series` newer than the run's last step; returns how many bars."""
    from mlflow.entities import Metric

    run_id, last = last_logged(client, experiment, model)
    steps = step_of(series["as_of"])
    new = series[steps > last]
    metrics = [
        Metric(PREFIX + key, float(value), int(step) * 1000, int(step))
        for step, (_, row) in zip(steps[steps > last], new.iterrows(), strict=True)
        for key in KEYS
        if math.isfinite(value := float(row[key]))
    ]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    return len(new)
