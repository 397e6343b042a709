"""Where a run's result came from: the git commit and state of the project, the committed
params.yaml (the baseline a run's name lists changes against) and the orchestrator."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirtiness of the project's repo (MLflow's own tag follows the entry script)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": "true" if dirty else "false"}


def committed_params(root: Path, params_file: Path) -> dict[str, Any] | None:
    """params.yaml as committed (git HEAD), the baseline a run name lists changes against;
    None outside a repo or when it is not committed."""
    try:
        text = _git(root, "show", f"HEAD:./{params_file.resolve().relative_to(root.resolve())}")
        tree = yaml.safe_load(text) if text is not None else None
    except (ValueError, yaml.YAMLError):
        return None
    return tree if isinstance(tree, dict) else None


def orchestrator() -> str:
    """dvc when DVC runs the stage (it sets DVC_STAGE), else $UPDOWN_ORCHESTRATOR (the
    Snakefile sets snakemake), else manual."""
    if os.environ.get("DVC_STAGE"):
        return "dvc"
    return os.environ.get("UPDOWN_ORCHESTRATOR", "manual")
