"""`updown track`: log the completed result as one MLflow run, or link to the run already
holding the same result; then write the run's record (reports/mlflow_run.json) and the report
(reports/report.html: evaluate's page with the header only the run can give: run, commit,
data snapshot, changed params, block dates, configurations tried and deflated Sharpe ratios)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from updown.config import load_params
from updown.io import read_json, write_json, write_text
from updown.serve.run_report import compose_report
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
        evaluation=Path(a.evaluation),
        plots=Path(a.plots),
        validation=Path(a.validation),
        baselines=Path(a.baselines) if a.baselines else None,
        folds=Path(a.folds) if a.folds else None,
    )
    run = log_run(params, inputs, Path.cwd())
    body = inputs.evaluation.read_text()
    page = compose_report(body, run, read_json(inputs.metrics), params.data.interval)
    write_text(page, a.report)
    write_json(run, a.out)
    log.info(
        "%s: %d configuration(s) tried on this data and test block; DSR of the model %s",
        a.report,
        run["trials"],
        run.get("dsr_model") if run.get("dsr_model") is not None else f"n/a ({run['dsr_note']})",
    )
    log.info("%s points at MLflow run %s at %s", a.out, run["run_id"], run["tracking_uri"])
    if run["run_url"]:
        log.info("view it at %s", run["run_url"])
