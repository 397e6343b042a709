"""Log one completed pipeline result as one MLflow run: params, metrics, curves, artifacts,
the model with its signature, datasets and lineage tags.

This is the only module that talks to MLflow; every other stage is file-in, file-out.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from updown.config import Params
from updown.errors import UpdownError


@dataclass(frozen=True)
class TrackInputs:
    params_file: Path
    model: Path
    features: Path
    labels: Path
    prices: Path
    metrics: Path
    curve: Path
    report: Path
    plots: Path
    validation: Path


def tracking_uri(configured: str | None, root: Path) -> str:
    """params mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db."""
    return (
        configured
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{root.resolve() / 'mlflow.db'}"
    )


def redact(uri: str) -> str:
    """The URI with any password replaced, safe to print or log."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirtiness of the project's repo (MLflow's own tag follows the entry script)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": "true" if dirty else "false"}


def orchestrator() -> str:
    if os.environ.get("DVC_STAGE"):
        return "dvc"
    return os.environ.get("UPDOWN_ORCHESTRATOR", "manual")


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def log_run(params: Params, inputs: TrackInputs, root: Path) -> dict[str, str]:
    """Create one MLflow run holding the whole result; return its ids for reports/mlflow_run.json."""
    # Fail fast on an unreachable server instead of MLflow's long default retry schedule.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import lightgbm as lgb
    import mlflow
    import mlflow.data.pandas_dataset
    from mlflow.entities import Metric
    from mlflow.models import infer_signature

    from updown.io import read_json, read_parquet

    uri = tracking_uri(params.mlflow.tracking_uri, root)
    metrics = read_json(inputs.metrics)
    curve = pd.read_csv(inputs.curve)
    booster = lgb.Booster(model_file=str(inputs.model))
    features = read_parquet(inputs.features)
    example = features[booster.feature_name()].dropna().tail(5).reset_index(drop=True)
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.set_experiment(params.mlflow.experiment)
        client = mlflow.MlflowClient()
        tags = {
            **git_state(root),
            "orchestrator": orchestrator(),
            "data_source": params.data.source,
            "tickers": ",".join(params.data.tickers)[:5000],
            "interval": params.data.interval,
            "label_kind": params.label.kind,
            "mlflow.source.git.commit": git_state(root)["git_commit"],
        }
        for name in ("prices", "features", "labels", "model"):
            tags[f"sha256.{name}"] = file_sha256(getattr(inputs, name))
        with mlflow.start_run(experiment_id=experiment.experiment_id, tags=tags) as run:
            flat = {k: _param_value(v) for k, v in flatten(params.raw).items()}
            if params.mlflow.tracking_uri:
                flat["mlflow.tracking_uri"] = redact(params.mlflow.tracking_uri)
            mlflow.log_params(flat)
            numbers = {
                k: float(v)
                for k, v in flatten(metrics).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            mlflow.log_metrics(numbers)
            now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            steps = [
                Metric(f"{col}", float(v), now, int(i))
                for col in ("train_loss", "valid_loss")
                for i, v in zip(curve["iteration"], curve[col], strict=True)
            ]
            for start in range(0, len(steps), 1000):
                client.log_batch(run.info.run_id, metrics=steps[start : start + 1000])
            for name in ("prices", "features", "labels"):
                path = getattr(inputs, name)
                frame = read_parquet(path) if name != "features" else features
                dataset = mlflow.data.pandas_dataset.from_pandas(
                    frame.head(0), source=str(path), name=name, digest=file_sha256(path)[:32]
                )
                mlflow.log_input(dataset, context="training")
            for path in (
                inputs.report,
                inputs.params_file,
                inputs.validation,
                inputs.curve,
                inputs.metrics,
                root / "dvc.lock",
            ):
                if path.exists():
                    mlflow.log_artifact(str(path))
            if inputs.plots.is_dir():
                mlflow.log_artifacts(str(inputs.plots), artifact_path="plots")
            signature = infer_signature(example, booster.predict(example))
            mlflow.lightgbm.log_model(
                booster,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=params.mlflow.registered_model,
            )
            return {
                "run_id": run.info.run_id,
                "experiment_id": experiment.experiment_id,
                "experiment": params.mlflow.experiment,
                "tracking_uri": redact(uri),
            }
    except UpdownError:
        raise
    except Exception as exc:  # MLflow raises many types for an unreachable or broken store
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise UpdownError(
            f"MLflow tracking at {redact(uri)} failed: {first}. The pipeline outputs are intact; "
            "fix the tracking URI or server and rerun to log them."
        ) from exc
