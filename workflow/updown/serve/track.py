"""Log one completed pipeline result as one MLflow run: params, metrics, loss curves, artifacts,
the models with signatures and input examples, datasets and lineage tags.

This is the only module that talks to MLflow's tracking store; every other stage is file-in,
file-out. Credentials in a tracking URI never reach a param, tag, artifact, log line or error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from updown import __version__
from updown.config import Params
from updown.errors import UpdownError
from updown.io import read_json, read_parquet
from updown.redact import redact, scrub, scrubbed_logs, secrets_of, without_credentials
from updown.serve.predict import (
    compute_features,
    last_bars,
    load_booster,
    model_profile,
    prepare_bars,
    score_window,
)
from updown.serve.serving import example_bars, log_raw_bars_model, pip_requirements
from updown.serve.store import store_lock, tracking_uri

log = logging.getLogger(__name__)

# Text artifacts are scrubbed of credentials before they are logged; others are copied as is.
TEXT_SUFFIXES = {".yaml", ".yml", ".json", ".lock", ".html", ".csv", ".txt", ".md", ".svg"}
# MLflow also allows "/", but then refuses names that look like relative paths: keep none.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_\-. :]")
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
MAX_PARAM_VALUE = 6000
_FOLD_KEY = re.compile(r"^fold_?(\d+)$")
MAX_TAG_VALUE = 5000
# Input files whose SHA-256 is a tag of the run (datasets: also their digest).
HASHED = ("prices", "features", "labels", "model", "metrics")


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
    baselines: Path | None = None
    folds: Path | None = None  # walk-forward: one model per fold and their loss curves


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and empty mappings stay whole values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def safe_name(name: str) -> str:
    """An MLflow param or metric name: characters MLflow refuses (like ^ in ^GSPC) become _."""
    cleaned = re.sub(r"\.{2,}", ".", _NAME_BAD.sub("_", name)).strip(" .")
    return cleaned[:250] or "_"


def param_value(value: Any) -> str:
    """A param value as YAML would show it: strings as is, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_PARAM_VALUE else text[: MAX_PARAM_VALUE - 3] + "..."


def params_to_log(raw: dict[str, Any], secrets: list[str]) -> dict[str, str]:
    """Every key of params.yaml as a dotted name, credentials redacted; names MLflow would
    refuse are cleaned, and a clash after cleaning gets a numbered suffix."""
    out: dict[str, str] = {}
    for key, value in flatten(raw).items():
        name, n = safe_name(key), 2
        while name in out:
            name, n = f"{safe_name(key)}_{n}", n + 1
        out[name] = scrub(param_value(value), secrets)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metrics_to_log(
    tree: dict[str, Any],
) -> tuple[dict[str, float], list[tuple[str, float, int]]]:
    """Every number in metrics.json: scalars under dotted names; numbers inside lists as step
    metrics (a list of per-fold records steps by its `fold` field, else by position); and the
    numbers under top-level fold_<k> keys also as fold.<name> at step k, so the UI charts a
    metric across walk-forward folds."""
    scalars: dict[str, float] = {}
    steps: list[tuple[str, float, int]] = []

    def walk(node: Any, name: str, step: int | None) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{name}.{key}" if name else str(key), step)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                at = i
                if isinstance(item, dict) and _number(item.get("fold")) is not None:
                    at = int(item["fold"])
                walk(item, name, at if step is None else step)
        else:
            number = _number(node)
            if number is None:
                return
            if step is None:
                scalars[safe_name(name)] = number
            else:
                steps.append((safe_name(name), number, step))

    walk(tree, "", None)
    for key, value in tree.items():
        fold = _FOLD_KEY.match(str(key))
        if fold and isinstance(value, dict):
            inner, _ = metrics_to_log(value)
            steps += [(safe_name(f"fold.{k}"), v, int(fold[1])) for k, v in inner.items()]
    return scalars, steps


def curve_to_log(curve: pd.DataFrame) -> list[tuple[str, float, int]]:
    """Loss per boosting round as step metrics: every numeric column but the round (and fold)
    keeps its name for the deployed (last) fold; with several folds each also logs as
    fold<k>.<column>."""
    step_col = "iteration" if "iteration" in curve.columns else None
    values = [
        c
        for c in curve.columns
        if c not in ("iteration", "fold") and pd.api.types.is_numeric_dtype(curve[c])
    ]
    out: list[tuple[str, float, int]] = []
    folds = sorted(curve["fold"].unique()) if "fold" in curve.columns else [None]
    for fold in folds:
        part = curve if fold is None else curve[curve["fold"] == fold]
        steps = part[step_col].astype(int) if step_col else pd.Series(range(1, len(part) + 1))
        names = [(c, c) for c in values] if fold is None or fold == folds[-1] else []
        if fold is not None and len(folds) > 1:
            names += [(c, f"fold{fold}.{c}") for c in values]
        for col, name in names:
            for step, value in zip(steps, part[col], strict=True):
                number = _number(value)
                if number is not None:
                    out.append((safe_name(name), number, int(step)))
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
    """dvc when DVC runs the stage (it sets DVC_STAGE), else $UPDOWN_ORCHESTRATOR (the
    Snakefile sets snakemake), else manual."""
    if os.environ.get("DVC_STAGE"):
        return "dvc"
    return os.environ.get("UPDOWN_ORCHESTRATOR", "manual")


