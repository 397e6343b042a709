"""`updown sweep`: run every configuration of a grid on the validation block, choose the winner
by its validation score, score only the winner on the test block, once, and summarise."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from updown.io import write_csv, write_json, write_text
from updown.safe_yaml import read_yaml
from updown.sweep.grid import apply, config_id, configurations, sweep_id
from updown.sweep.runner import Outcome, environment, localised, prepare, run_configuration
from updown.sweep.summary import reading, render, summarise, winner
from updown.sweep.tracking import log_sweep

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    root = Path.cwd()
    raw = read_yaml(Path(a.params))
    configs = configurations(a.set or [])
    name = sweep_id(raw, configs)
    base = root / "sweeps" / name
    # Every configuration's params are checked before the first pipeline starts.
    blind = [apply(raw, {**c, "evaluate.block": "validation"}, a.params) for c in configs]
    ids = [config_id(c) for c in configs]
    env = environment(root, raw)
    candidates: list[Outcome] = []
    for k, (cid, params) in enumerate(zip(ids, blind, strict=True), start=1):
        log.info(
            "sweep %s: configuration %d/%d (%s) on the validation block", name, k, len(ids), cid
        )
        # Each starts from the last one's outputs: only what its settings change reruns.
        last = candidates[-1].folder if candidates else None
        prepare(root, base / cid, localised(params, root), previous=last)
        candidates.append(run_configuration(base / cid, env, a.cores))
    best = winner([c.metrics for c in candidates], ids)
    log.info(
        "sweep %s: winner %s by its validation score; scoring it on the test block", name, ids[best]
    )
    final_params = apply(raw, {**configs[best], "evaluate.block": "test"}, a.params)
    # From the winner's outputs: the same model, scored on the test block (evaluate on).
    prepare(root, base / "final", localised(final_params, root), previous=candidates[best].folder)
    final = run_configuration(base / "final", env, a.cores)
    summary = summarise(name, configs, ids, [c.metrics for c in candidates], final.metrics)
    page = render(summary)
    children = {c.run_id: "candidate" for c in candidates if c.run_id}
    if final.run_id:
        children[final.run_id] = "winner_test"
    summary["mlflow_parent_run"] = log_sweep(
        env["MLFLOW_TRACKING_URI"], raw["mlflow"]["experiment"], summary, page, children
    )
    write_json(summary, base / "summary.json")
    write_text(page, base / "summary.html")
    write_csv(_table(summary), base / "summary.csv")
    log.info("%s", reading(summary))
    log.info("sweep %s: %s (table %s)", name, base / "summary.html", base / "summary.csv")


def _table(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": c["id"],
                **c["settings"],
                f"validation_{summary['headline']}": c["validation"],
                "winner": c["id"] == summary["winner"],
            }
            for c in summary["configurations"]
        ]
    )
