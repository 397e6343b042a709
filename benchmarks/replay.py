"""`make bench BENCH_ARGS="--scenarios replay-sample,replay-sp500"`: the live loop's replay.

Each scenario copies the project, sets its params and times `updown replay` over 60 daily bars
(wall time, CPU time of the whole process tree, the largest process's RSS): `replay-sample` on
the offline sample with the default schedule, `replay-sp500` on the S&P folder retraining every
20 bars. The issue's targets (60 steps under 2 minutes on the sample, under 10 on the S&P folder,
2 cores) are marked met or missed, and the replay's live figures (reports/live.json) are reported
beside the first model's test-period figures. `replay-sample` then runs the replay's audit
(updown.live.audit, as `updown replay --audit`): the issue's done-means checked on its 60-bar
journal. The copy is deleted afterwards.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

START, END = "2018-06-01", "2018-08-24"  # 60 trading days
TARGET_S = {"replay-sample": 120.0, "replay-sp500": 600.0}
AUDITED = {"replay-sample"}
SCENARIOS = tuple(TARGET_S)


def live_figures(folder: Path) -> dict[str, Any]:
    """Per model version and role: its live figures over the whole replay, and the test-period
    figures of its MLflow run it is judged against."""
    live = json.loads((folder / "reports" / "live.json").read_text())
    out = {}
    for m in live["models"]:
        judged = m["whole"]["judged"]
        out[f"{m['model_version']} {m['role']}"] = {
            "calls": m["calls"],
            "matured": m["matured"],
            **{k: {"live": v["live"], "test": v["test"]} for k, v in judged.items()},
        }
    return {"models": out, "alerts": live["alerts"]}


def audited(folder: Path) -> dict[str, Any]:
    """The replay's audit (the issue's done-means) on its folder, and what it took."""
    from updown.live.audit import audit

    began = time.perf_counter()
    checks = audit(folder)
    return {
        "ok": all(c.ok for c in checks),
        "seconds": round(time.perf_counter() - began, 1),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }


def run_scenario(
    name: str,
    workdir: Path,
    cores: int,
    copy_project: Callable[[Path], Path],
    measure: Callable[..., Any],
    env: dict[str, str],
    timeout: float,
) -> dict[str, Any]:
    """Copy the project (`copy_project` also sets the scenario's params), run the replay; the
    time, the figures and the target."""
    dest = workdir / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    project = copy_project(dest)
    cmd = ["updown", "replay", "--start", START, "--end", END, "--cores", str(cores)]
    done = measure(cmd, project, env, dest / "replay.log", timeout)
    result: dict[str, Any] = {"command": " ".join(cmd), **done.summary()}
    if done.returncode != 0:
        result["error"] = f"exit {done.returncode}: {done.output_tail[-2000:]}"
        return result
    (folder,) = (project / "replays").iterdir()
    steps = sum(1 for line in (dest / "replay.log").read_text().splitlines() if " step " in line)
    result |= {
        "steps": steps,
        "target_s": TARGET_S[name],
        "target_met": done.wall_s < TARGET_S[name],
        "live": live_figures(folder),
    }
    if name in AUDITED:
        result["audit"] = audited(folder)
    shutil.rmtree(dest)
    return result


def render(name: str, result: dict[str, Any]) -> str:
    """The scenario's lines in the bench table."""
    if "error" in result:
        return f"\n== {name}: FAILED: {result['error'][:1500]}"
    met = "met" if result["target_met"] else "MISSED"
    lines = [
        f"\n== {name}: {result['command']}",
        f"   {result['steps']} steps: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
        f"largest process {result['max_rss_mb']:.0f} MB; target {result['target_s']:.0f} s {met}",
    ]
    for model, figures in result["live"]["models"].items():
        shown = ", ".join(
            f"{k} {v['live']:.4f}" + (f" (test {v['test']:.4f})" if v["test"] is not None else "")
            for k, v in figures.items()
            if isinstance(v, dict) and v["live"] is not None
        )
        lines.append(f"   version {model}: {figures['matured']} matured calls; {shown}")
    if "audit" in result:
        done = result["audit"]
        lines.append(f"   audit ({done['seconds']:.0f} s): {'passed' if done['ok'] else 'FAILED'}")
        lines += [
            f"     {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}"
            for c in done["checks"]
        ]
    return "\n".join(lines)
