"""One configuration of a sweep run by the real pipeline, in a folder of its own.

The folder holds the configuration's params.yaml and links to the project's Snakefile, workflow
and lock file, so Snakemake runs the same rules and code with that configuration's values and
keeps its outputs (data, models, reports) apart; an interrupted sweep resumes, as Snakemake
skips what is up to date. Runs go to the project's MLflow store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from updown.errors import UpdownError
from updown.io import read_json, write_text
from updown.serve.store import tracking_uri

#: What a configuration's folder borrows from the project: the rules and the code they run.
LINKED = ("Snakefile", "workflow", "requirements.lock")
#: The sweep needs each configuration's metrics and MLflow run, not its latest-bar answers.
TARGET = "reports/mlflow_run.json"
#: What a new configuration's folder takes over from the one run before it (see `seed`).
SEEDED = (".snakemake", "data", "models", "reports", "logs")


@dataclass(frozen=True)
class Outcome:
    """What one configuration's pipeline left: its metrics and the MLflow run holding them."""

    folder: Path
    metrics: dict[str, Any]
    run_id: str | None


def localised(params: dict[str, Any], root: Path) -> dict[str, Any]:
    """params whose relative csv folder still points where it did from the project root."""
    csv = params["data"]["csv"]
    if not Path(csv["path"]).is_absolute():
        csv = {**csv, "path": str((root / csv["path"]).resolve())}
    return {**params, "data": {**params["data"], "csv": csv}}


def prepare(
    root: Path,
    folder: Path,
    params: dict[str, Any],
    header: str = "Written by `updown sweep`: one configuration of the sweep.",
    previous: Path | None = None,
) -> None:
    """The configuration's folder: links to the project's rules and code, and its params.yaml
    (rewritten only when it changes, so a resumed sweep finds its outputs up to date). A new
    folder starts from the outputs of `previous` (see `seed`)."""
    if previous is not None and not folder.exists():
        # Seeded beside and renamed into place: a sweep killed meanwhile finds no half copy.
        staging = folder.with_name(f".{folder.name}.seeding")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        seed(staging, previous)
        staging.rename(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = folder / name
        if not link.is_symlink():
            link.symlink_to((root / name).resolve())
    text = f"# {header}\n" + yaml.safe_dump(params, sort_keys=False)
    target = folder / "params.yaml"
    if not target.is_file() or target.read_text() != text:
        write_text(text, target)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links refused: a copy with its times
        shutil.copy2(src, dst)


def seed(folder: Path, previous: Path) -> None:
    """Start a new configuration's `folder` from the outputs of `previous`, a configuration
    already run, and from Snakemake's records of them: Snakemake then reruns only the stages
    whose params differ (train on, for a grid of train settings), so the sweep acquires,
    validates, labels and computes features once. Files keep their times. data/ is hard-linked,
    not copied: every stage writes an output to a temporary file renamed over it (updown.io),
    and Snakemake deletes an output before its job reruns, so a linked file is replaced, never
    written through; the rest is copied (Snakemake rewrites its records in place)."""
    for name in SEEDED:
        src = previous / name
        if src.is_dir():
            copy = _link_or_copy if name == "data" else shutil.copy2
            shutil.copytree(src, folder / name, symlinks=True, copy_function=copy)


def environment(root: Path, params: dict[str, Any]) -> dict[str, str]:
    """The jobs' environment: this venv's `updown` first, and the project's MLflow store."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = tracking_uri(params["mlflow"]["tracking_uri"], root)
    return env


def run_configuration(folder: Path, env: dict[str, str], cores: int, by: str = "sweep") -> Outcome:
    """Run the pipeline up to the track stage in `folder`; its log is `folder/<by>.log`."""
    log = folder / f"{by}.log"
    cmd = ["snakemake", "--cores", str(cores), "--workflow-profile", "workflow/profiles/local"]
    with log.open("w") as out:
        done = subprocess.run(
            [*cmd, TARGET], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        raise UpdownError(
            f"{by}: the pipeline failed in {folder} (exit {done.returncode}): see {log}"
        )
    run = read_json(folder / TARGET)
    return Outcome(folder, read_json(folder / "reports" / "metrics.json"), run.get("run_id"))
