"""A run's metrics into MLflow in batches: metrics.json's numbers, the loss curves per round, and
the links of the step-0 figures to the run's logged models (made as the metrics are logged, so
logging a model does not query every metric's history to link them itself)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.serve.mlflow_values import curve_to_log, headline_metrics, metrics_to_log

if TYPE_CHECKING:
    from mlflow import MlflowClient

STEP_BATCH = 1000


def log_metrics(
    client: MlflowClient,
    run_id: str,
    metrics: dict[str, Any],
    curve: pd.DataFrame,
    folds: Path | None,
    extra: dict[str, float] | None = None,
    models: list[str] | None = None,
) -> None:
    """metrics.json's numbers, `extra` (the trial's), the loss curve and (walk-forward) each
    fold's loss curve. Each one at step 0 is also linked to every model in `models` (logged
    model ids), as MLflow links a model to the step-0 metrics its run held when it was logged."""
    from mlflow.entities import Metric

    scalars, fold_steps = metrics_to_log(metrics)
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    fold_curves = folds / "curves.csv" if folds else None
    if fold_curves is not None and fold_curves.is_file():
        per_fold = [s for s in curve_to_log(pd.read_csv(fold_curves)) if s[0].startswith("fold")]
        fold_steps += per_fold
    values = [*{**headline_metrics(metrics), **scalars}.items(), *(extra or {}).items()]
    at_zero = [Metric(k, v, now, 0) for k, v in values]
    steps = [Metric(k, v, now, s) for k, v, s in [*curve_to_log(curve), *fold_steps]]
    at_zero += [m for m in steps if m.step == 0]
    ids: list[str | None] = [*(models or [])] or [None]
    first, *others = ids
    # A linked metric is also a metric of the run: the first model's links log the run's own
    # step-0 metrics too (one row each), the others' add only their links.
    batches = [[*linked(at_zero, first, run_id), *(m for m in steps if m.step != 0)]]
    batches += [linked(at_zero, model, run_id) for model in others]
    for batch in batches:
        for start in range(0, len(batch), STEP_BATCH):
            client.log_batch(run_id, metrics=batch[start : start + STEP_BATCH])


def linked(metrics: list[Any], model: str | None, run_id: str) -> list[Any]:
    """`metrics` (mlflow Metric) linked to the logged model `model`, if any."""
    from mlflow.entities import Metric

    if model is None:
        return metrics
    return [
        Metric(m.key, m.value, m.timestamp, m.step, model_id=model, run_id=run_id) for m in metrics
    ]
