"""`updown monitor`: the journal's matured calls against the realised prices, next to the
test-period figures of each model version (reports/live.json).

Not a DAG stage: the journal it reads is append-only state outside the DAG, written by every
predict (and a replay's steps), and the expected figures of a registered version come from
its MLflow run; neither is a declared input Snakemake or DVC could compare. It belongs to the
live loop, run after predict (`make update`-style), and reruns cheaply.
"""

from __future__ import annotations

import argparse
import functools
import logging
from dataclasses import dataclass
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
from updown.live.tracking import last_logged, log_steps, step_series

log = logging.getLogger("updown")


@functools.lru_cache(maxsize=32)
def run_metrics(uri: str, run_id: str) -> dict[str, Any]:
    """A run's metrics.json (a finished run's files never change: a loop fetches it once)."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="metrics.json", tracking_uri=uri
    )
    return read_json(local)


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
        try:
            local = run_metrics(found[1], str(run_id))
        except Exception as exc:  # a run without the artifact, or a store that is down
            log.warning("no test figures for %s version %s: %s", name, version, exc)
            continue
        out[str(version)] = local
    return out


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    paths = MonitorPaths(
        Path(a.metrics), Path(a.model), Path(a.features), Path(a.out), Path(a.html)
    )
    monitor_step(params, read_parquet(a.prices), paths)


@dataclass(frozen=True)
class MonitorPaths:
    """What monitor reads beside the journal and prices, and the files it writes."""

    metrics: Path
    model: Path
    features: Path
    out: Path
    html: Path

    @classmethod
    def under(cls, root: Path) -> MonitorPaths:
        """The pipeline's own paths in the project (or loop) folder `root`."""
        reports = root / "reports"
        return cls(
            reports / "metrics.json",
            root / "models" / "model.txt",
            root / "data" / "processed" / "features.parquet",
            reports / "live.json",
            reports / "live.html",
        )


@functools.lru_cache(maxsize=2)
def drift_of(
    path: str, mtime_ns: int, train_end: Any, window_bars: int, threshold: float
) -> dict[str, Any]:
    """Feature drift of the features file at `path` (as it was at `mtime_ns`). A loop monitors
    at every step, and the features, the last training's, change only when it retrains: the
    PSI of a large panel is computed once per retrain."""
    return feature_drift(read_parquet(path), train_end, window_bars, threshold)


def monitor_step(
    params: Params, prices: pd.DataFrame, paths: MonitorPaths, page: bool = True
) -> dict[str, Any]:
    """live.json and (with `page`) live.html from the journal and `prices`, the live figures
    logged to MLflow; returns live.json's content."""
    journal = read_journal(params.monitor.journal)
    expected = expected_figures(journal, params, paths.metrics, paths.model)
    m = params.monitor
    rows = matured(journal, prices)
    live = monitor(journal, prices, expected, m.window_bars, m.min_matured, rows)
    if paths.features.is_file():
        mtime = paths.features.stat().st_mtime_ns
        drift = drift_of(
            str(paths.features), mtime, params.split.train_end, m.window_bars, m.psi_threshold
        )
        live = with_drift(live, drift)
    write_json(live, paths.out)
    log.info("%s", live["summary"])
    if page:  # a replay draws it once, at its last step: the charts cost more than the rest
        series = {k: step_series(part, m.window_bars) for k, part in by_model(rows)}
        write_text(render_live(live, series, alias_history(m.journal).read()), paths.html)
    log_to_mlflow(rows, params)
    return live


def by_model(rows: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    """The matured calls per (model name, version, role)."""
    return [((str(k[0]), str(k[1]), str(k[2])), g) for k, g in rows.groupby(GROUP, sort=True)]


def log_to_mlflow(rows: pd.DataFrame, params: Params) -> None:
    """The registered versions' live figures over time as MLflow step metrics (when the
    registry is in use): the figures of the bars after the last one logged, each over the
    window ending there."""
    found = client_for(params, Path.cwd())
    if found is None:
        return
    for model, part in by_model(rows):
        if not model[0]:
            continue  # the model file has no registry version to log under
        _, last = last_logged(found[0], params.mlflow.experiment, model)
        steps = step_series(part, params.monitor.window_bars, last)
        added = log_steps(found[0], params.mlflow.experiment, model, steps)
        log.info("MLflow %s-live: %d new bar(s) for %s", params.mlflow.experiment, added, model)
