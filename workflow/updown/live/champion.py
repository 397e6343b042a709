"""Which model answers: the version the registry's `champion` alias points to, or the file.

When `mlflow.registered_model` is set, the alias is resolved once per call to a version number
and that version's files are read (so an alias moved meanwhile never mixes two versions in one
answer; MLflow switches an alias in one write). A registered model with versions but no
champion yet makes its first version the champion (updown.live.promotion.first_champion). No
store, no registered model or no version: `models/model.txt` answers, and the log says so.
A champion scores with the label, features, threshold and window it was trained with (its own
params.yaml, logged beside it) and the data settings of today's params.yaml.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.config import Params, build_params
from updown.errors import UpdownError
from updown.live.promotion import CHAMPION, alias_history, first_champion
from updown.redact import redact
from updown.safe_yaml import read_yaml
from updown.serve.store import MLFLOW_ENV_DEFAULTS, sqlite_path, store_lock, tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A model ready to score: its LightGBM text, the params it scores with and its identity."""

    model_text: str
    params: Params
    run_id: str
    name: str  # registry name; "" for the model file
    version: str  # registry version, or file:<sha256 prefix> for the model file
    alias: str  # the alias it was resolved through ("" for the file)

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.name, self.version, self.alias

    @property
    def source(self) -> str:
        if not self.name:
            return f"the model file ({self.version})"
        return f"models:/{self.name}@{self.alias} (version {self.version})"


def file_version(model_text: str) -> str:
    return "file:" + hashlib.sha256(model_text.encode()).hexdigest()[:12]


def from_file(model_path: str, params: Params, run_id: str) -> ServedModel:
    try:
        text = Path(model_path).read_text()
    except FileNotFoundError as exc:
        raise UpdownError(
            f"{model_path}: file not found (run the pipeline to train a model)"
        ) from exc
    return ServedModel(text, params, run_id, "", file_version(text), "")


def client_for(params: Params, root: Path) -> tuple[MlflowClient, str] | None:
    """A client of the configured store, or None when there is no registry to ask (no model
    name, or a sqlite store that does not exist yet: asking would create it)."""
    if not params.mlflow.registered_model:
        return None
    uri = tracking_uri(params.mlflow.tracking_uri, root)
    for key, value in MLFLOW_ENV_DEFAULTS.items():  # a store that is down fails in seconds
        os.environ.setdefault(key, value)
    database = sqlite_path(uri)
    if database is not None and not database.is_file():
        return None
    return _client(uri), uri


@functools.lru_cache(maxsize=8)
def _client(uri: str) -> MlflowClient:
    # One client per store and process: a loop asks the registry several times a step.
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def alias_version(client: MlflowClient, name: str, alias: str) -> Any | None:
    """The model version `alias` points to, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def model_params(current: Params, logged: dict[str, Any], where: str) -> Params:
    """Today's params with the scoring settings the model was trained with: its label (and
    the execution point `label.entry: auto` follows), features, decision threshold and scoring
    window."""
    raw = copy.deepcopy(current.raw)
    try:
        raw["label"] = logged["label"]
        raw["features"] = logged["features"]
        raw["evaluate"]["threshold"] = logged["evaluate"]["threshold"]
        raw["predict"]["history_bars"] = logged["predict"]["history_bars"]
        # `label.entry: auto` is the backtest's execution point: the model's own.
        raw["evaluate"]["backtest"]["execution"] = logged["evaluate"]["backtest"]["execution"]
    except (KeyError, TypeError) as exc:
        raise UpdownError(f"{where}: params.yaml lacks {exc}; register a model again") from exc
    return build_params(raw, source=where)


@functools.lru_cache(maxsize=8)
def version_files(uri: str, name: str, number: str) -> tuple[str, dict[str, Any]]:
    """A registered version's booster text and logged params. A version's files never change,
    so a process (a replay stepping a clock) fetches each version once."""
    import mlflow

    # The version's own location, asked of this store's registry: a models:/ URI would be
    # resolved by the default registry (this process's, not necessarily `uri`'s).
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    source = client.get_model_version_download_uri(name, number)
    with tempfile.TemporaryDirectory(prefix="updown-champion-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=uri)
        )
        return (local / "artifacts" / "model.txt").read_text(), read_yaml(
            local / "artifacts" / "params.yaml"
        )


def download_version(
    client: MlflowClient, uri: str, version: Any, params: Params, alias: str = CHAMPION
) -> ServedModel:
    """The registered version's booster and params (its pyfunc artifacts)."""
    name, number = str(version.name), str(version.version)
    text, logged = version_files(uri, name, number)
    where = f"models:/{name}/{number}"
    return ServedModel(
        text, model_params(params, logged, where), str(version.run_id), name, number, alias
    )


def resolve_alias(params: Params, root: Path, alias: str) -> ServedModel | None:
    """The version `alias` points to (a challenger, say), or None when there is none."""
    found = client_for(params, root)
    if found is None:
        return None
    client, uri = found
    version = alias_version(client, str(params.mlflow.registered_model), alias)
    return None if version is None else download_version(client, uri, version, params, alias)


def resolve_champion(
    params: Params, model_path: str, run_id: str, root: Path, now: pd.Timestamp
) -> ServedModel:
    """The model that answers now (see the module's docstring); `run_id`: the file's run."""
    found = client_for(params, root)
    name = params.mlflow.registered_model
    if found is None:
        why = "mlflow.registered_model is not set" if not name else "no MLflow store yet"
        log.info("%s: predicting with %s", why, model_path)
        return from_file(model_path, params, run_id)
    client, uri = found
    try:
        version = alias_version(client, str(name), CHAMPION)
        if version is None:
            history = alias_history(params.monitor.journal)
            with store_lock(uri):
                version = first_champion(client, history, str(name), now)
        if version is None:
            log.info("no version of %s in the registry: predicting with %s", name, model_path)
            return from_file(model_path, params, run_id)
        served = download_version(client, uri, version, params)
    except UpdownError:
        raise
    except Exception as exc:  # MLflow raises many types for an unreachable or broken store
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Connection refused" in first or "Max retries exceeded" in first:
            first = "cannot connect (server down or unreachable)"
        raise UpdownError(
            f"MLflow registry at {redact(uri)}: cannot resolve {name}@{CHAMPION}: "
            f"{redact(first)[:300]}. Fix the store, or unset mlflow.registered_model to answer "
            "from the model file"
        ) from exc
    log.info("predicting with %s (run %s)", served.source, served.run_id)
    return served


def resolve_version(params: Params, root: Path, number: str) -> ServedModel:
    """Registered version `number` of mlflow.registered_model, whatever its aliases (`updown
    predict --version`: what an earlier champion or a challenger answers)."""
    found = client_for(params, root)
    name = params.mlflow.registered_model
    if found is None or not name:
        raise UpdownError("--version: needs mlflow.registered_model and its MLflow store")
    client, uri = found
    try:
        version = client.get_model_version(str(name), str(number))
    except Exception as exc:  # MLflow raises its own types for a missing version
        raise UpdownError(f"--version: {name} has no version {number}") from exc
    return download_version(client, uri, version, params, alias="")