def stage_artifacts(
    paths: list[Path], staging: Path, secrets: list[str], base: Path | None = None
) -> list[Path]:
    """Copies of the existing `paths` in `staging` (at their path relative to `base`, else by
    name), text files scrubbed of credentials; hidden files (tool stamps) are left out."""
    out = []
    for path in paths:
        if not path.is_file() or path.name.startswith("."):
            continue
        dest = staging / (path.relative_to(base) if base else path.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in TEXT_SUFFIXES:
            dest.write_text(scrub(path.read_text(errors="replace"), secrets))
        else:
            dest.write_bytes(path.read_bytes())
        out.append(dest)
    return out


def _parquet_dataset(path: Path, name: str, digest: str) -> Any:
    """An MLflow dataset input for a Parquet file: schema, row count and content hash, read from
    the file's metadata (the data itself is not copied or loaded)."""
    import warnings

    import pyarrow.parquet as pq
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types.utils import _infer_schema

    meta = pq.ParquetFile(path)
    empty = meta.schema_arrow.empty_table().to_pandas()
    # MLflow warns that integer columns cannot hold NaN, and that its local file source is
    # registered twice; neither matters here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(str(path.resolve()))
        try:
            schema = _infer_schema(empty)
        except Exception:  # an exotic column type: the dataset is still worth logging
            schema = None
    profile = {
        "num_rows": meta.metadata.num_rows,
        "num_columns": len(empty.columns),
        "sha256": digest,
    }

    class ParquetDataset(MetaDataset):  # type: ignore[misc]
        @property
        def profile(self) -> dict[str, Any]:
            return profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(profile)}

    return ParquetDataset(source=source, name=name, digest=digest[:32], schema=schema)


def _short_error(exc: BaseException, secrets: list[str]) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        first = "cannot connect (connection refused)"
    elif "Max retries exceeded" in text or "timed out" in text.lower():
        first = "no answer (server unreachable or too slow)"
    return scrub(first, secrets)[:300]


def _validation_window(prices: pd.DataFrame, profile: Any) -> pd.DataFrame:
    """The bars of the input example: the tickers the model needs, min_history bars each."""
    tickers = list(profile.tickers) if profile.cross_sectional else list(profile.tickers[:1])
    window = last_bars(prices, profile.min_history)  # per ticker: the same bars, less copying
    return window[window["ticker"].isin(tickers).to_numpy()].reset_index(drop=True)


