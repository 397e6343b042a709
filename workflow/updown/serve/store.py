"""Where the MLflow runs go: the tracking URI, the lock that lets pipelines share a sqlite
store, the experiment (its kind), the run already holding a result, and the registry alias."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from updown.io import exclusive_lock

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from updown.config import Params

# MLflow's own retry schedule waits minutes for a server that is down; a stage should not.
MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # MLflow prints the run's URL, credentials included, to stdout; we log a redacted one.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # Progress bars of small uploads only clutter the stage's log.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# MLflow 3's experiment kind: classic ML opens on the runs, not on the GenAI overview.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
# The tag naming a run's result; a rerun of the same result links to the run holding it.
FINGERPRINT_TAG = "result_fingerprint"


def tracking_uri(configured: str | None, root: Path) -> str:
    """params mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db."""
    return (
        configured
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{root.resolve() / 'mlflow.db'}"
    )


def sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// store (its query string left off); None for a server."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


def store_lock(uri: str) -> contextlib.AbstractContextManager[None]:
    """Pipelines sharing one sqlite store take turns: at once, they race MLflow's schema and
    experiment creation ("table experiments already exists") and sqlite's single writer lock.
    A server store (http...) serialises for itself."""
    database = sqlite_path(uri)
    if database is None:
        return contextlib.nullcontext()
    return exclusive_lock(f"{database}.lock")


def create_new_store(uri: str) -> None:
    """Build a sqlite store that does not exist yet whole, beside its path, and move it into
    place. MLflow builds a new store by running its schema migrations one by one: a process
    killed halfway left a store that every later run refused ("table ... already exists").
    Left half-built here, it is a stray file the next creation removes. An existing store, or a
    server, is left alone. Call it under store_lock(uri)."""
    database = sqlite_path(uri)
    if database is None or database.exists():
        return
    query = uri.partition("?")[2]
    from mlflow import MlflowClient

    for stray in database.parent.glob(f".{database.name}.*.new"):
        stray.unlink(missing_ok=True)
    building = database.with_name(f".{database.name}.{os.getpid()}.new")
    MlflowClient(tracking_uri=f"sqlite:///{building}" + (f"?{query}" if query else ""))
    os.replace(building, database)


def open_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, created if missing, its kind classic ML (MLflow 3 opens a GenAI
    experiment on its traces overview)."""
    import mlflow

    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(KIND_TAG) != KIND:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
    return str(experiment.experiment_id)


def find_result(client: MlflowClient, experiment_id: str, fingerprint: str) -> str | None:
    """The id of the experiment's oldest finished run holding this result, if any (a failed or
    deleted run does not count)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{FINGERPRINT_TAG} = '{fingerprint}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    return str(runs[0].info.run_id) if runs else None


def relink(client: MlflowClient, params: Params, run_id: str) -> dict[str, str] | None:
    """Point the registry alias back at the existing run's model version, as logging the result
    anew would; None when no model is registered."""
    name, alias = params.mlflow.registered_model, params.mlflow.registered_alias
    if not name:
        return None
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if not versions:
        return None
    version = str(max(int(v.version) for v in versions))
    client.set_registered_model_alias(name, alias, version)
    return {"name": name, "version": version, "alias": alias}


def register(
    client: MlflowClient, params: Params, info: Any, tags: dict[str, str]
) -> dict[str, str] | None:
    """Point the registry alias at the new model version and tag the version with its lineage;
    None when no model is registered."""
    if not params.mlflow.registered_model or info.registered_model_version is None:
        return None
    name, version = params.mlflow.registered_model, str(info.registered_model_version)
    client.set_registered_model_alias(name, params.mlflow.registered_alias, version)
    for key in ("git_commit", "git_dirty", "orchestrator"):
        client.set_model_version_tag(name, version, key, tags[key])
    return {"name": name, "version": version, "alias": params.mlflow.registered_alias}
