"""One distinct result, one MLflow run: an identical rerun (whoever orchestrates it) links to
the run already holding it; runs are named after what they are; headline figures chart first;
the experiment is a classic-ML one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, run, set_params
from updown.config import load_params
from updown.serve import track
from updown.serve.mlflow_values import headline_metrics, params_to_log, run_name
from updown.serve.run_files import code_sha256, result_fingerprint
from updown.serve.store import FINGERPRINT_TAG, KIND, KIND_TAG, MLFLOW_ENV_DEFAULTS
from updown.serve.track import TrackInputs, log_run

METRICS = {
    "backtest_buy_and_hold": {"ann_return": 0.08},
    "bootstrap_roc_auc": {"model_lo": 0.50, "model_hi": 0.57, "vs_linear": 0.01},
    "model": {"roc_auc": 0.536, "accuracy": 0.56},
    "verdict": {"linear": 0, "majority": 1},
}


def test_headline_metrics_are_the_models_headline_its_interval_and_the_verdicts() -> None:
    assert headline_metrics(METRICS) == {
        "Headline/roc_auc": 0.536,
        "Headline/roc_auc_lo": 0.50,
        "Headline/roc_auc_hi": 0.57,
        "Headline/verdict_linear": 0.0,
        "Headline/verdict_majority": 1.0,
    }
    # The compare view plots the first metric in code-point order: the headline, not a
    # buy-and-hold figure that is the same in every run.
    assert min([*headline_metrics(METRICS), "backtest_buy_and_hold.ann_return"]).startswith(
        "Headline/roc_auc"
    )
    assert headline_metrics({"model": {"roc_auc": 0.5}}) == {}


def test_run_names_say_what_the_run_is_and_what_differs_from_the_committed_params() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    kind, horizon = raw["label"]["kind"], raw["label"]["horizon"]
    tickers = ",".join(raw["data"]["tickers"])
    assert run_name(raw, raw) == run_name(raw, None) == f"{kind} h{horizon} {tickers}"
    changed = yaml.safe_load((REPO / "params.yaml").read_text())
    changed["train"]["learning_rate"] = 0.1
    changed["mlflow"]["tracking_uri"] = "sqlite:///elsewhere.db"  # not part of a result
    changed["data"]["tickers"] = ["A", "B", "C", "D"]
    assert run_name(changed, raw) == f"{kind} h{horizon} 4 tickers learning_rate=0.1"
    assert run_name(changed, raw) == run_name(changed, raw)  # never random
    many = {**changed, "extra": {f"key_{i:02d}": "x" * 20 for i in range(20)}}
    name = run_name(many, raw)
    assert len(name) <= 100 and name.endswith(" more")


def test_the_fingerprint_is_the_files_params_and_code_only() -> None:
    files = {"model": "a" * 64, "metrics": "b" * 64}
    params = params_to_log({"train": {"learning_rate": 0.05}}, [])
    code = code_sha256(REPO / "workflow" / "updown")
    same = result_fingerprint(files, params, code)
    assert same == result_fingerprint(dict(reversed(files.items())), params, code)
    assert same != result_fingerprint({**files, "model": "c" * 64}, params, code)
    assert same != result_fingerprint(files, {"train.learning_rate": "0.1"}, code)
    assert same != result_fingerprint(files, params, "0" * 64)


# Logging the built sample project's result in-process, into stores under tmp_path.


def track_inputs(p: Path) -> TrackInputs:
    return TrackInputs(
        params_file=p / "params.yaml",
        model=p / "models/model.txt",
        features=p / "data/processed/features.parquet",
        labels=p / "data/interim/labels.parquet",
        prices=p / "data/interim/prices.parquet",
        metrics=p / "reports/metrics.json",
        curve=p / "reports/train_curve.csv",
        evaluation=p / "reports/evaluation.html",
        plots=p / "reports/plots",
        validation=p / "reports/validation.json",
        baselines=p / "models/baselines.json",
        folds=p / "models/folds",
    )


@pytest.fixture
def project(
    built_sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A copy of the built project without its store; MLflow's globals restored afterwards."""
    import mlflow

    p = tmp_path / "project"
    shutil.copytree(
        built_sample_project, p, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db*")
    )
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "DVC_STAGE", "UPDOWN_ORCHESTRATOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        monkeypatch.setenv(key, value)
    # The code part of the fingerprint: the copy's package, which no one edits meanwhile.
    monkeypatch.setattr(track, "PACKAGE", p / "workflow" / "updown")
    before = mlflow.get_tracking_uri()
    yield p
    mlflow.set_tracking_uri(before)