def log_run(params: Params, inputs: TrackInputs, root: Path) -> dict[str, Any]:
    """Create one MLflow run holding the whole result; return its ids for reports/mlflow_run.json.

    An unreachable or broken store raises UpdownError with a one-line, credential-free message;
    nothing on disk is touched, so rerunning the stage logs the same result later.
    """
    uri = tracking_uri(params.mlflow.tracking_uri, root)
    secrets = secrets_of(uri, params.mlflow.tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.pop("MLFLOW_RUN_ID", None):
        # Resuming someone else's run would clash with its immutable params: always a new run.
        log.warning("MLFLOW_RUN_ID is set; ignored: each result is logged as a new run")
    # Hashing the inputs (the features file is large) reads and hashes outside the GIL: it runs
    # in a thread while MLflow is imported and the model profiled.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = {name: pool.submit(file_sha256, getattr(inputs, name)) for name in HASHED}
        import mlflow  # noqa: F401  (sets up MLflow's own log handler, so it gets scrubbed too)

        with scrubbed_logs(secrets):
            try:
                with store_lock(uri):
                    return _log_run(params, inputs, root, uri, secrets, digests)
            except UpdownError:
                raise
            except Exception as exc:  # MLflow raises many types for an unreachable store
                raise UpdownError(
                    f"MLflow tracking at {redact(uri)} failed: {_short_error(exc, secrets)}. "
                    "The pipeline outputs are intact; fix the tracking URI or server and rerun "
                    "to log them."
                ) from exc


def _log_run(
    params: Params,
    inputs: TrackInputs,
    root: Path,
    uri: str,
    secrets: list[str],
    digests: dict[str, Future[str]],
) -> dict[str, Any]:
    # Everything that can fail on our side fails before a run exists.
    metrics = read_json(inputs.metrics)
    curve = pd.read_csv(inputs.curve)
    model_text = inputs.model.read_text()
    prices = read_parquet(inputs.prices)
    profile = model_profile(prices, model_text, params)
    booster = load_booster(model_text)
    window = _validation_window(prices, profile)
    git = git_state(root)
    hashes = {name: digest.result() for name, digest in digests.items()}

    import mlflow
    import mlflow.lightgbm
    from mlflow.entities import Metric
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment(params.mlflow.experiment)
    client = mlflow.MlflowClient()
    tags = {
        **git,
        "mlflow.source.git.commit": git["git_commit"],
        "orchestrator": orchestrator(),
        "data_source": params.data.source,
        "tickers": ",".join(params.data.tickers)[:MAX_TAG_VALUE],
        "n_tickers": str(len(params.data.tickers)),
        "interval": params.data.interval,
        "label_kind": params.label.kind,
        "objective": profile.objective,
        "updown_version": __version__,
        **{f"sha256.{name}": digest for name, digest in hashes.items()},
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    tags = {k: scrub(v, secrets) for k, v in tags.items()}
    with mlflow.start_run(experiment_id=experiment.experiment_id, tags=tags) as run:
        run_id = run.info.run_id
        mlflow.log_params(params_to_log(params.raw, secrets))
        scalars, fold_steps = metrics_to_log(metrics)
        mlflow.log_metrics(scalars)
        now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
        fold_curves = inputs.folds / "curves.csv" if inputs.folds else None
        if fold_curves is not None and fold_curves.is_file():
            per_fold = [
                s for s in curve_to_log(pd.read_csv(fold_curves)) if s[0].startswith("fold")
            ]
            fold_steps += per_fold
        steps = [Metric(k, v, now, s) for k, v, s in [*curve_to_log(curve), *fold_steps]]
        for start in range(0, len(steps), 1000):
            client.log_batch(run_id, metrics=steps[start : start + 1000])
        for name in ("prices", "features", "labels"):
            path = getattr(inputs, name)
            context = "source" if name == "prices" else "training"
            mlflow.log_input(_parquet_dataset(path, name, hashes[name]), context=context)
        with tempfile.TemporaryDirectory(prefix="updown-track-") as tmp:
            staging = Path(tmp) / "files"
            staging.mkdir()
            files = [
                inputs.report,
                inputs.params_file,
                inputs.validation,
                inputs.metrics,
                inputs.curve,
                root / "dvc.lock",
                *([inputs.baselines] if inputs.baselines else []),
            ]
            for path in stage_artifacts(files, staging, secrets):
                mlflow.log_artifact(str(path))
            if inputs.plots.is_dir():
                plots = Path(tmp) / "plots"
                plots.mkdir()
                stage_artifacts(sorted(inputs.plots.rglob("*")), plots, secrets, inputs.plots)
                mlflow.log_artifacts(str(plots), artifact_path="plots")
            if inputs.folds and inputs.folds.is_dir():
                folds = Path(tmp) / "folds"
                folds.mkdir()
                stage_artifacts(sorted(inputs.folds.rglob("*")), folds, secrets, inputs.folds)
                mlflow.log_artifacts(str(folds), artifact_path="folds")

            profile = dataclasses.replace(profile, run_id=run_id)
            example = example_bars(window)
            # The example scored as the served model scores it (score_bars); its features also
            # give the LightGBM model's input example below.
            bars = last_bars(prepare_bars(example), profile.history_bars)
            feats = compute_features(bars, params.features, profile.interval)
            answer = score_window(bars, booster, params.features, profile, feats)
            params_text = scrub(inputs.params_file.read_text(), secrets)
            info = log_raw_bars_model(
                Path(tmp) / "model",
                model_text,
                params_text,
                profile,
                example,
                answer,
                params.mlflow.registered_model,
            )
        rows = feats.groupby("ticker").tail(1)[list(profile.feature_names)]
        rows = rows.astype("float64").reset_index(drop=True)
        mlflow.lightgbm.log_model(
            booster,
            name="lightgbm",
            signature=infer_signature(rows, booster.predict(rows)),
            input_example=rows,
            pip_requirements=pip_requirements(("mlflow", "lightgbm", "pandas", "numpy")),
        )
        registered = None
        if params.mlflow.registered_model and info.registered_model_version is not None:
            name, version = params.mlflow.registered_model, str(info.registered_model_version)
            client.set_registered_model_alias(name, params.mlflow.registered_alias, version)
            for key in ("git_commit", "git_dirty", "orchestrator"):
                client.set_model_version_tag(name, version, key, tags[key])
            registered = {"name": name, "version": version, "alias": params.mlflow.registered_alias}
        host = without_credentials(uri).rstrip("/") if uri.startswith("http") else ""
        link = f"{host}/#/experiments/{experiment.experiment_id}/runs/{run_id}" if host else ""
        return {
            "run_id": run_id,
            "experiment_id": experiment.experiment_id,
            "experiment": params.mlflow.experiment,
            "tracking_uri": redact(uri),
            "model_uri": f"runs:/{run_id}/model",
            "lightgbm_model_uri": f"runs:/{run_id}/lightgbm",
            "registered_model": registered,
            "run_url": link,
        }
