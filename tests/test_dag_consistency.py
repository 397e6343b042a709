"""Snakefile and dvc.yaml declare the same stages, commands, inputs, outputs and params."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run, set_params

# Run inside the project so Snakemake and DVC see the same tree; prints both views as JSON.
DUMP = r"""
import json, sys
from pathlib import Path
from dvc.repo import Repo
from dvc.dependency.param import ParamsDependency
from updown.dag.dvc_yaml import snakemake_jobs
from updown.dag.stage_path import dvc_cmd

def keys(prefix, value, full):  # a (sub)section whole, or the keys it keeps, as deep as it goes
    if value == full or not isinstance(value, dict):
        return [prefix]
    return [k for name, v in value.items() for k in keys(f"{prefix}.{name}", v, full[name])]

jobs, config = snakemake_jobs(Path("Snakefile"))
snake = {}
for job in jobs:
    name = job.rule.name  # a shard job is a foreach stage's item in dvc.yaml: rule@shard
    name += f"@{job.wildcards['shard']}" if "shard" in job.wildcards.keys() else ""
    params = []
    for key, value in job.params.items():
        if key in config:
            params += keys(key, value, config[key])
    snake[name] = {"cmd": dvc_cmd(job.shellcmd), "inputs": sorted(map(str, job.input)),
                   "outputs": sorted(map(str, job.output)), "params": sorted(params)}
dvc = {}
for stage in Repo(".").index.stages:
    params = sorted(p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params)
    deps = sorted(str(d.def_path) for d in stage.deps if not isinstance(d, ParamsDependency))
    dvc[stage.addressing] = {"cmd": stage.cmd, "deps": deps,
                             "outs": sorted(str(o.def_path) for o in stage.outs), "params": params}
print(json.dumps({"snake": snake, "dvc": dvc}))
"""


def both_views(project: Path) -> tuple[dict, dict]:
    out = run(["python", "-c", DUMP], project).stdout
    views = json.loads(out.strip().splitlines()[-1])
    return views["snake"], views["dvc"]


def assert_same_dag(snake: dict, dvc: dict) -> None:
    assert sorted(snake) == sorted(dvc), "stage names differ"
    for name, job in snake.items():
        stage = dvc[name]
        assert job["cmd"] == stage["cmd"], name
        assert job["outputs"] == stage["outs"], name
        assert job["params"] == stage["params"], name
        for path in job["inputs"]:  # every Snakemake input is a DVC dep, or inside a dep folder
            assert any(path == d or path.startswith(d + "/") for d in stage["deps"]), (name, path)
        for dep in stage["deps"]:  # and no DVC dep is unknown to Snakemake
            assert any(p == dep or p.startswith(dep + "/") for p in job["inputs"]), (name, dep)


@pytest.mark.slow
def test_committed_dvc_yaml_is_rendered_from_the_current_snakefile() -> None:
    done = run(["updown", "dvc-yaml", "--check"], REPO, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_snakefile_and_dvc_yaml_declare_the_same_dag(new_project) -> None:
    project = new_project()
    snake, dvc = both_views(project)
    assert_same_dag(snake, dvc)
    # label.entry: auto follows the backtest's execution, so both orchestrators relabel on it
    assert dvc["label"]["params"] == ["evaluate.backtest.execution", "label"]


@pytest.mark.integration
def test_the_dags_agree_for_another_source_and_ticker_list(new_project) -> None:
    project = new_project()
    tickers = ["AAPL", "BRK.B", "EURUSD=X", "MSFT", "GOOG"]
    changes = {"data.source": "csv", "data.tickers": tickers, "data.acquire_jobs": 3}
    set_params(project, changes, render_dvc=False)
    # dvc.yaml lists each acquire job's tickers: a new ticker list needs a new rendering
    stale = run(["updown", "dvc-yaml", "--check"], project, check=False)
    assert stale.returncode == 1
    assert "dvc.yaml is out of date with the Snakefile: run `updown dvc-yaml`" in stale.stdout
    run(["updown", "dvc-yaml"], project)
    snake, dvc = both_views(project)
    acquire = {name: job for name, job in snake.items() if name.startswith("acquire_")}
    assert 1 < len(acquire) <= 3
    fetched = sorted(p for job in acquire.values() for p in job["outputs"])
    assert fetched == sorted(f"data/raw/csv/{t}.parquet" for t in tickers)
    assert_same_dag(snake, dvc)


@pytest.mark.integration
def test_the_dags_agree_with_features_and_labels_in_shards(new_project) -> None:
    project = new_project()
    set_params(project, {"features.shards": 3, "label.shards": 2})
    snake, dvc = both_views(project)
    assert_same_dag(snake, dvc)
    shards = sorted(name for name in dvc if "@" in name)
    assert shards == [*(f"features_shard@{i}" for i in range(3)), "label_shard@0", "label_shard@1"]
    assert dvc["features_shard@2"]["outs"] == ["data/processed/features/shard-2-of-3.parquet"]
    assert "--shard 2/3" in dvc["features_shard@2"]["cmd"]
    gather = dvc["features"]
    assert [d for d in gather["deps"] if "shard-" in d] == [
        f"data/processed/features/shard-{i}-of-3.parquet" for i in range(3)
    ]
    assert gather["outs"] == ["data/processed/features.parquet"]
    # Every features key but threads: a thread count changes no value, so it reruns nothing.
    keys = yaml.safe_load((project / "params.yaml").read_text())["features"]
    assert sorted(gather["params"]) == sorted(f"features.{k}" for k in keys if k != "threads")
    rendered = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert rendered["features_shard"]["foreach"] == [0, 1, 2]
