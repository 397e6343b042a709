"""The whole DAG on real data: snakemake and dvc repro agree, cache, and rerun only what changed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import copy_project, run, set_params

pytestmark = [pytest.mark.integration]


def mlflow_runs(project: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("updown")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake dry run, as {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def copy_built(built: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(built, dest, symlinks=True)
    return dest


def test_snakemake_builds_every_output_and_logs_one_mlflow_run(built_sample_project: Path) -> None:
    p = built_sample_project
    metrics = json.loads((p / "reports/metrics.json").read_text())
    assert 0.0 <= metrics["model"]["roc_auc"] <= 1.0
    assert (p / "models/model.txt").read_text().startswith("tree")
    assert (p / "reports/latest.csv").read_text().count("\n") == 3  # header + 2 tickers
    runs = mlflow_runs(p)
    assert len(runs) == 1
    assert runs[0].info.run_id == json.loads((p / "reports/mlflow_run.json").read_text())["run_id"]


def test_a_second_snakemake_does_nothing_and_logs_nothing(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = copy_built(built_sample_project, tmp_path)
    done = run(["snakemake", "--cores", "2"], p)
    assert "Nothing to be done" in done.stdout + done.stderr
    assert len(mlflow_runs(p)) == 1


def test_changing_train_params_plans_train_evaluate_track_predict_only(
    built_sample_project: Path, tmp_path: Path
) -> None:
    """The plan only: that such a run then logs exactly one more MLflow run is
    tests/test_mlflow_integration.py's `two_runs` (the same change, run for real)."""
    p = copy_built(built_sample_project, tmp_path)
    set_params(p, {"train.learning_rate": 0.1})
    dry = run(["snakemake", "--cores", "2", "--dry-run"], p)
    jobs = planned_jobs(dry.stdout + dry.stderr)
    assert set(jobs) - {"all"} == {"train", "evaluate", "track", "predict"}


def test_dvc_repro_reproduces_snakemake_metrics_byte_for_byte(
    built_sample_project: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    copy_project(fresh)
    first = run(["dvc", "repro"], fresh)
    assert "Running stage 'train'" in first.stdout
    snake = (built_sample_project / "reports/metrics.json").read_bytes()
    assert (fresh / "reports/metrics.json").read_bytes() == snake
    assert (fresh / "models/model.txt").read_bytes() == (
        built_sample_project / "models/model.txt"
    ).read_bytes()
    again = run(["dvc", "repro"], fresh)
    assert "Running stage" not in again.stdout
    assert len(mlflow_runs(fresh)) == 1

    # That a train change reruns exactly train, evaluate, track and predict under DVC is
    # tests/test_dvc_experiments.py's `dvc exp run -S train.learning_rate=0.1` (the same repro).

    # Code is a dependency too: editing the features module flags every stage that runs it.
    features_py = fresh / "workflow/updown/learn/features.py"
    features_py.write_text(features_py.read_text() + "\n# an edit\n")
    status = run(["dvc", "status"], fresh).stdout
    flagged = set(re.findall(r"^([\w@^.=-]+):\s*$", status, re.M))
    assert flagged == {"features", "train", "track", "predict"}, status
    edited = run(["dvc", "repro"], fresh)
    ran = set(re.findall(r"Running stage '([\w@^.=-]+)'", edited.stdout))
    # DVC compares content: a stage after these reruns only if its inputs came out different
    # (a comment changes no output, so evaluate, whose code does not include features, is kept).
    assert (
        {"features", "train", "track", "predict"}
        <= ran
        <= {"features", "train", "evaluate", "track", "predict"}
    )
