"""A sweep in MLflow: one parent run holding the summary, the configurations' runs (logged by
their own track stage) tagged with the sweep and nested under it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from updown.io import write_json, write_text
from updown.serve.store import open_experiment, store_lock

SWEEP_TAG, ROLE_TAG, PARENT_TAG = "sweep_id", "sweep_role", "mlflow.parentRunId"


def log_sweep(
    uri: str, experiment: str, summary: dict[str, Any], page: str, children: dict[str, str]
) -> str:
    """Log the summary as the parent run and nest `children` (run id -> role) under it;
    returns the parent's run id."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    with store_lock(uri):
        experiment_id = open_experiment(client, experiment)
        name = f"sweep {summary['sweep']}: {summary['trials']} configurations"
        with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
            mlflow.set_tags({SWEEP_TAG: summary["sweep"], ROLE_TAG: "summary"})
            mlflow.log_params({f"winner.{k}": v for k, v in summary["winner_settings"].items()})
            mlflow.log_metrics(_figures(summary))
            with tempfile.TemporaryDirectory() as tmp:
                write_text(page, Path(tmp) / "sweep.html")
                write_json(summary, Path(tmp) / "sweep.json")
                mlflow.log_artifacts(tmp)
        for run_id, role in children.items():
            client.set_tag(run_id, SWEEP_TAG, summary["sweep"])
            client.set_tag(run_id, ROLE_TAG, role)
            client.set_tag(run_id, PARENT_TAG, run.info.run_id)
    return str(run.info.run_id)


def _figures(summary: dict[str, Any]) -> dict[str, float]:
    keys = (
        "trials",
        "winner_validation",
        "winner_validation_deflated",
        "winner_test",
        "psr",
        "dsr",
    )
    return {k: float(summary[k]) for k in keys if summary.get(k) is not None}
