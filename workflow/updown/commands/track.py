"""`updown track`: log the completed result as one MLflow run, or link to the run already
holding the same result."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from updown.config import load_params
from updown.io import write_json
from updown.serve.track import TrackInputs, log_run

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    inputs = TrackInputs(
        params_file=Path(a.params),
        model=Path(a.model),
        features=Path(a.features),
        labels=Path(a.labels),
        prices=Path(a.prices),
        metrics=Path(a.metrics),
        curve=Path(a.curve),
        report=Path(a.report),
        plots=Path(a.plots),
        validation=Path(a.validation),
        baselines=Path(a.baselines) if a.baselines else None,
        folds=Path(a.folds) if a.folds else None,
    )
    run = log_run(params, inputs, Path.cwd())
    write_json(run, a.out)
    log.info("%s points at MLflow run %s at %s", a.out, run["run_id"], run["tracking_uri"])
    if run["run_url"]:
        log.info("view it at %s", run["run_url"])
