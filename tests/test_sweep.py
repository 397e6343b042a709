"""`updown sweep`: a grid of configurations scored on the validation block, the winner chosen by
that score alone and scored on the test block once; what the test block holds cannot change
which configuration wins."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_project, run, set_params
from updown.data.sources.sample import load_sample
from updown.errors import UpdownError
from updown.sweep.grid import apply, configurations, parse_setting
from updown.sweep.select import choose, deflated_score
from updown.sweep.summary import winner


def test_grid_is_every_combination_in_the_order_given():
    grid = configurations(["train.learning_rate=0.01,0.1", "train.num_leaves=7,31,63"])
    assert len(grid) == 6
    assert grid[0] == {"train.learning_rate": 0.01, "train.num_leaves": 7}
    assert grid[-1] == {"train.learning_rate": 0.1, "train.num_leaves": 63}


@pytest.mark.parametrize(
    ("setting", "named"),
    [("train.learning_rate", "KEY=VALUE"), ("evaluate.block=test", "evaluate.block")],
)
def test_malformed_or_reserved_settings_are_refused_by_name(setting, named):
    with pytest.raises(UpdownError, match=named):
        parse_setting(setting)


def test_an_unknown_key_or_a_value_the_schema_refuses_is_named(repo_root: Path):
    import yaml

    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    with pytest.raises(UpdownError, match=r"train\.learning_rat"):
        apply(raw, {"train.learning_rat": 0.1}, "params.yaml")
    with pytest.raises(UpdownError, match="num_leaves"):
        apply(raw, {"train.num_leaves": "many"}, "params.yaml")


def test_winner_is_the_best_validation_score_and_ties_go_to_the_first():
    assert choose([0.51, 0.55, 0.55, float("nan")], higher_is_better=True) == 1
    assert choose([0.30, 0.20, 0.25], higher_is_better=False) == 1


def test_choosing_refuses_anything_but_validation_block_figures():
    validation = {"scored_block": "validation", "headline": "roc_auc", "model": {"roc_auc": 0.6}}
    test = {**validation, "scored_block": "test"}
    assert winner([validation, validation], ["a", "b"]) == 0
    with pytest.raises(UpdownError, match="not validation-block"):
        winner([validation, test], ["a", "b"])


def test_best_of_many_is_deflated_more_than_best_of_few():
    few = deflated_score([0.50, 0.52], 1, True)
    many = deflated_score([0.50, 0.52, 0.49, 0.51, 0.50, 0.48, 0.50, 0.51], 1, True)
    assert many < few < 0.52


# -- the real pipeline ---------------------------------------------------------------------------


def _write_sample_csvs(folder: Path, perturb_after: str | None) -> None:
    """The sample's two indices as CSV files; with `perturb_after`, every price after that day
    follows another random path (OHLC kept consistent: one factor per bar)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for ticker in ("^GSPC", "^IXIC"):
        bars = load_sample(ticker)
        if perturb_after:
            later = (bars["timestamp"] > pd.Timestamp(perturb_after, tz="UTC")).to_numpy()
            factor = np.exp(np.cumsum(rng.normal(0, 0.02, later.sum())))
            for col in ("open", "high", "low", "close", "adj_close"):
                values = bars[col].to_numpy(dtype=float, copy=True)
                values[later] *= factor
                bars[col] = values
        bars.to_csv(folder / f"{ticker}.csv", index=False)


def _sweep(project: Path, data: Path) -> dict:
    set_params(
        project,
        {
            "data.source": "csv",
            "data.csv.path": str(data),
            "data.csv.pattern": "{ticker}.csv",
            "data.csv.columns": {
                c: c for c in ("timestamp", "open", "high", "low", "close", "adj_close", "volume")
            },
            # one acquire job for both tickers: 6 fewer processes over the sweeps' 6 pipelines
            "data.acquire_jobs": 1,
        },
        render_dvc=False,
    )
    run(["git", "add", "-A"], project)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "csv"], project)
    settings = ["-S", "train.early_stopping_rounds=0", "-S", "train.num_boost_round=3,60"]
    run(["updown", "sweep", *settings], project, timeout=1500)
    (summary,) = project.glob("sweeps/*/summary.json")
    ran = {
        folder.name: set(re.findall(r"^(?:local)?rule (\w+?)(?:_\d+)?:", log.read_text(), re.M))
        for log in project.glob("sweeps/*/*/sweep.log")
        for folder in [log.parent]
    }
    return json.loads(summary.read_text()) | {"stages_run": ran}


@pytest.mark.integration
def test_test_block_data_cannot_change_the_winner(tmp_path: Path):
    runs = {}
    for name, perturb in (("same", None), ("other_test_block", "2017-01-01")):
        data = tmp_path / f"{name}_csv"
        _write_sample_csvs(data, perturb)
        project = tmp_path / name
        project.mkdir()
        runs[name] = _sweep(copy_project(project), data)
    same, other = runs["same"], runs["other_test_block"]
    validation = [c["validation"] for c in same["configurations"]]
    assert len(set(validation)) == 2, "the two configurations must score differently"
    assert validation == [c["validation"] for c in other["configurations"]]
    assert same["winner"] == other["winner"]
    # The perturbation did reach the test block: the winner's test figure moved.
    assert same["winner_test"] != other["winner_test"]
    assert same["trials"] == 2 and "mlflow_parent_run" in same
    # The second configuration starts from the first one's outputs, the test run from the
    # winner's: only what their settings change reruns.
    first, second = (c["id"] for c in same["configurations"])
    assert same["stages_run"][first] >= {"acquire", "validate", "label", "features", "train"}
    assert same["stages_run"][second] == {"train", "evaluate", "track"}
    assert same["stages_run"]["final"] == {"evaluate", "track"}
    for project in (tmp_path / "same", tmp_path / "other_test_block"):
        shutil.rmtree(project / "sweeps", ignore_errors=True)
