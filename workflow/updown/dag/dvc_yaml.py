"""Render dvc.yaml from the Snakemake DAG, so the two orchestrators run the same stages.

Each Snakemake rule becomes one DVC stage with the same command, deps, outs and params
sections; the acquire jobs (one rule each, see acquire_jobs.py) list their tickers' files, so
DVC keeps one cache entry per ticker. A wildcard rule's jobs (the feature and label shards, see
updown.learn.shards) become one `foreach` stage over the wildcard's values. The ticker lists and
shard counts come from params.yaml: after changing data.tickers, data.acquire_jobs,
features.shards or label.shards, render again. Usage: `updown dvc-yaml` (write) or `--check`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import yaml

from updown.dag.stage_path import dvc_cmd

HEADER = "# Rendered from the Snakefile by `updown dvc-yaml`; edit the rules, not this file.\n"
# DVC's declared metrics: the headline alone (assess/headline.py), committed to git (`cache:
# false`) so `dvc metrics diff` has a baseline in a fresh clone and `dvc exp show` stays narrow.
# reports/metrics.json (every number) is a plain output: `dvc metrics show reports/metrics.json`.
METRICS = {"headline.json"}
PLOTS: list[dict[str, Any]] = [
    {
        "reports/train_curve.csv": {
            "x": "iteration",
            "y": ["train_loss", "valid_loss"],
            "title": "Loss per boosting round",
        }
    },
    {
        "reports/plots/roc.csv": {
            "x": "fpr",
            "y": ["model", "majority", "momentum", "reversal", "linear"],
            "template": "simple",
            "title": "ROC (test): true positive rate by false positive rate",
        }
    },
    {
        "reports/plots/calibration.csv": {
            "x": "predicted",
            "y": "observed",
            "template": "simple",
            "title": "Calibration (test): observed by predicted, equal-count bins",
        }
    },
    {
        "reports/plots/confusion.csv": {
            "x": "actual",
            "y": "predicted",
            "template": "confusion",
            "title": "Confusion matrix (test, model)",
        }
    },
    {
        "reports/plots/importance.csv": {
            "x": "gain",
            "y": "feature",
            "template": "bar_horizontal",
            "title": "Feature importance (gain)",
        }
    },
    {
        "reports/plots/equity.csv": {
            "x": "year",
            "y": ["model", "buy_and_hold"],
            "template": "simple",
            "title": "Equity curve (test, net of costs)",
        }
    },
    {
        "reports/plots/signal_decay.csv": {
            "x": "horizon",
            "y": ["model", "momentum", "reversal", "linear"],
            "template": "simple",
            "title": "Signal decay (test): rank IC by holding horizon",
        }
    },
    {
        "reports/plots/signal_quantiles.csv": {
            "x": "h1",
            "y": "quantile",
            "template": "bar_horizontal",
            "title": "Mean forward return by model score quantile (bp per bar held)",
        }
    },
    {
        "reports/plots/portfolios.csv": {
            "x": "sharpe",
            "y": "book",
            "template": "bar_horizontal",
            "title": "Net Sharpe per portfolio (test)",
        }
    },
    {
        "reports/plots/cost_curve.csv": {
            "x": "cost_bps",
            "y": ["model", "majority", "momentum", "reversal", "linear", "buy_and_hold"],
            "template": "simple",
            "title": "Cost curve: net Sharpe by cost in bp (test)",
        }
    },
]


def snakemake_jobs(snakefile: Path = Path("Snakefile")) -> tuple[list[Any], dict[str, Any]]:
    """Every job of the full DAG (as if all outputs were missing), and the workflow config."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:  # type: ignore[arg-type]
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            snakefile=snakefile,
            workdir=snakefile.parent,
        )
        dag_api = wf.dag(dag_settings=DAGSettings(forceall=True))
        # Snakemake has no public API for the job list; this is what `--printshellcmds` walks.
        workflow = dag_api.workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        built = workflow._build_dag()
        if asyncio.iscoroutine(built):
            asyncio.run(built)
        order = [r.name for r in workflow.rules]
        jobs = sorted(workflow.dag.jobs, key=lambda j: (order.index(j.rule.name), str(j.output)))
        return [j for j in jobs if j.shellcmd], dict(workflow.config)


def _templated(text: str, source: str) -> str:
    """Put DVC's ${data.source} back where Snakemake filled in the source."""
    for prefix in ("data/raw/", "logs/acquire/", "logs/benchmarks/acquire/"):
        text = text.replace(f"{prefix}{source}", prefix + "${data.source}")
    return text


