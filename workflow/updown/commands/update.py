"""`updown update` (`make update`): one step of the live loop at the real clock, on the project.

The DAG's own acquire and validate rules bring the data up to the newest bar (`data.end:` empty
means the newest: acquire reruns once a day); then the loop predicts, journals and monitors,
and retrains through the DAG only when the schedule (params `retrain`) says so
(updown.live.loop). Snakemake alone would retrain on every new bar: the model's inputs change.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

import pandas as pd

from updown.config import load_params
from updown.errors import UpdownError
from updown.io import read_parquet
from updown.live.loop import Loop, step
from updown.sweep.runner import environment

log = logging.getLogger("updown")

PRICES = "data/interim/prices.parquet"


def run(a: argparse.Namespace) -> None:
    project = Path.cwd()
    params = load_params(a.params)
    if Path(a.params).resolve() != (project / "params.yaml").resolve():
        raise UpdownError("update: run it from the project folder, with its params.yaml")
    cmd = ["snakemake", "--cores", str(a.cores), "--workflow-profile", "workflow/profiles/local"]
    done = subprocess.run([*cmd, PRICES], env=environment(project, params.raw), check=False)
    if done.returncode != 0:
        raise UpdownError(f"update: acquire/validate failed (snakemake exit {done.returncode})")
    did = step(Loop(project, project, a.cores), read_parquet(PRICES), pd.Timestamp.now(tz="UTC"))
    log.info("update: %s", ", ".join(f"{k} {v}" for k, v in did.items()))
