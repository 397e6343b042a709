"""Shared fixtures: project copies for real snakemake/dvc/mlflow runs, the shared S&P folder,
and a browser. Tests that build a project copy are slow; group them with
`@pytest.mark.xdist_group("sample_project")` so one worker builds it once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_SP500 = REPO.parent / "shared" / "data" / "sp500-daily"


def project_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for subprocesses: the venv's tools first, no inherited MLflow URI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "UPDOWN_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"
    env.update(extra or {})
    return env


def run(
    cmd: list[str],
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on unexpected failure show its output in the assertion message."""
    done = subprocess.run(
        cmd, cwd=cwd, env=env or project_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-6000:]}"
        )
    return done


def copy_project(dest: Path) -> Path:
    """A fresh git repository holding the project's tracked and unignored files (no outputs)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    run([*git, "init", "-q"], dest)
    run([*git, "add", "-A"], dest)
    run([*git, "commit", "-qm", "copy"], dest)
    return dest


def set_params(project: Path, changes: dict[str, Any], render_dvc: bool = True) -> None:
    """Set dotted keys in the copy's params.yaml, e.g. {"train.learning_rate": 0.1}. A new
    ticker list also re-renders dvc.yaml (its acquire stages list their tickers), as the README
    asks a user to do."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = params
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    layout = {"data.tickers", "data.acquire_jobs", "data", "features.shards", "label.shards"}
    if render_dvc and layout & set(changes) and (project / "dvc.yaml").exists():
        run(["updown", "dvc-yaml"], project)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def new_project(tmp_path: Path) -> Callable[[], Path]:
    """Factory for a fresh project copy under this test's tmp_path."""

    def make() -> Path:
        dest = tmp_path / f"project{len(list(tmp_path.glob('project*')))}"
        dest.mkdir()
        return copy_project(dest)

    return make


@pytest.fixture(scope="session")
def built_sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `snakemake` has run the default pipeline once. Do not modify it:
    copy it (shutil.copytree) if a test needs to change params."""
    dest = tmp_path_factory.mktemp("built") / "project"
    dest.mkdir()
    copy_project(dest)
    run(["snakemake", "--cores", "2"], dest)
    return dest


@pytest.fixture(scope="session")
def sp500_dir() -> Path:
    if not SHARED_SP500.is_dir():
        pytest.skip(f"{SHARED_SP500} is absent: the shared S&P 500 folder is not beside the repo")
    return SHARED_SP500


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on this machine (apt-get install chromium); .ci/run installs it")
    raise AssertionError  # unreachable, for type checkers
