"""A retrain of the live loop: the real pipeline (Snakemake, up to the track stage) on the bars
up to the clock, in the loop's own folder; track registers the new version.

The loop decides when (updown.live.schedule), never Snakemake's file dates: between retrains it
acquires, predicts and monitors only. A replay's folder gets params.yaml with `data.end` at its
clock (and, with `retrain.roll_split`, the split moved on by the time since the first model); the
user's project (`updown update`) retrains with its params.yaml as written.

A retrain killed while track logged its run leaves an unfinished run whose version is already
registered; track would log the result anew under the next version number, so the version
numbers (and every later journal row) would differ from an uninterrupted loop's. Before it
reruns, the loop deletes such versions and marks their runs killed (`abandon_unfinished`).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.io import read_json
from updown.safe_yaml import read_yaml
from updown.serve.store import sqlite_path
from updown.sweep.runner import environment, prepare, run_configuration

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

HEADER = "Written by `updown replay`: the live loop's params at its clock."


def _shift(day: str, by: dt.timedelta) -> str:
    return (dt.date.fromisoformat(day) + by).isoformat()


def clock_params(
    raw: dict[str, Any], now: pd.Timestamp, anchor: pd.Timestamp | None, roll: bool
) -> dict[str, Any]:
    """The params a retrain at `now` runs with: data.end the clock's day; the split moved on by
    the days since `anchor` (the first model's clock) when `roll`."""
    out = copy.deepcopy(raw)
    out["data"]["end"] = now.tz_convert("UTC").date().isoformat()
    if roll and anchor is not None:
        by = now.tz_convert("UTC").date() - anchor.tz_convert("UTC").date()
        for key in ("train_end", "valid_end"):
            out["split"][key] = _shift(str(out["split"][key]), by)
    return out


def abandon_unfinished(client: MlflowClient, uri: str, experiment: str, name: str) -> list[str]:
    """Remove the registered versions of runs that never finished (a killed track) and mark
    those runs killed; returns the removed version numbers."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
    removed = []
    for run in runs:
        run_id = run.info.run_id
        for version in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
            removed.append(str(version.version))
            forget_version(client, uri, name, str(version.version))
        client.set_terminated(run_id, "KILLED")
        log.warning("run %s was killed while tracking: marked killed", run_id)
    return removed


def forget_version(client: MlflowClient, uri: str, name: str, version: str) -> None:
    """Delete a version that never served. MLflow keeps a deleted version's row and numbers the
    next version past it; in a SQLite store (a replay's own) the row is removed, so the rerun
    registers the same number an uninterrupted run would have."""
    client.delete_model_version(name, version)
    database = sqlite_path(uri)
    if database is None:
        return
    with sqlite3.connect(database) as db:
        for table in ("model_version_tags", "model_versions"):
            db.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", (name, int(version)))


def after_kill(folder: Path, env: dict[str, str]) -> None:
    """Clear what a killed Snakemake left in `folder` (the loop is its only runner): its lock,
    and the backups of `update()` outputs it took before a job, which a rerun would refuse to
    take again ("File exists"). The killed jobs' outputs are marked incomplete and rebuilt."""
    locks = folder / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        subprocess.run(
            ["snakemake", "--unlock", "--cores", "1"], cwd=folder, env=env, capture_output=True
        )
    shutil.rmtree(folder / ".snakemake" / "backups", ignore_errors=True)


def run_pipeline(root: Path, folder: Path, params: dict[str, Any] | None, cores: int) -> str:
    """Run the pipeline up to track in `folder` (with `params` written there first, linked to
    the project at `root`); returns the registered version ("" when none was registered)."""
    if params is not None:
        prepare(
            root, folder, params, "Written by `updown replay`: the live loop's params at its clock."
        )
    raw = params if params is not None else read_yaml(folder / "params.yaml")
    env = environment(folder, raw)
    after_kill(folder, env)
    outcome = run_configuration(folder, env, cores, by="retrain")
    run = read_json(folder / "reports" / "mlflow_run.json")
    registered = run.get("registered_model") or {}
    log.info("retrained: run %s, version %s", outcome.run_id, registered.get("version", "-"))
    return str(registered.get("version", ""))
