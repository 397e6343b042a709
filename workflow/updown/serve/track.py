"""Log one completed pipeline result as one MLflow run: params, metrics, loss curves, artifacts,
the models with signatures and input examples, datasets and lineage tags.

This is the only module that talks to MLflow's tracking store; every other stage is file-in,
file-out. Credentials in a tracking URI never reach a param, tag, artifact, log line or error.
How params, metrics and files take MLflow's form is in updown.serve.mlflow_values and
updown.serve.run_files; the served model is updown.serve.serving.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown import __version__
from updown.config import Params
from updown.errors import UpdownError
from updown.io import read_json, read_parquet
from updown.redact import redact, scrub, scrubbed_logs, secrets_of, without_credentials
from updown.serve.lineage import committed_params, git_state, orchestrator
from updown.serve.mlflow_values import params_to_log, run_name
from updown.serve.profile import model_profile
from updown.serve.run_files import (
    code_sha256,
    file_sha256,
    parquet_dataset,
    result_fingerprint,
    stage_artifacts,
)
from updown.serve.run_metrics import log_metrics
from updown.serve.run_report import compose_report, trial_record
from updown.serve.scoring import (
    ModelProfile,
    compute_features,
    last_bars,
    load_booster,
    prepare_bars,
    score_window,
)
from updown.serve.serving import example_bars, log_raw_bars_model, pip_requirements
from updown.serve.store import (
    FINGERPRINT_TAG,
    MLFLOW_ENV_DEFAULTS,
    create_new_store,
    find_result,
    open_experiment,
    register,
    relink,
    store_lock,
    tracking_uri,
)

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

MAX_TAG_VALUE = 5000
# Input files whose SHA-256 is a tag of the run (datasets: also their digest).
HASHED = ("prices", "features", "labels", "model", "metrics")
# Batches of step metrics sent in one request.
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class TrackInputs:
    params_file: Path
    model: Path
    features: Path
    labels: Path
    prices: Path
    metrics: Path
    curve: Path
    evaluation: Path  # evaluate's page: the report's body, without the header
    plots: Path
    validation: Path
    baselines: Path | None = None
    folds: Path | None = None  # walk-forward: one model per fold and their loss curves


def _short_error(exc: BaseException, secrets: list[str]) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        first = "cannot connect (connection refused)"
    elif "Max retries exceeded" in text or "timed out" in text.lower():
        first = "no answer (server unreachable or too slow)"
    return scrub(first, secrets)[:300]


def log_run(params: Params, inputs: TrackInputs, root: Path) -> dict[str, Any]:
    """Create one MLflow run holding the whole result, or find the run already holding the same
    result (same fingerprint); return its ids for reports/mlflow_run.json.

    An unreachable or broken store raises UpdownError with a one-line, credential-free message;
    nothing on disk is touched, so rerunning the stage logs the same result later.
    """
    uri = tracking_uri(params.mlflow.tracking_uri, root)
    secrets = secrets_of(uri, params.mlflow.tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.pop("MLFLOW_RUN_ID", None):
        # Resuming someone else's run would clash with its immutable params: always a new run.
        log.warning("MLFLOW_RUN_ID is set; ignored: each result is a run of its own")
    # Hashing the inputs (the features file is large) reads and hashes outside the GIL: it runs
    # in a thread while the other inputs are read and the model profiled.
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


@dataclass(frozen=True)
class Loaded:
    """What the run holds, read and checked before the run exists."""

    metrics: dict[str, Any]
    curve: pd.DataFrame
    model_text: str
    profile: ModelProfile
    booster: lgb.Booster
    window: pd.DataFrame  # the bars of the served model's input example
    git: dict[str, str]
    hashes: dict[str, str]
    code: str  # the package source's digest
    baseline: dict[str, Any] | None  # the committed params.yaml
    body: str  # evaluate's page, composed with the header into report.html


def _validation_window(prices: pd.DataFrame, profile: ModelProfile) -> pd.DataFrame:
    """The bars of the input example: the tickers the model needs, min_history bars each."""
    tickers = list(profile.tickers) if profile.cross_sectional else list(profile.tickers[:1])
    window = last_bars(prices, profile.min_history)  # per ticker: the same bars, less copying
    return window[window["ticker"].isin(tickers).to_numpy()].reset_index(drop=True)


def load_inputs(
    params: Params, inputs: TrackInputs, root: Path, digests: dict[str, Future[str]]
) -> Loaded:
    """Read the result and profile its model: everything that can fail on our side."""
    metrics = read_json(inputs.metrics)
    curve = pd.read_csv(inputs.curve)
    model_text = inputs.model.read_text()
    prices = read_parquet(inputs.prices)
    profile = model_profile(prices, model_text, params)
    booster = load_booster(model_text)
    window = _validation_window(prices, profile)
    git = git_state(root)
    hashes = {name: digest.result() for name, digest in digests.items()}
    code, baseline = code_sha256(PACKAGE), committed_params(root, inputs.params_file)
    body = inputs.evaluation.read_text()
    return Loaded(
        metrics, curve, model_text, profile, booster, window, git, hashes, code, baseline, body
    )


def run_tags(
    params: Params, loaded: Loaded, secrets: list[str], fingerprint: str
) -> dict[str, str]:
    """The run's lineage tags: commit, orchestrator, data, model kind, input hashes and the
    result's fingerprint."""
    tags = {
        FINGERPRINT_TAG: fingerprint,
        **loaded.git,
        "mlflow.source.git.commit": loaded.git["git_commit"],
        "orchestrator": orchestrator(),
        "data_source": params.data.source,
        "tickers": ",".join(params.data.tickers)[:MAX_TAG_VALUE],
        "n_tickers": str(len(params.data.tickers)),
        "interval": params.data.interval,
        "label_kind": params.label.kind,
        "objective": loaded.profile.objective,
        "updown_version": __version__,
        **{f"sha256.{name}": digest for name, digest in loaded.hashes.items()},
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    return {k: scrub(v, secrets) for k, v in tags.items()}


def _log_run(
    params: Params,
    inputs: TrackInputs,
    root: Path,
    uri: str,
    secrets: list[str],
    digests: dict[str, Future[str]],
) -> dict[str, Any]:
    # Everything that can fail on our side fails before a run exists.
    loaded = load_inputs(params, inputs, root, digests)

    import mlflow

    create_new_store(uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment_id = open_experiment(client, params.mlflow.experiment)
    logged = params_to_log(params.raw, secrets)
    # Where the run is logged is not part of the result (every other param is).
    result = {k: v for k, v in logged.items() if k != "mlflow.tracking_uri"}
    fingerprint = result_fingerprint(loaded.hashes, result, loaded.code)
    existing = find_result(client, experiment_id, fingerprint)
    # Counted before this result's run exists (it counts itself), under the store's lock.
    trial = trial_record(client, experiment_id, params.raw, loaded, result, secrets)
    if existing is not None:
        log.info("this result is already MLflow run %s: linked to it, no new run", existing)
        registered = relink(client, params, existing)
        name = client.get_run(existing).info.run_name
        return run_summary(params, uri, experiment_id, existing, registered, name) | trial.facts
    tags = run_tags(params, loaded, secrets, fingerprint) | trial.tags
    name = scrub(run_name(params.raw, loaded.baseline), secrets)
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        run_id = run.info.run_id
        mlflow.log_params(logged)
        log_datasets(inputs, loaded.hashes)
        with tempfile.TemporaryDirectory(prefix="updown-track-") as tmp:
            log_files(inputs, root, Path(tmp), secrets)
            profile = dataclasses.replace(loaded.profile, run_id=run_id)
            infos = log_models(params, inputs, loaded, profile, Path(tmp) / "model", secrets)
        # The metrics come after the models, each linked to them as it is logged: MLflow links a
        # model to the metrics logged before it with a query per metric and model (~1,200 on the
        # S&P folder, 2 s), the same links.
        models = [info.model_id for info in infos]
        log_metrics(
            client, run_id, loaded.metrics, loaded.curve, inputs.folds, trial.metrics, models
        )
        registered = register(client, params, infos[0], tags)
        summary = run_summary(params, uri, experiment_id, run_id, registered, name) | trial.facts
        # The page reports/report.html will hold, byte for byte (the command writes it).
        page = compose_report(loaded.body, summary, loaded.metrics, params.data.interval)
        mlflow.log_text(scrub(page, secrets), "report.html")
    log.info("logged the result as new MLflow run %s (%s)", run_id, name)
    return summary


def log_datasets(inputs: TrackInputs, hashes: dict[str, str]) -> None:
    """The prices (source) and the features and labels (training) as dataset inputs."""
    import mlflow

    for name in ("prices", "features", "labels"):
        path = getattr(inputs, name)
        context = "source" if name == "prices" else "training"
        mlflow.log_input(parquet_dataset(path, name, hashes[name]), context=context)


def log_files(inputs: TrackInputs, root: Path, tmp: Path, secrets: list[str]) -> None:
    """The params, validation, metrics, curve, dvc.lock and baselines at the top of the run's
    artifacts (the report, composed with the run's header, is logged by _log_run); the plots under plots/, the walk-forward folds under folds/ (staged and
    scrubbed in `tmp`)."""
    import mlflow

    staging = tmp / "files"
    staging.mkdir()
    files = [
        inputs.params_file,
        inputs.validation,
        inputs.metrics,
        inputs.curve,
        root / "dvc.lock",
        *([inputs.baselines] if inputs.baselines else []),
    ]
    for path in stage_artifacts(files, staging, secrets):
        mlflow.log_artifact(str(path))
    for folder, name in ((inputs.plots, "plots"), (inputs.folds, "folds")):
        if folder is None or not folder.is_dir():
            continue
        staged = tmp / name
        staged.mkdir()
        stage_artifacts(sorted(folder.rglob("*")), staged, secrets, folder)
        mlflow.log_artifacts(str(staged), artifact_path=name)


def log_models(
    params: Params,
    inputs: TrackInputs,
    loaded: Loaded,
    profile: ModelProfile,
    workdir: Path,
    secrets: list[str],
) -> list[Any]:
    """The served raw-bars model (`model`, registered when mlflow.registered_model is set) and
    the bare LightGBM model (`lightgbm`), each with a signature and an input example; returns
    their ModelInfos, the served model's first."""
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    example = example_bars(loaded.window)
    # The example scored as the served model scores it (score_bars); its features also give
    # the LightGBM model's input example below.
    bars = last_bars(prepare_bars(example), profile.history_bars)
    feats = compute_features(bars, params.features, profile.interval)
    answer = score_window(bars, loaded.booster, params.features, profile, feats)
    info = log_raw_bars_model(
        workdir,
        loaded.model_text,
        scrub(inputs.params_file.read_text(), secrets),
        profile,
        example,
        answer,
        params.mlflow.registered_model,
    )
    rows = feats.groupby("ticker").tail(1)[list(profile.feature_names)]
    rows = rows.astype("float64").reset_index(drop=True)
    bare = mlflow.lightgbm.log_model(
        loaded.booster,
        name="lightgbm",
        signature=infer_signature(rows, loaded.booster.predict(rows)),
        input_example=rows,
        pip_requirements=pip_requirements(("mlflow", "lightgbm", "pandas", "numpy")),
    )
    return [info, bare]


def run_summary(
    params: Params,
    uri: str,
    experiment_id: str,
    run_id: str,
    registered: dict[str, str] | None,
    name: str,
) -> dict[str, Any]:
    """reports/mlflow_run.json: the run's ids and URIs, credential-free."""
    host = without_credentials(uri).rstrip("/") if uri.startswith("http") else ""
    link = f"{host}/#/experiments/{experiment_id}/runs/{run_id}" if host else ""
    return {
        "run_id": run_id,
        "run_name": name,
        "experiment_id": experiment_id,
        "experiment": params.mlflow.experiment,
        "tracking_uri": redact(uri),
        "model_uri": f"runs:/{run_id}/model",
        "lightgbm_model_uri": f"runs:/{run_id}/lightgbm",
        "registered_model": registered,
        "run_url": link,
    }
