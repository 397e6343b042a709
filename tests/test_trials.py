"""The number of configurations tried is counted in the MLflow experiment, not assumed: distinct
parameter sets on the same data snapshot and test block, this one included; another data
snapshot or test block is another count; an identical rerun or a deleted run changes nothing;
the Deflated Sharpe Ratio that follows falls as the count grows. Real MLflow sqlite stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import set_params
from test_track_results import log_as, project, runs_in  # noqa: F401  (project: a fixture)
from updown.assess.header import compose_report
from updown.serve.trials import (
    CONFIG_TAG,
    DATA_TAG,
    SHARPE_METRIC,
    TEST_BLOCK_TAG,
    config_sha256,
    count_trials,
)

BLOCK = ("2017-01-03T05:00:00+00:00", "2018-12-28T05:00:00+00:00")


def test_the_configuration_is_the_params_that_can_change_the_result() -> None:
    base = {"train.learning_rate": "0.05", "label.horizon": "1", "mlflow.experiment": "updown",
            "predict.history_bars": "300"}  # fmt: skip
    same = config_sha256(base)
    assert same == config_sha256({**base, "mlflow.experiment": "other"})
    assert same == config_sha256({**base, "predict.history_bars": "250"})
    assert same != config_sha256({**base, "train.learning_rate": "0.1"})


def test_trials_are_counted_per_data_snapshot_and_test_block_in_a_real_store(
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("updown")

    def logged(config: str, sharpe: float, data: str = "d1", block: tuple = BLOCK) -> str:
        tags = {CONFIG_TAG: config, DATA_TAG: data, TEST_BLOCK_TAG: "/".join(block)}
        run = client.create_run(experiment, tags=tags)
        client.log_metric(run.info.run_id, SHARPE_METRIC, sharpe)
        client.set_terminated(run.info.run_id)
        return str(run.info.run_id)

    for config, sharpe in (("a", 0.01), ("b", 0.02), ("c", 0.05)):
        logged(config, sharpe)
    logged("a", 0.03)  # the same configuration again (new code): the newest Sharpe counts
    logged("z", 0.5, data="d2")  # other data
    logged("y", 0.5, block=(BLOCK[0], "2019-06-28T04:00:00+00:00"))  # other test block
    client.delete_run(logged("d", 0.04))  # deleting a run does not undo the trial

    mine = count_trials(client, experiment, "d1", BLOCK, "e", 0.07)
    assert mine.count == 5
    assert mine.sharpes == (0.02, 0.03, 0.04, 0.05, 0.07)
    again = count_trials(client, experiment, "d1", BLOCK, "a", 0.03)  # one of them, rerun
    assert again.count == 4 and again.sharpes == (0.02, 0.03, 0.04, 0.05)
    assert count_trials(client, experiment, "d2", BLOCK, "z", 0.5).count == 1
    assert count_trials(client, experiment, "d3", BLOCK, "new", None).sharpes == ()


def with_moments(p: Path, sharpe: float) -> None:
    """metrics.json as evaluate writes it with the backtests' per-bar moments."""
    path = p / "reports/metrics.json"
    metrics = json.loads(path.read_text())
    for key, section in metrics.items():
        if key.startswith("backtest_"):
            bump = 0.0 if key == "backtest_model" else -0.02
            section |= {"sharpe_per_bar": sharpe + bump, "bars": 500, "skew": -0.3,
                        "kurtosis": 5.0, "psr": None}  # fmt: skip
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))


def logged_run(p: Path, summary: dict[str, Any]) -> Any:
    (run,) = [r for r in runs_in(p) if r.info.run_id == summary["run_id"]]
    return run


@pytest.mark.integration
def test_log_run_counts_distinct_configurations_on_the_same_data_and_deflates_by_them(
    project: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    with_moments(project, 0.08)
    first = log_as(project, "snakemake", monkeypatch)
    assert first["trials"] == 1 and first["dsr_note"] == ""
    # The last test bar whose 5-bar label (from the next open) exists.
    assert first["test_block"] == ["2017-01-03T05:00:00+00:00", "2018-12-20T05:00:00+00:00"]

    committed = yaml.safe_load((project / "params.yaml").read_text())["train"]["learning_rate"]
    set_params(project, {"train.learning_rate": committed * 2}, render_dvc=False)
    with_moments(project, 0.02)
    second = log_as(project, "snakemake", monkeypatch)
    assert second["trials"] == 2 and second["trial_sharpes_per_bar"] == [0.02, 0.08]
    assert second["changed_params"] == {
        "train.learning_rate": {
            "committed": json.dumps(committed),
            "now": json.dumps(committed * 2),
        }
    }
    set_params(project, {"train.num_leaves": 7}, render_dvc=False)
    with_moments(project, 0.08)
    third = log_as(project, "snakemake", monkeypatch)
    assert third["trials"] == 3
    # the same Sharpe as the first, deflated by three trials instead of one
    assert third["dsr_model"] < first["dsr_model"]
    assert third["dsr_majority"] is not None
    # an identical rerun links to its run and counts nothing new
    again = log_as(project, "dvc", monkeypatch)
    assert again == third and len(runs_in(project)) == 3

    run = logged_run(project, third)
    assert run.data.metrics["trials"] == 3.0
    assert run.data.metrics["dsr_model"] == pytest.approx(third["dsr_model"])
    assert run.data.metrics[SHARPE_METRIC] == 0.08
    # the run's description says it in words
    assert "After 3 configurations on this data" in run.data.tags["mlflow.note.content"]
    # the page logged to the run is the page the stage writes, header included
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    logged_page = Path(client.download_artifacts(third["run_id"], "report.html")).read_text()
    metrics = json.loads((project / "reports/metrics.json").read_text())
    body = (project / "reports/evaluation.html").read_text()
    assert logged_page == compose_report(body, third, metrics, "1d")
    assert third["run_id"] in logged_page and "After 3 configurations on this data" in logged_page

    # other data (the first bar of each ticker gone): a count of its own
    prices_path = project / "data/interim/prices.parquet"
    prices = pd.read_parquet(prices_path)
    prices.groupby("ticker").tail(len(prices) // 2 - 1).to_parquet(prices_path)
    other = log_as(project, "snakemake", monkeypatch)
    assert other["trials"] == 1 and other["data_sha256"] != third["data_sha256"]
