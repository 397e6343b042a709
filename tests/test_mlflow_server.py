"""The track stage against a real `mlflow server` on 127.0.0.1: when the server is down the stage
fails in one credential-free line and leaves every output intact; once it is up, a rerun logs
the same result there, and the password in the tracking URI is nowhere in the run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import BIN, project_env, run, set_params

pytestmark = [pytest.mark.integration]

SECRET = "s3cr3t-Pa55word"
START_TIMEOUT = 240  # seconds: a loaded 2-core CI machine starts MLflow's server slowly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server_process(
    cmd: list[str], ready_url: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `cmd` in its own process group, wait (bounded) until `ready_url` answers 200, and
    kill the whole group afterwards, whatever happens."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{cmd[0]} exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(ready_url, timeout=5) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{ready_url} not up in {START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
        # Workers may outlive their parent briefly; the group must be gone before we return.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def mlflow_server(root: Path, port: int) -> Iterator[str]:
    """A real tracking server with its own backend store and artifact folder under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(cmd, f"{url}/health", root, project_env(), root / "server.log"):
        yield url


def all_text(folder: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()
    )


def test_track_fails_in_one_line_while_the_server_is_down_then_logs_there_on_rerun(
    built_sample_project: Path, tmp_path: Path
) -> None:
    import mlflow
    from mlflow import MlflowClient

    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    port = free_port()
    set_params(p, {"mlflow.tracking_uri": f"http://updown:{SECRET}@127.0.0.1:{port}"})
    kept = [
        "models/model.txt",
        "reports/metrics.json",
        "data/processed/features.parquet",
    ]
    # The record of the last run that did land, and the report with that run's header (both
    # the track stage's outputs): put back by Snakemake (update()), same bytes.
    record_before = (p / "reports/mlflow_run.json").read_bytes()
    report_before = (p / "reports/report.html").read_bytes()
    before = {f: ((p / f).read_bytes(), (p / f).stat().st_mtime_ns) for f in kept}

    # A new tracking URI is not a new result: forcing the track stage logs it there.
    dry = run(["snakemake", "--cores", "2", "--dry-run"], p)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    down = run(["snakemake", "--cores", "2", "--forcerun", "track"], p, check=False)
    said = down.stdout + down.stderr + (p / "logs/track.log").read_text()
    assert down.returncode != 0
    assert SECRET not in said
    errors = [line for line in said.splitlines() if line.startswith("updown track: error:")]
    assert errors == [
        f"updown track: error: MLflow tracking at http://updown:***@127.0.0.1:{port} failed: "
        "cannot connect (connection refused). The pipeline outputs are intact; fix the tracking "
        "URI or server and rerun to log them."
    ]
    assert {f: ((p / f).read_bytes(), (p / f).stat().st_mtime_ns) for f in kept} == before
    assert (p / "reports/mlflow_run.json").read_bytes() == record_before
    assert (p / "reports/report.html").read_bytes() == report_before

    with mlflow_server(tmp_path / "server", port) as url:
        up = run(["snakemake", "--cores", "2", "--forcerun", "track"], p)
        client = MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("updown")
        (logged,) = client.search_runs([experiment.experiment_id])
        record = json.loads((p / "reports/mlflow_run.json").read_text())
        assert logged.info.run_id == record["run_id"]
        assert (
            record["run_url"]
            == f"{url}/#/experiments/{experiment.experiment_id}/runs/{record['run_id']}"
        )
        assert logged.data.params["mlflow.tracking_uri"] == f"http://updown:***@127.0.0.1:{port}"
        assert "train.learning_rate" in logged.data.params and logged.data.metrics
        # The password is in no param, tag, artifact, output or log.
        downloaded = Path(
            mlflow.artifacts.download_artifacts(
                run_id=logged.info.run_id, tracking_uri=url, dst_path=str(tmp_path / "dl")
            )
        )
        assert {"params.yaml", "report.html", "metrics.json", "validation.json"} <= {
            f.name for f in downloaded.iterdir()
        }
        haystack = "\n".join(
            [
                json.dumps(logged.data.params),
                json.dumps(logged.data.tags),
                all_text(downloaded),
                all_text(tmp_path / "server" / "artifacts"),
                all_text(p / "reports"),
                all_text(p / "logs"),
                all_text(p / ".snakemake" / "log"),
                up.stdout,
                up.stderr,
            ]
        )
        assert SECRET not in haystack
        # The served model was uploaded to the server's artifact store and loads from there.
        assert list((tmp_path / "server" / "artifacts").rglob("MLmodel"))
        before_uri = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(url)
        try:
            model = mlflow.pyfunc.load_model(record["model_uri"])
        finally:
            mlflow.set_tracking_uri(before_uri)
        answer = model.predict(pd.read_parquet(p / "data/interim/prices.parquet"))
        assert answer["p_up"].tolist() == pd.read_csv(p / "reports/latest.csv")["p_up"].tolist()
    # Nothing went to the project's own store.
    local = MlflowClient(tracking_uri=f"sqlite:///{p / 'mlflow.db'}")
    assert len(local.search_runs([local.get_experiment_by_name("updown").experiment_id])) == 1