def _keys_kept(prefix: str, value: Any, full: Any) -> list[str]:
    """The params.yaml keys a rule's param holds: the whole (sub)section, or the keys it keeps,
    nested as deep as it goes (e.g. evaluate.backtest.execution)."""
    if value == full:
        return [prefix]
    if isinstance(value, dict) and isinstance(full, dict):
        return [key for k, v in value.items() for key in _keys_kept(f"{prefix}.{k}", v, full[k])]
    return [prefix]


def _param_keys(job: Any, config: dict[str, Any]) -> list[str]:
    keys = []
    for name, value in job.params.items():
        if name not in config:  # not a params.yaml section (e.g. a path)
            continue
        keys.extend(_keys_kept(name, value, config[name]))
    return keys


def _outs(paths: list[str]) -> tuple[list[Any], list[Any]]:
    outs: list[Any] = []
    metrics: list[Any] = []
    for path in paths:
        (metrics if path in METRICS else outs).append(path)
    return outs, metrics


def stage_for(job: Any, config: dict[str, Any], ticker_files: set[str]) -> dict[str, Any]:
    """The dvc.yaml entry of one rule's job."""
    source = config["data"]["source"]
    deps: list[str] = []
    for path in job.input:
        # validate reads the raw folder: one dep on it, not one per ticker file
        dep = _templated(str(Path(path).parent) if path in ticker_files else path, source)
        if dep not in deps:
            deps.append(dep)
    outs, metrics = _outs([_templated(p, source) for p in job.output])
    # Snakemake's update() (keep the old file while the job runs, restore it if the job fails)
    # is DVC's persist: neither deletes the previous raw snapshot before a refetch.
    from snakemake.io import is_flagged

    kept = {_templated(p, source) for p in job.output if is_flagged(p, "update")}
    outs = [{o: {"persist": True}} if o in kept else o for o in outs]
    metrics = [
        {m: {"cache": False, "persist": True} if m in kept else {"cache": False}} for m in metrics
    ]
    body: dict[str, Any] = {"cmd": dvc_cmd(_templated(job.shellcmd, source))}
    if deps:
        body["deps"] = deps
    body["params"] = _param_keys(job, config)
    body["outs"] = outs
    if metrics:
        body["metrics"] = metrics
    return body


def foreach_stage(
    jobs: list[Any], config: dict[str, Any], ticker_files: set[str]
) -> dict[str, Any]:
    """One DVC `foreach` stage for the jobs of a rule with one wildcard (the shard number): each
    job's stage with the wildcard's value as ${item}, which must then be the same for all."""
    # Snakemake's Wildcards is a list of values with names: keys() are the names
    names = {k for j in jobs for k in j.wildcards.keys()}  # noqa: SIM118
    if len(names) != 1:
        rule = jobs[0].rule.name
        raise ValueError(f"rule {rule}: {len(jobs)} jobs need exactly one wildcard for foreach")
    (key,) = names
    jobs = sorted(jobs, key=lambda j: (len(j.wildcards[key]), j.wildcards[key]))
    templates = []
    for job in jobs:
        text = yaml.safe_dump(stage_for(job, config, ticker_files), sort_keys=False)
        value = re.escape(job.wildcards[key])
        templates.append(re.sub(rf"(?<![\w.]){value}(?![\w.])", "${item}", text))
    if any(t != templates[0] for t in templates):
        raise ValueError(f"rule {jobs[0].rule.name}: its jobs differ beyond {{{key}}}")
    items = [j.wildcards[key] for j in jobs]
    return {
        "foreach": [int(i) if i.isdigit() else i for i in items],
        "do": yaml.safe_load(templates[0]),
    }


def render(snakefile: Path = Path("Snakefile")) -> str:
    jobs, config = snakemake_jobs(snakefile)
    by_rule: dict[str, list[Any]] = {}
    for job in jobs:
        by_rule.setdefault(job.rule.name, []).append(job)
    ticker_files = {
        str(p) for name, js in by_rule.items() if name.startswith("acquire_") for p in js[0].output
    }
    stages = {
        name: stage_for(js[0], config, ticker_files)
        if len(js) == 1 and not js[0].wildcards
        else foreach_stage(js, config, ticker_files)
        for name, js in by_rule.items()
    }
    doc = {"stages": stages, "plots": PLOTS}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=100)


def main(check: bool, path: Path = Path("dvc.yaml")) -> int:
    text = render()
    if check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is out of date with the Snakefile: run `updown dvc-yaml`")
            return 1
        print(f"{path} is current")
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0
