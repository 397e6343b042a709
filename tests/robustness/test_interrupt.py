"""A stage killed with SIGKILL leaves no partial file under an output's name, and the next run
completes from there.

Every output is written to a hidden temporary beside it, flushed, and renamed over the final
name only when complete; the next successful write of that output removes a temporary that a
killed writer left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import project_env, run
from hostile import REPO, UPDOWN, fingerprint, write_params

# Every test here runs the real `updown` CLI: `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow


def big_panel(path: Path, tickers: int = 400, bars: int = 5000) -> None:
    """A validated-looking price panel large enough that writing its labels takes a while."""
    rng = np.random.default_rng(0)
    stamps = pd.bdate_range("1999-01-04", periods=bars, tz="UTC") + pd.Timedelta(hours=5)
    close = (50 * np.exp(np.cumsum(rng.normal(0, 0.01, (tickers, bars)), axis=1))).ravel()
    pd.DataFrame(
        {
            "ticker": np.repeat([f"T{i:03d}" for i in range(tickers)], bars),
            "timestamp": np.tile(stamps, tickers),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(1_000, 1_000_000, tickers * bars).astype(float),
        }
    ).to_parquet(path, index=False)


def temporaries(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], limit: float) -> bool:
    """SIGKILL `proc` as soon as `ready()`; False if it ended first."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    return False


def test_sigkill_mid_write_leaves_the_previous_output_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    big_panel(tmp_path / "prices.parquet")
    out = tmp_path / "labels.parquet"
    out.write_bytes(b"the previous labels")
    cmd = [UPDOWN, "label", "--params", str(REPO / "params.yaml"), "--prices", "prices.parquet"]
    cmd += ["--out", out.name]
    caught = False
    for _ in range(3):  # the write lasts ~0.3 s; should the poll miss it, try again
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=project_env(), stderr=subprocess.DEVNULL)
        killed = kill_when(proc, lambda: bool(temporaries(tmp_path, out.name)), limit=300)
        assert killed, "label finished before its output was being written"
        assert proc.returncode == -signal.SIGKILL
        if temporaries(tmp_path, out.name):  # killed while the temporary was being written
            caught = True
            break
    assert caught
    assert out.read_bytes() == b"the previous labels"  # nothing partial under the final name
    assert all(p.name.startswith(".") for p in temporaries(tmp_path, out.name))

    done = run(cmd, tmp_path)
    labels = pd.read_parquet(out)
    # Each ticker's last entry-offset + horizon bars have no label (the committed params').
    label = yaml.safe_load((REPO / "params.yaml").read_text())["label"]
    unlabelled = (0 if label["entry"] == "close" else 1) + label["horizon"]
    assert len(labels) == 400 * (5000 - unlabelled)
    assert set(labels.columns) >= {"ticker", "timestamp", "label"}
    assert temporaries(tmp_path, out.name) == []  # the killed writer's leftover is gone
    assert done.returncode == 0


def stage_pid(project: Path, stage: str) -> int | None:
    """The pid of a running `updown <stage>` whose working directory is `project`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        names = [Path(a.decode(errors="replace")).name for a in argv[:3]]
        if "updown" in names and stage.encode() in argv and cwd == os.path.realpath(project):
            return int(entry.name)
    return None


def kill_stage_during(
    cmd: list[str], project: Path, stage: str
) -> subprocess.CompletedProcess[str]:
    """Run an orchestrator, SIGKILL the `updown <stage>` process it starts once that has run for
    a moment, and return the orchestrator's result."""
    proc = subprocess.Popen(
        cmd, cwd=project, env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    pid = None
    while proc.poll() is None and time.monotonic() < deadline:
        pid = stage_pid(project, stage)
        if pid is not None:
            time.sleep(0.5)  # inside the stage: imports done, reading or training
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=600)
    assert pid is not None, f"{stage} never ran\n{err[-3000:]}"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def assert_complete_outputs(project: Path) -> None:
    lgb.Booster(model_file=str(project / "models" / "model.txt"))  # parses: LightGBM text
    pd.read_parquet(project / "reports" / "predictions.parquet")
    assert (project / "reports" / "metrics.json").read_text().rstrip().endswith("}")
    leftovers = [p for p in project.rglob(".*.tmp") if ".git" not in p.parts]
    assert leftovers == []


@pytest.mark.integration
def test_a_killed_stage_under_snakemake_then_dvc_completes_on_the_next_run(
    built_sample_project: Path, tmp_path: Path
) -> None:
    import shutil

    project = tmp_path / "project"
    shutil.copytree(built_sample_project, project, symlinks=True)
    # A train change reruns train, evaluate, track and predict.
    write_params(
        project / "params.yaml", {"train.learning_rate": 0.05}, base=project / "params.yaml"
    )
    before = fingerprint(project, "data", "models", "reports")

    done = kill_stage_during(["snakemake", "--cores", "2"], project, "train")
    assert done.returncode == 1
    assert "Error in rule train" in done.stderr
    # Every output is update(): the killed job's previous outputs are put back, whole.
    assert "Restored previous version of models/model.txt" in done.stderr
    assert fingerprint(project, "data", "models", "reports") == before

    run(["snakemake", "--cores", "2", "--rerun-incomplete"], project)
    assert_complete_outputs(project)

    # DVC: record what Snakemake built as DVC's baseline, change train again, kill it again.
    run(["dvc", "commit", "--force"], project)
    write_params(
        project / "params.yaml", {"train.learning_rate": 0.04}, base=project / "params.yaml"
    )
    done = kill_stage_during(["dvc", "repro", "train"], project, "train")
    assert done.returncode != 0
    assert "failed to reproduce 'train'" in done.stderr
    run(["dvc", "repro", "train"], project)
    lgb.Booster(model_file=str(project / "models" / "model.txt"))
    assert [p for p in project.rglob(".*.tmp") if ".git" not in p.parts] == []
    assert "changed" not in run(["dvc", "status", "train"], project).stdout
