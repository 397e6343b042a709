"""`make bench` scenario `sharded`: features and labels of the S&P folder in 4 shards each
(features.shards / label.shards, updown.learn.shards) against one job each.

On one project copy: the validated panel is built once; then `snakemake` builds the features and
labels as one job each (the unsharded baseline), the files are set aside, the shard counts set to
4 and the same targets built again: 4 shard jobs and a gather per stage. Every stage process is
metered by benchmarks/stage_meter.py (wall, CPU, peak RSS of that process alone), so the table
shows what one shard job holds (its tickers) against what one job holds (the whole panel), the
gather's cost, and whether the gathered files are the one-job files byte for byte.
"""

from __future__ import annotations

import argparse
import os
import shutil
from types import ModuleType
from typing import Any

SHARDS = 4
MADE = {"features": "data/processed/features.parquet", "label": "data/interim/labels.parquet"}


def _process(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "wall_s": round(rec["wall_s"], 3),
        "cpu_s": round(rec["cpu_s"], 3),
        "max_rss_mb": round(rec["max_rss_mb"], 1),
    }


def _by_stage(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage: the one job, or the shard jobs (by shard) and the gather."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["stage"] not in MADE:
            continue
        entry = out.setdefault(rec["stage"], {"shards": {}})
        if rec.get("shard"):
            entry["shards"][rec["shard"]] = _process(rec)
        else:
            entry["job"] = _process(rec)
    return out


def run(bench: ModuleType, args: argparse.Namespace, as_limit_mb: int | None) -> dict[str, Any]:
    """The scenario on the folder `args.sp500_dir`; `bench` is benchmarks/run.py (its Project)."""
    if not args.sp500_dir.is_dir():
        return {"skipped": f"{args.sp500_dir} is absent"}
    sc = bench.sp500_scenario(args.sp500_dir, args.sp500_tickers)
    root = args.workdir / "sharded"
    if root.exists():
        shutil.rmtree(root)
    (root / "project").mkdir(parents=True)
    project = bench.Project(
        bench.copy_project(root / "project"), args.cores, root / "logs", args.timeout, as_limit_mb
    )
    project.set_params(sc.params)
    result: dict[str, Any] = {"title": f"{sc.title}, {SHARDS} shards vs one job", "shards": SHARDS}
    result["load_before"] = [round(x, 2) for x in os.getloadavg()]
    bench.say(f"[sharded] {sc.title}: panel, then features and labels in one job, then sharded")
    project.snakemake("panel", "data/interim/prices.parquet")
    _, one = project.snakemake("one-job", *MADE.values())
    kept = root / "one-job"
    kept.mkdir()
    for stage, rel in MADE.items():
        shutil.move(project.path / rel, kept / f"{stage}.parquet")
    project.set_params({"features.shards": SHARDS, "label.shards": SHARDS})
    build, sharded = project.snakemake("sharded", *MADE.values())
    result["panel_rows"] = bench.parquet_rows(project.path / "data/interim/prices.parquet")
    result["one_job"] = {s: v["job"] for s, v in _by_stage(one).items()}
    result["sharded"] = _by_stage(sharded)
    result["sharded_build"] = build.summary()
    result["bit_equal"] = {
        stage: (project.path / rel).read_bytes() == (kept / f"{stage}.parquet").read_bytes()
        for stage, rel in MADE.items()
    }
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    shutil.rmtree(root)  # gigabytes of features; the figures are in the report
    return result


def render(sc: dict[str, Any]) -> str:
    """The scenario's lines for the printed table."""
    if "skipped" in sc or "error" in sc:
        return f"\n== sharded: {sc.get('skipped') or 'FAILED: ' + sc['error'][:1500]}"
    lines = [
        f"\n== sharded: {sc['title']} ({sc['panel_rows']:,} panel rows; load average before "
        f"{sc['load_before']}, after {sc['load_after']})",
        f"   {'stage':<10}{'job':<12}{'wall s':>10}{'cpu s':>10}{'peak RSS MB':>13}",
    ]

    def row(stage: str, job: str, p: dict[str, Any]) -> None:
        lines.append(
            f"   {stage:<10}{job:<12}{p['wall_s']:>10.2f}{p['cpu_s']:>10.2f}{p['max_rss_mb']:>13.0f}"
        )

    for stage in MADE:
        row(stage, "one job", sc["one_job"][stage])
        parts = sc["sharded"].get(stage, {})
        for shard, p in sorted(parts.get("shards", {}).items()):
            row(stage, f"shard {shard}", p)
        if "job" in parts:
            row(stage, "gather", parts["job"])
        equal = sc["bit_equal"][stage]
        lines.append(f"   {stage}: gathered file {'==' if equal else 'DIFFERS FROM'} one job's")
    return "\n".join(lines)
