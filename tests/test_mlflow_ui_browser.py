"""`make ui` serves the MLflow UI on 127.0.0.1, and a real headless Chromium sees the runs of
the experiment listed in it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, project_env
from test_mlflow_server import free_port, server_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
]


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def rendered_page(chromium: str, url: str, profile: Path) -> str:
    """The DOM after the React app has fetched and rendered (virtual time lets it finish)."""
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-quic",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=30000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return visible_text(done.stdout)


def test_make_ui_lists_the_runs_of_the_experiment_in_a_real_browser(
    two_runs: Path, tmp_path: Path, chromium: str
) -> None:
    from mlflow import MlflowClient

    # Two distinct results in the project's own store (an identical one would link to the
    # first): test_mlflow_integration's, built once per run. The UI lists the runs from the
    # copied store; the artifacts stay where the runs point, in two_runs/mlruns.
    p = tmp_path / "project"
    shutil.copytree(
        two_runs, p, symlinks=True, ignore=shutil.ignore_patterns("mlruns", ".snakemake")
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{p / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("updown")
    names = sorted(r.info.run_name for r in client.search_runs([experiment.experiment_id]))
    assert len(names) == 2

    port = free_port()
    # The project's own `make ui`, with the test's venv standing in for the copy's .venv.
    cmd = [
        "make",
        "--no-print-directory",
        "-o",
        ".venv/.installed",
        "ui",
        f"BIN={BIN}",
        f"PORT={port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(cmd, f"{url}/health", p, project_env(), tmp_path / "ui.log"):
        page = ""
        for attempt in range(3):  # the app renders the table after its API calls return
            page = rendered_page(
                chromium,
                f"{url}/#/experiments/{experiment.experiment_id}/runs",
                tmp_path / f"chrome{attempt}",
            )
            if all(n in page for n in names):
                break
        assert "updown" in page
        assert all(n in page for n in names), page[:3000]
    assert (
        f"MLflow UI for sqlite:///{p}/mlflow.db on http://127.0.0.1:{port}"
        in (tmp_path / "ui.log").read_text()
    )
