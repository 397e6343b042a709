"""Two pipelines logging to one sqlite MLflow store at the same moment both land.

On a fresh store, MLflow's schema creation races ("table experiments already exists") and the
experiment creation can clash; track therefore takes turns on a lock file beside the database,
and the turn-taking also lets the second see the first's run: one result, one run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import project_env


@pytest.mark.integration
def test_two_pipelines_tracking_one_result_into_a_fresh_sqlite_store_land_one_run(
    built_sample_project: Path, tmp_path: Path
) -> None:
    store = tmp_path / "shared" / "mlflow.db"
    store.parent.mkdir()
    env = project_env({"MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    projects = []
    for name in ("one", "two"):
        project = tmp_path / name
        shutil.copytree(built_sample_project, project, symlinks=True)
        projects.append(project)
    cmd = ["snakemake", "--cores", "1", "--forcerun", "track"]
    procs = [
        subprocess.Popen(cmd, cwd=p, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for p in projects
    ]  # fmt: skip
    results = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-4000:]

    run_ids = [
        json.loads((p / "reports" / "mlflow_run.json").read_text())["run_id"] for p in projects
    ]
    assert len(set(run_ids)) == 1  # the same result from both: the second links to the first
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("updown")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == run_ids[:1]
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert run.data.metrics  # each run holds its metrics, not an empty shell