def log_as(p: Path, orchestrator: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Log the project's result as `orchestrator` would (dvc sets DVC_STAGE)."""
    monkeypatch.delenv("DVC_STAGE", raising=False)
    monkeypatch.delenv("UPDOWN_ORCHESTRATOR", raising=False)
    if orchestrator == "dvc":
        monkeypatch.setenv("DVC_STAGE", "track")
    else:
        monkeypatch.setenv("UPDOWN_ORCHESTRATOR", orchestrator)
    return log_run(load_params(p / "params.yaml"), track_inputs(p), p)


def runs_in(where: Path) -> list[Any]:
    """The runs of the store `where` (a project folder: its mlflow.db), oldest first."""
    from mlflow import MlflowClient

    db = where / "mlflow.db" if where.is_dir() else where
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("updown")
    assert experiment is not None
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


@pytest.mark.integration
def test_an_identical_result_is_one_run_whoever_logs_it_and_a_new_result_adds_one(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    set_params(project, {"mlflow.registered_model": "updown-sample"}, render_dvc=False)
    first = log_as(project, "snakemake", monkeypatch)
    assert first["registered_model"] == {
        "name": "updown-sample",
        "version": "1",
        "alias": "candidate",
    }
    caplog.set_level("INFO", logger="updown")
    again = log_as(project, "dvc", monkeypatch)
    assert again == first
    assert f"already MLflow run {first['run_id']}: linked to it" in caplog.text
    (only,) = runs_in(project)
    assert only.info.run_id == first["run_id"] and only.info.status == "FINISHED"
    assert len(only.data.tags[FINGERPRINT_TAG]) == 64
    assert only.data.metrics["Headline/roc_auc"] == only.data.metrics["model.roc_auc"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment(only.info.experiment_id)
    assert experiment.tags[KIND_TAG] == KIND == "custom_model_development"

    # A parameter changed: a new result, a new run (and version), named after the change.
    before = (project / "params.yaml").read_text()
    set_params(project, {"predict.history_bars": 250}, render_dvc=False)
    changed = log_as(project, "snakemake", monkeypatch)
    assert changed["run_id"] != first["run_id"]
    assert str(client.get_model_version_by_alias("updown-sample", "candidate").version) == "2"
    # Set back: linked to the first run, and the alias back on its version.
    (project / "params.yaml").write_text(before)
    assert log_as(project, "manual", monkeypatch) == first
    assert str(client.get_model_version_by_alias("updown-sample", "candidate").version) == "1"
    runs = runs_in(project)
    assert [r.info.run_id for r in runs] == [first["run_id"], changed["run_id"]]
    base = runs[0].info.run_name
    assert runs[1].info.run_name == f"{base} history_bars=250"


@pytest.mark.integration
def test_the_run_name_is_the_same_in_any_store(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    names = []
    for store, orchestrator in (("a.db", "snakemake"), ("b.db", "dvc")):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / store}")
        log_as(project, orchestrator, monkeypatch)
        (only,) = runs_in(tmp_path / store)
        names.append(only.info.run_name)
    assert names[0] == names[1] == run_name(params, params)


@pytest.mark.integration
def test_snakemake_then_dvc_repro_of_the_same_result_logs_one_run(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(
        built_sample_project, p, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db*")
    )
    run(["snakemake", "--cores", "2", "--forcerun", "track"], p)
    by_snakemake = json.loads((p / "reports/mlflow_run.json").read_text())
    run(["dvc", "commit", "--force"], p)  # record the built outputs without rerunning them
    done = run(["dvc", "repro", "--single-item", "--force", "track"], p)
    by_dvc = json.loads((p / "reports/mlflow_run.json").read_text())
    assert by_dvc == by_snakemake
    (only,) = runs_in(p)
    assert only.info.run_id == by_dvc["run_id"]
    assert only.data.tags["orchestrator"] == "snakemake"
    log = (p / "logs/track.log").read_text() if (p / "logs/track.log").is_file() else ""
    assert "linked to it" in done.stdout + done.stderr + log
