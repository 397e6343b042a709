"""The track stage on real pipeline runs: each result is one complete, comparable, traceable
MLflow run; a no-op rebuild logs nothing; DVC runs are tagged as DVC's."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
import pytest
import yaml
from conftest import TRAIN_CHANGES, copy_without_store, run, set_params

pytestmark = [pytest.mark.integration]


def client_for(project: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def runs_of(project: Path) -> list[Any]:
    client = client_for(project)
    experiment = client.get_experiment_by_name("updown")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def artifact_text(project: Path, run_id: str, path: str) -> str:
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, tracking_uri=f"sqlite:///{project / 'mlflow.db'}"
    )
    return Path(local).read_text()


@contextlib.contextmanager
def tracking(project: Path) -> Iterator[None]:
    """MLflow's global tracking URI set to the project's store for the block, then restored."""
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


def numbers(tree: Any, prefix: str = "") -> dict[str, float]:
    """Every number of a JSON tree outside lists, under its dotted path."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(numbers(v, f"{prefix}{k}."))
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        out[prefix[:-1].replace("^", "_")] = float(tree)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_pipeline_runs_are_two_runs_whose_params_differ_exactly_in_the_changed_keys(
    two_runs: Path,
) -> None:
    first, second = runs_of(two_runs)
    keys = set(first.data.params) | set(second.data.params)
    differ = {k for k in keys if first.data.params.get(k) != second.data.params.get(k)}
    assert differ == set(TRAIN_CHANGES)
    for key, value in TRAIN_CHANGES.items():
        assert second.data.params[key] == str(value)
    assert len(first.data.params) == len(second.data.params) > 50
    assert {r.info.status for r in (first, second)} == {"FINISHED"}
    # Named after what they are: the second adds the params changed from the committed ones.
    assert second.info.run_name == f"{first.info.run_name} learning_rate=0.1 num_leaves=7"
    assert first.data.tags["result_fingerprint"] != second.data.tags["result_fingerprint"]


def test_each_run_holds_metrics_loss_curves_artifacts_models_datasets_and_lineage(
    two_runs: Path,
) -> None:
    import mlflow

    client = client_for(two_runs)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=two_runs, capture_output=True, text=True, check=True
    ).stdout.strip()
    for r, dirty in zip(runs_of(two_runs), ("false", "true"), strict=True):
        rid = r.info.run_id
        # Every number of that run's metrics.json is a metric of the run.
        logged_metrics = json.loads(artifact_text(two_runs, rid, "metrics.json"))
        expected = numbers(logged_metrics)
        assert expected and {k: r.data.metrics.get(k) for k in expected} == expected
        # The loss of every boosting round (of the deployed fold) is a step metric.
        curve = pd.read_csv(io.StringIO(artifact_text(two_runs, rid, "train_curve.csv")))
        if "fold" in curve.columns:
            curve = curve[curve["fold"] == curve["fold"].max()]
        for name in ("train_loss", "valid_loss"):
            history = sorted(client.get_metric_history(rid, name), key=lambda m: m.step)
            assert [m.step for m in history] == curve["iteration"].tolist()
            assert [m.value for m in history] == curve[name].tolist()
        names = {a.path for a in client.list_artifacts(rid)}
        assert {"report.html", "params.yaml", "validation.json", "metrics.json"} <= names
        assert any(a.path.endswith(".png") for a in client.list_artifacts(rid, "plots"))
        # Both models: raw bars in (model) and feature rows in (lightgbm), with signatures.
        models = client.search_logged_models(
            experiment_ids=[r.info.experiment_id], filter_string=f"source_run_id = '{rid}'"
        )
        assert sorted(m.name for m in models) == ["lightgbm", "model"]
        # Each model carries the run's step-0 metrics (the model pages' metrics), not the curve.
        for m in models:
            linked = {x.key: x.value for x in m.metrics or []}
            assert {k: linked.get(k) for k in expected} == expected
            assert "train_loss" not in linked
        with tracking(two_runs):
            for m in ("model", "lightgbm"):
                info = mlflow.models.get_model_info(f"runs:/{rid}/{m}")
                assert info.signature is not None and info.saved_input_example_info is not None
        # Datasets with their content hash; lineage tags.
        digests = {d.dataset.name: d.dataset.digest for d in r.inputs.dataset_inputs}
        assert digests == {
            "prices": sha256(two_runs / "data/interim/prices.parquet")[:32],
            "features": sha256(two_runs / "data/processed/features.parquet")[:32],
            "labels": sha256(two_runs / "data/interim/labels.parquet")[:32],
        }
        tags = r.data.tags
        assert tags["git_commit"] == head and tags["git_dirty"] == dirty
        assert tags["orchestrator"] == "snakemake"
        assert (tags["data_source"], tags["tickers"]) == ("sample", "^GSPC,^IXIC")
    # The second run's params.yaml artifact is the params.yaml that made it.
    second = runs_of(two_runs)[1].info.run_id
    assert yaml.safe_load(artifact_text(two_runs, second, "params.yaml")) == yaml.safe_load(
        (two_runs / "params.yaml").read_text()
    )
    assert json.loads((two_runs / "reports/mlflow_run.json").read_text())["run_id"] == second


