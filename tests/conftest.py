"""Shared fixtures: project copies for real snakemake/dvc/mlflow runs, the shared S&P folder,
and a browser; and the order in which xdist hands out the test modules.

`make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`: each module runs whole on
one worker (so a module- or session-scoped fixture used by one module is built once), modules go
out in the order of `pytest_collection_modifyitems` below, longest first, and the one fixture
that many modules share, `built_sample_project`, is built once per run for all workers
(`built_once`). xdist_group marks are not used: pytest 9.2 ignores them silently
(pytest-xdist#1386)."""

from __future__ import annotations

import fcntl
import json
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
# LightGBM runs 2 OpenMP threads (train.num_threads) in every train, evaluate and predict here,
# while the suite's 2 xdist workers already share the machine's 2 cores: OpenMP's default
# spin-wait then burns a core for each waiting thread (a train stage measured 22 s of CPU, 6 s
# with passive waiting, the same model file byte for byte). Set before anything imports lightgbm,
# and inherited by every subprocess (project_env); it changes no result, only the CPU spent.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder `name`, made by `build(folder)` once per pytest run rather than once per xdist
    worker: the first worker to ask builds it in the run's shared temporary folder under a file
    lock; the others wait for the lock and find it built. Tests must not modify it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is a folder of the run's
        root = root.parent
    dest, done = root / name / "project", root / name / "done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(dest.parent, ignore_errors=True)  # what a failed build left
            dest.mkdir(parents=True)
            build(dest)
            done.touch()
    return dest


def _build_sample_project(dest: Path) -> None:
    copy_project(dest)
    run(["snakemake", "--cores", "2"], dest)


@pytest.fixture(scope="session")
def built_sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `snakemake` has run the default pipeline once, built once per
    run whichever worker asks first. Do not modify it: copy it (shutil.copytree) if a test needs
    to change params or run anything in it."""
    return built_once(tmp_path_factory, "built", _build_sample_project)


# The train params `two_runs` changes for its second run.
TRAIN_CHANGES = {"train.learning_rate": 0.1, "train.num_leaves": 7}


def copy_without_store(built: Path, dest: Path) -> Path:
    """A copy of the built project with no MLflow store: its runs land in the copy only."""
    shutil.copytree(
        built,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns("mlflow.db*", "mlruns"),
        dirs_exist_ok=True,
    )
    return dest


@pytest.fixture(scope="session")
def two_runs(built_sample_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built project without its store, its result logged, then the pipeline rerun with
    TRAIN_CHANGES and MLFLOW_RUN_ID pointing at the first run (resuming it would clash with its
    params): two runs in the copy's own store. Built once per run (test_mlflow_integration and
    test_mlflow_ui_browser); do not modify it (its MLflow artifacts are in its mlruns/, which
    the runs of a copy's store also point at)."""

    def build(p: Path) -> None:
        copy_without_store(built_sample_project, p)
        run(["snakemake", "--cores", "2", "--forcerun", "track"], p)
        first = json.loads((p / "reports/mlflow_run.json").read_text())["run_id"]
        set_params(p, TRAIN_CHANGES)
        run(["snakemake", "--cores", "2"], p, env=project_env({"MLFLOW_RUN_ID": first}))

    return built_once(tmp_path_factory, "two_runs", build)


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


# Longest processing time first: the modules that take longest go out first, so that the two
# workers end within a short module of each other. Order from one `make test` (2026-12-05, wall
# seconds per module on a loaded machine): the S&P folder (when ../shared is there) and the
# sweep first, as they need no built sample project and run while a worker builds it. A module
# not listed goes after these: modules with integration tests first, then those with slow
# ones, then the rest.
LONGEST_FIRST = [
    "tests/test_sp500_csv.py",  # 342 s
    "tests/test_replay.py",  # two short replays with their pipeline runs
    "tests/test_train_dask.py",  # local:2 clusters and a pipeline from train on
    "tests/test_sweep.py",  # 321
    "tests/test_mlflow_integration.py",  # 436, with the wait for the built project
    "tests/test_hourly.py",  # 352
    "tests/test_live_registry.py",  # 288
    "tests/test_pipeline.py",  # 211
    "tests/robustness/test_concurrent_tracking.py",  # 256 with the build
    "tests/robustness/test_bad_params.py",  # 248
    "tests/test_cluster_executor.py",  # 191
    "tests/test_code_deps.py",  # 187
    "tests/test_dvc_experiments.py",  # 180
    "tests/test_mlflow_ui_browser.py",  # 170 before it shared two_runs: keep it after
    # test_mlflow_integration, which builds two_runs early, so that it never waits for it
    "tests/test_benchmarks_smoke.py",  # 168
    "tests/test_mlflow_server.py",  # 165
    "tests/robustness/test_security.py",  # 147
    "tests/test_readme_commands.py",  # 136
    "tests/robustness/test_failed_stage_keeps_outputs.py",  # 128
    "tests/test_track_results.py",  # 92
    "tests/robustness/test_interrupt.py",  # 71
]


def _module_rank(items: list[pytest.Item]) -> dict[str, tuple[int, int]]:
    listed = {name: i for i, name in enumerate(LONGEST_FIRST)}
    rank: dict[str, tuple[int, int]] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        if module in listed:
            rank[module] = (0, listed[module])
            continue
        tier = (
            1
            if item.get_closest_marker("integration")
            else 2
            if item.get_closest_marker("slow")
            else 3
        )
        rank[module] = min(rank.get(module, (tier, 0)), (tier, 0))
    return rank


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules longest first (see LONGEST_FIRST); a module's tests stay together, in their
    order. Only the order changes, never what runs."""
    rank = _module_rank(items)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])
