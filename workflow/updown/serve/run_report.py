"""What the track stage adds to a result once MLflow has answered: the number of
configurations tried on the same data and test block, the Deflated Sharpe Ratios it implies,
and the lineage facts the report's header names (run, commit, data snapshot, changed params).

They go three ways: tags and metrics of the MLflow run (so later runs can count this one),
reports/mlflow_run.json (`facts`), and the header of reports/report.html (composed from those
facts by updown.assess.header.compose_report, re-exported here for the track stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from updown.assess.deflation import confidence_sentence, deflate, luck_sentence, model_sharpe
from updown.assess.header import compose_report
from updown.learn.periods import whole_test_period
from updown.redact import scrub
from updown.serve.mlflow_values import changed_params, safe_name
from updown.serve.trials import SHARPE_METRIC, config_sha256, count_trials, trial_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from updown.serve.track import Loaded

__all__ = ["TrialRecord", "compose_report", "trial_record"]
NOTE_TAG = "mlflow.note.content"  # shown as the run's description


@dataclass(frozen=True)
class TrialRecord:
    facts: dict[str, Any]  # into mlflow_run.json (and from there into the report's header)
    tags: dict[str, str]  # on a new run: its configuration and test block
    metrics: dict[str, float]  # on a new run: trials, the model's per-bar Sharpe, dsr_*


def trial_record(
    client: MlflowClient,
    experiment_id: str,
    raw: dict[str, Any],
    loaded: Loaded,
    result_params: dict[str, str],
    secrets: list[str],
) -> TrialRecord:
    """Count the configurations tried on this data and test block (this one included) and
    deflate every backtest's Sharpe ratio by that count."""
    data = loaded.hashes["prices"]
    block = whole_test_period(list(loaded.metrics.get("blocks", [])))
    config = config_sha256(result_params)
    sharpe = model_sharpe(loaded.metrics)
    trials = count_trials(client, experiment_id, data, block, config, sharpe)
    d = deflate(loaded.metrics, trials)
    dsr = {f"dsr_{safe_name(name)}": v for name, v in d.dsr.items()}
    changed = changed_params(raw, loaded.baseline) if loaded.baseline is not None else None
    if changed:
        changed = {
            k: {w: None if v is None else scrub(v, secrets) for w, v in both.items()}
            for k, both in changed.items()
        }
    facts: dict[str, Any] = {
        "git_commit": loaded.git["git_commit"],
        "git_dirty": loaded.git["git_dirty"],
        "data_sha256": data,
        "changed_params": changed,
        "trials": trials.count,
        "test_block": list(block) if block else None,
        "trial_sharpes_per_bar": list(trials.sharpes),
        **dsr,
        "dsr_note": d.note,
    }
    metrics = {"trials": float(trials.count)}
    if sharpe is not None:
        metrics[SHARPE_METRIC] = sharpe
    metrics |= {k: v for k, v in dsr.items() if v is not None and math.isfinite(v)}
    # The run's description in the UI: what the count does to the confidence in its figures.
    per_year = loaded.metrics.get("test", {}).get("periods_per_year")
    note = f"{luck_sentence(d, per_year)} {confidence_sentence(d)}"
    tags = trial_tags(config, block) | {NOTE_TAG: note}
    return TrialRecord(facts, tags, metrics)