def test_the_logged_lightgbm_model_loads_with_pyfunc_and_predicts_feature_rows(
    two_runs: Path,
) -> None:
    import mlflow

    rid = runs_of(two_runs)[1].info.run_id
    with tracking(two_runs):
        model = mlflow.pyfunc.load_model(f"runs:/{rid}/lightgbm")
    booster = lgb.Booster(model_file=str(two_runs / "models/model.txt"))
    rows = pd.read_parquet(two_runs / "data/processed/features.parquet").tail(50)
    rows = rows[booster.feature_name()].astype("float64").reset_index(drop=True)
    assert list(model.predict(rows)) == list(booster.predict(rows))


def test_a_no_op_rebuild_logs_nothing(two_runs: Path) -> None:
    done = run(["snakemake", "--cores", "2"], two_runs)
    assert "Nothing to be done" in done.stdout + done.stderr
    assert len(runs_of(two_runs)) == 2


def test_registering_gives_a_new_version_under_the_alias_and_never_trips_on_params(
    two_runs: Path, tmp_path: Path
) -> None:
    import mlflow

    p = tmp_path / "project"
    shutil.copytree(two_runs, p, symlinks=True)
    set_params(p, {"mlflow.registered_model": "updown-sample"})
    run(["snakemake", "--cores", "2"], p)
    # The served window is part of the logged model: a new window is a new run and version.
    set_params(p, {"predict.history_bars": 250})
    done = run(["snakemake", "--cores", "2"], p)
    assert "rule train" not in done.stdout + done.stderr
    runs = runs_of(p)
    assert len(runs) == 4
    client = client_for(p)
    version = client.get_model_version_by_alias("updown-sample", "candidate")
    assert str(version.version) == "2" and version.run_id == runs[-1].info.run_id
    assert version.tags["git_commit"] == runs[-1].data.tags["git_commit"]
    # predict answers with @champion: the first registered version until one is promoted.
    assert str(client.get_model_version_by_alias("updown-sample", "champion").version) == "1"
    with tracking(p):
        model = mlflow.pyfunc.load_model("models:/updown-sample@champion")
    served = model.predict(pd.read_parquet(p / "data/interim/prices.parquet"))
    assert served["p_up"].tolist() == pd.read_csv(p / "reports/latest.csv")["p_up"].tolist()


def test_dvc_runs_are_tagged_dvc_and_carry_dvc_lock(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = copy_without_store(built_sample_project, tmp_path / "project")
    run(["dvc", "commit", "--force"], p)  # record the built outputs without rerunning them
    run(["dvc", "repro", "--single-item", "--force", "track"], p)
    (only,) = runs_of(p)
    assert only.data.tags["orchestrator"] == "dvc"
    lock = yaml.safe_load(artifact_text(p, only.info.run_id, "dvc.lock"))
    assert "train" in lock["stages"]
