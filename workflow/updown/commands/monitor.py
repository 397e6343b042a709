"""`updown monitor`: the journal's matured calls against the realised prices, next to the
test-period figures of each model version (reports/live.json).

Not a DAG stage: the journal it reads is append-only state outside the DAG, written by every
predict (and a replay's steps), and the expected figures of a registered version come from
its MLflow run; neither is a declared input Snakemake or DVC could compare. It belongs to the
live loop, run after predict (`make update`-style), and reruns cheaply.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from updown.config import Params, load_params
from updown.io import read_json, read_parquet, write_json, write_text
from updown.live.champion import client_for, file_version
from updown.live.drift import feature_drift
from updown.live.journal import read_journal
from updown.live.monitor import GROUP, matured, monitor, with_drift
from updown.live.page import render_live
from updown.live.promotion import alias_history
from updown.live.tracking import log_steps, step_series

log = logging.getLogger("updown")


def expected_figures(
    journal: pd.DataFrame, params: Params, metrics: Path, model: Path
) -> dict[str, dict[str, Any]]:
    """metrics.json per model version: the pipeline's own for the model file it evaluated,
    the version's MLflow run's for a registered version (missing ones are left out)."""
    out: dict[str, dict[str, Any]] = {}
    versions = journal.drop_duplicates("model_version")
    if metrics.is_file() and model.is_file():
        out[file_version(model.read_text())] = read_json(metrics)
    found = client_for(params, Path.cwd())
    for version, run_id, name in versions[["model_version", "run_id", "model_name"]].itertuples(
        index=False
    ):
        if not name or found is None or version in out:
            continue
        import mlflow

        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="metrics.json", tracking_uri=found[1]
            )
        except Exception as exc:  # a run without the artifact, or a store that is down
            log.warning("no test figures for %s version %s: %s", name, version, exc)
            continue
        out[str(version)] = read_json(local)
    return out


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    journal = read_journal(params.monitor.journal)
    prices = read_parquet(a.prices)
    expected = expected_figures(journal, params, Path(a.metrics), Path(a.model))
    live = monitor(
        journal, prices, expected, params.monitor.window_bars, params.monitor.min_matured
    )
    if Path(a.features).is_file():
        m = params.monitor
        drift = feature_drift(
            read_parquet(a.features), params.split.train_end, m.window_bars, m.psi_threshold
        )
        live = with_drift(live, drift)
    write_json(live, a.out)
    log.info("%s", live["summary"])
    series = rolling_series(journal, prices, params.monitor.window_bars)
    history = alias_history(params.monitor.journal).read()
    write_text(render_live(live, series, history), a.html)
    log_to_mlflow(series, params)


def rolling_series(
    journal: pd.DataFrame, prices: pd.DataFrame, window_bars: int
) -> dict[tuple[str, str, str], pd.DataFrame]:
    """Per (model name, version, role): the live figures over the window ending at each bar."""
    if journal.empty:
        return {}
    rows = matured(journal, prices)
    return {
        (str(k[0]), str(k[1]), str(k[2])): step_series(part, window_bars)
        for k, part in rows.groupby(GROUP, sort=True)
    }


def log_to_mlflow(series: dict[tuple[str, str, str], pd.DataFrame], params: Params) -> None:
    """The registered versions' live figures over time as MLflow step metrics (when the
    registry is in use)."""
    found = client_for(params, Path.cwd())
    if found is None:
        return
    for model, steps in series.items():
        if not model[0]:
            continue  # the model file has no registry version to log under
        added = log_steps(found[0], params.mlflow.experiment, model, steps)
        log.info("MLflow %s-live: %d new bar(s) for %s", params.mlflow.experiment, added, model)
