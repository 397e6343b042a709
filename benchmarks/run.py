"""`make bench`: where the time and memory go, on the sample, the S&P folder and a 10x panel.

For each scenario a fresh copy of the project (its git-tracked files, as a clone would have) is
built from nothing with `snakemake`, and every stage process is measured exactly: a launcher
named `updown` first on PATH (benchmarks/stage_meter.py) runs the real command and records its
wall time, CPU time and peak resident set size (wait4, no sampling). Then, on the built copy:

- the no-op rebuild time of `snakemake` and of `dvc repro` (after `dvc commit` records the
  outputs Snakemake built, which is what a finished `dvc repro` leaves behind);
- the time to add one ticker to the built panel (the ticker is first removed and its raw file
  deleted, so adding it back fetches it as a new ticker would be);
- the features stage with `features.preset: qlib14` (the 14-feature set of Qlib's data-server
  table) run alone;
- a straightforward per-ticker pandas loop computing the same indicators
  (benchmarks/baseline_pandas_loop.py) against the vectorised features code on the same panel.

Scenarios: `sample` (the offline sample), `sp500` (../shared/data/sp500-daily, 404 files) and
`synthetic` (benchmarks/synthetic.py: --synthetic-scale times the S&P rows, 10 by default, as
hourly bars of as many tickers). Results go to reports/bench.json and a table on stdout, with
the targets of issues 3, 6 and 17 marked met or missed; nothing here asserts a time. Every stage
runs under an address-space cap (--as-limit-gb), so one too big for the machine fails alone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
BIN = Path(sys.executable).parent
PROFILE = ("--workflow-profile", "workflow/profiles/local")  # what `make run` passes
SHARED_SP500 = REPO.parent / "shared" / "data" / "sp500-daily"
SP500_START, SP500_END = "1999-11-01", "2018-12-31"
GB = 1024.0  # MB per GB

sys.path.insert(0, str(BENCH))
import dask_train  # noqa: E402  (benchmarks/ is not a package)
import qlib_side  # noqa: E402
import replay  # noqa: E402
import sharded  # noqa: E402
import synthetic  # noqa: E402

# -- running and measuring -------------------------------------------------------------------


@dataclass
class Measured:
    """One command: wall time, CPU time of it and all its children, the largest process's RSS."""

    cmd: list[str]
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    returncode: int
    output_tail: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "max_rss_mb": round(self.max_rss_mb, 1),
        }


class CommandFailed(RuntimeError):
    """A command exited non-zero; carries its measurement and the stage processes it ran."""

    def __init__(self, message: str, measured: Measured, records: list[dict]) -> None:
        super().__init__(message)
        self.measured = measured
        self.records = records


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float = 3600
) -> Measured:
    """Run `cmd`, its output to `log`; wait4 gives CPU and peak RSS of its whole process tree."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        timer = threading.Timer(timeout, lambda: _kill_group(proc.pid))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: take the command's whole session down with us
            _kill_group(proc.pid)
            os.waitpid(proc.pid, 0)
            proc.returncode = -1
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting
    text = log.read_text(errors="replace")
    return Measured(
        cmd=cmd,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        output_tail=text[-3000:],
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without MLflow/DVC/updown settings that would leak into a copy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "UPDOWN_"))}
    env["PYTHONHASHSEED"] = "0"
    env.update(extra or {})
    return env


# -- a project copy --------------------------------------------------------------------------


def copy_project(dest: Path) -> Path:
    """A fresh git repository with the project's tracked and unignored files, as a clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench copy"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest


@dataclass
class Project:
    """A project copy whose `updown` calls are metered; one JSON-lines file per phase."""

    path: Path
    cores: int
    logs: Path
    timeout: float
    as_limit_mb: int | None = None
    phase_no: int = 0

    def env(self, stage_log: Path) -> dict[str, str]:
        shim = self.logs / "bin"
        if not (shim / "updown").exists():
            shim.mkdir(parents=True, exist_ok=True)
            launcher = shim / "updown"
            launcher.write_text(
                f'#!/bin/sh\nexec "{sys.executable}" -S "{BENCH / "stage_meter.py"}" "$@"\n'
            )
            launcher.chmod(0o755)
        extra = {
            "PATH": f"{shim}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "UPDOWN_BENCH_REAL": str(BIN / "updown"),
            "UPDOWN_BENCH_LOG": str(stage_log),
        }
        if self.as_limit_mb:
            extra["UPDOWN_BENCH_AS_LIMIT_MB"] = str(self.as_limit_mb)
        return clean_env(extra)

    def run(self, name: str, cmd: list[str], check: bool = True) -> tuple[Measured, list[dict]]:
        """Run `cmd` in the copy; return its measurement and the stage processes it started."""
        self.phase_no += 1
        stem = f"{self.phase_no:02d}-{name}"
        stage_log = self.logs / f"{stem}.stages.jsonl"
        stage_log.unlink(missing_ok=True)
        done = measure(cmd, self.path, self.env(stage_log), self.logs / f"{stem}.log", self.timeout)
        stages = (
            [json.loads(line) for line in stage_log.read_text().splitlines()]
            if (stage_log.exists())
            else []
        )
        if check and done.returncode != 0:
            raise CommandFailed(
                f"{' '.join(cmd)} exited {done.returncode} in {self.path} "
                f"(log: {self.logs / (stem + '.log')})\n{done.output_tail}",
                done,
                stages,
            )
        return done, stages

    def snakemake(self, name: str, *targets: str) -> tuple[Measured, list[dict]]:
        # As `make run` runs it: the same workflow profile, the cores given here.
        cmd = [str(BIN / "snakemake"), "--cores", str(self.cores), *PROFILE, *targets]
        return self.run(name, cmd)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_params(self, changes: dict[str, Any], file: str = "params.yaml") -> None:
        params = self.params()
        for dotted, value in changes.items():
            node = params
            *parents, last = dotted.split(".")
            for key in parents:
                node = node[key]
            node[last] = value
        (self.path / file).write_text(yaml.safe_dump(params, sort_keys=False))


# -- what the stages did ----------------------------------------------------------------------


def stage_table(records: list[dict], rows: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per stage: processes, wall (first start to last end), summed CPU, largest RSS, rows/s."""
    by_stage: dict[str, list[dict]] = {}
    for rec in records:
        by_stage.setdefault(rec["stage"], []).append(rec)
    table: dict[str, dict[str, Any]] = {}
    for stage, recs in by_stage.items():
        first = min(r["start"] for r in recs)
        last = max(r["start"] + r["wall_s"] for r in recs)
        span = last - first if len(recs) > 1 else recs[0]["wall_s"]
        n_rows = rows.get(stage, rows.get("panel", 0))
        table[stage] = {
            "processes": len(recs),
            "wall_s": round(span, 3),
            "wall_sum_s": round(sum(r["wall_s"] for r in recs), 3),
            "cpu_s": round(sum(r["cpu_s"] for r in recs), 3),
            "max_rss_mb": round(max(r["max_rss_mb"] for r in recs), 1),
            "rows": n_rows,
            "rows_per_s": round(n_rows / span) if span > 0 and n_rows else None,
            "failed": sum(1 for r in recs if r["exit"] != 0),
        }
    return table


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows) if path.exists() else 0


def feature_count(path: Path) -> int:
    import pyarrow.parquet as pq

    if not path.exists():
        return 0
    names = pq.read_schema(path).names
    return len([n for n in names if n not in ("ticker", "timestamp")])


def data_rows(project: Path, source: str, tickers: list[str]) -> dict[str, int]:
    raw = sum(parquet_rows(project / "data" / "raw" / source / f"{t}.parquet") for t in tickers)
    return {
        "acquire": raw,
        "panel": parquet_rows(project / "data/interim/prices.parquet"),
        "label": parquet_rows(project / "data/interim/labels.parquet"),
    }


# -- scenarios --------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    params: dict[str, Any]
    tickers: list[str]
    data_note: str = ""
    baseline: bool = True
    dvc: bool = True
    add_one_full: bool = True  # also rerun everything below the panel after adding the ticker


def sample_scenario() -> Scenario:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tickers = list(params["data"]["tickers"])
    return Scenario("sample", "offline sample (default params)", {}, tickers)


def sp500_scenario(folder: Path, limit: int | None) -> Scenario:
    tickers = sorted(p.name.removesuffix(".csv.gz") for p in folder.glob("*.csv.gz"))[:limit]
    return Scenario(
        "sp500",
        f"S&P 500 folder ({len(tickers)} files)",
        {
            "data.source": "csv",
            "data.tickers": tickers,
            "data.start": SP500_START,
            "data.end": SP500_END,
            "data.csv.path": str(folder.resolve()),
            "data.csv.pattern": "{ticker}.csv.gz",
            "validate.on_error": "drop",
        },
        tickers,
    )


def synthetic_scenario(
    out: Path, n_tickers: int, bars: int, label: str, interval: str = "1d"
) -> Scenario:
    info = synthetic.write_panel(out, n_tickers, bars, interval=interval)
    first = dt.date.fromisoformat(info["first"])
    last = dt.date.fromisoformat(info["last"])
    span = (last - first).days
    # The same 70/15/15 time split whatever the length, so every block has rows.
    train_end = first + dt.timedelta(days=int(span * 0.70))
    valid_end = first + dt.timedelta(days=int(span * 0.85))
    return Scenario(
        "synthetic",
        f"synthetic {label} ({n_tickers} tickers x up to {bars} {interval} bars)",
        {
            "data.source": "csv",
            "data.interval": interval,
            "data.tickers": info["tickers"],
            "data.start": info["first"],
            "data.end": info["last"],
            "data.csv.path": str(out.resolve()),
            "data.csv.pattern": info["pattern"],
            "split.train_end": train_end.isoformat(),
            "split.valid_end": valid_end.isoformat(),
        },
        info["tickers"],
        data_note=f"{info['rows']} rows generated by benchmarks/synthetic.py",
    )


def run_scenario(
    sc: Scenario, workdir: Path, cores: int, timeout: float, as_limit_mb: int | None
) -> dict[str, Any]:
    root = workdir / sc.name
    if root.exists():
        shutil.rmtree(root)
    (root / "project").mkdir(parents=True)
    project = Project(copy_project(root / "project"), cores, root / "logs", timeout, as_limit_mb)
    if sc.params:
        project.set_params(sc.params)
    params = project.params()
    source = params["data"]["source"]
    result: dict[str, Any] = {
        "title": sc.title,
        "tickers": len(sc.tickers),
        "note": sc.data_note,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    say(f"[{sc.name}] {sc.title}: building from nothing with snakemake --cores {cores}")

    try:
        build, records = project.snakemake("build")
    except CommandFailed as exc:  # keep what the stages that ran cost, and why it stopped
        build, records = exc.measured, exc.records
        result["error"] = str(exc)
    rows = data_rows(project.path, source, sc.tickers)
    features_path = project.path / "data/processed/features.parquet"
    result.update(
        raw_rows=rows["acquire"],
        panel_rows=rows["panel"],
        features=feature_count(features_path),
        features_file_mb=round(features_path.stat().st_size / 2**20, 1)
        if features_path.exists()
        else None,
        end_to_end={**build.summary(), "stage_processes": len(records)},
        stages=stage_table(records, rows),
    )
    if "error" in result:
        say(f"[{sc.name}] FAILED after {build.wall_s:.1f} s: {result['error'][:2000]}")
        return result
    say(f"[{sc.name}] end to end {build.wall_s:.1f} s; {rows['panel']} panel rows")

    noops = [project.snakemake(f"noop-{i}") for i in range(2)]
    result["noop_snakemake"] = {
        "wall_s": [round(m.wall_s, 3) for m, _ in noops],
        "stage_processes": sum(len(r) for _, r in noops),
    }

    result["features_qlib14"] = qlib14_run(project)

    if sc.baseline:
        result["baseline"] = baseline_run(project)

    result["add_one_ticker"] = add_one_ticker(project, sc, source)

    # Last, because `dvc commit` rewrites outputs with new mtimes, which Snakemake would see.
    if sc.dvc:
        # Hard links: recording gigabytes of outputs in the cache need not copy them.
        subprocess.run(
            [str(BIN / "dvc"), "config", "--local", "cache.type", "hardlink,copy"],
            cwd=project.path,
            env=clean_env(),
            check=True,
            capture_output=True,
        )
        # dvc.yaml lists each acquire stage's tickers: render it for this scenario's list.
        project.run("dvc-yaml", [str(BIN / "updown"), "dvc-yaml"])
        commit, _ = project.run("dvc-commit", [str(BIN / "dvc"), "commit", "--force", "--quiet"])
        repro, repro_stages = project.run("dvc-noop", [str(BIN / "dvc"), "repro"])
        result["dvc"] = {
            "commit_s": round(commit.wall_s, 3),
            "noop_repro_s": round(repro.wall_s, 3),
            "noop_stage_processes": len(repro_stages),
        }
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    say(
        f"[{sc.name}] no-op snakemake {min(result['noop_snakemake']['wall_s']):.2f} s; "
        f"add one ticker to the panel {result['add_one_ticker']['panel']['wall_s']:.1f} s"
    )
    return result


def add_one_ticker(project: Project, sc: Scenario, source: str) -> dict[str, Any]:
    """Take the last ticker out (params and raw file) and rebuild the panel; then add it back as
    a new ticker: the panel update (its acquire + validate) and, if asked, the rest below it."""
    held_out = sc.tickers[-1]
    panel = "data/interim/prices.parquet"
    project.set_params({"data.tickers": [t for t in sc.tickers if t != held_out]})
    (project.path / "data" / "raw" / source / f"{held_out}.parquet").unlink(missing_ok=True)
    removed, _ = project.snakemake("remove-one", panel)
    project.set_params({"data.tickers": sc.tickers})
    added, added_records = project.snakemake("add-one-panel", panel)
    out: dict[str, Any] = {
        "ticker": held_out,
        "panel": {**added.summary(), "stages_run": _counts(added_records)},
        "removing_it_first_s": round(removed.wall_s, 3),
    }
    if sc.add_one_full:
        rest, rest_records = project.snakemake("add-one-rest")
        out["rest"] = {**rest.summary(), "stages_run": _counts(rest_records)}
        out["total_s"] = round(added.wall_s + rest.wall_s, 3)
    return out


def _counts(records: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in records:
        out[rec["stage"]] = out.get(rec["stage"], 0) + 1
    return out


def qlib14_run(project: Project) -> dict[str, Any]:
    """The features stage alone with features.preset: qlib14, on the built price panel."""
    if "preset" not in project.params().get("features", {}):
        return {"error": ["params.yaml has no features.preset (no qlib14 subset to select)"]}
    project.set_params({"features.preset": "qlib14"}, file="params.qlib14.yaml")
    out = project.path / "data/processed/features.qlib14.parquet"
    cmd = [
        "updown",
        "features",
        "--params",
        "params.qlib14.yaml",
        "--prices",
        "data/interim/prices.parquet",
        "--out",
        str(out.relative_to(project.path)),
    ]
    done, records = project.run("features-qlib14", cmd, check=False)
    if done.returncode != 0:
        return {"error": done.output_tail.strip().splitlines()[-1:]}
    rec = records[0]
    result = {
        "wall_s": round(rec["wall_s"], 3),
        "cpu_s": round(rec["cpu_s"], 3),
        "max_rss_mb": round(rec["max_rss_mb"], 1),
        "features": feature_count(out),
        "rows": parquet_rows(out),
    }
    out.unlink(missing_ok=True)
    return result


def baseline_run(project: Project) -> dict[str, Any]:
    """The per-ticker pandas loop and the vectorised code on the same panel, each its own process."""
    script = BENCH / "baseline_pandas_loop.py"
    common = ["--prices", "data/interim/prices.parquet", "--params", "params.yaml"]
    out: dict[str, Any] = {}
    for mode in ("loop", "vectorised"):
        report = project.logs / f"baseline-{mode}.json"
        cmd = [sys.executable, str(script), "--mode", mode, *common, "--json", str(report)]
        if mode == "loop":
            cmd += ["--check", "data/processed/features.parquet"]
        done, _ = project.run(f"baseline-{mode}", cmd, check=False)
        if done.returncode != 0:
            out[mode] = {"error": done.output_tail.strip().splitlines()[-3:]}
            continue
        out[mode] = {**json.loads(report.read_text()), "process": done.summary()}
    if "compute_s" in out.get("loop", {}) and "compute_s" in out.get("vectorised", {}):
        out["ratio_compute"] = round(out["loop"]["compute_s"] / out["vectorised"]["compute_s"], 2)
        out["ratio_process_wall"] = round(
            out["loop"]["process"]["wall_s"] / out["vectorised"]["process"]["wall_s"], 2
        )
    return out


# -- targets, growth and the printed table ----------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3, 6 and 17 targets on 2 cores: printed as met or missed, never asserted."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, unit: str) -> None:
        if value is not None:
            out.append(
                {
                    "target": name,
                    "value": round(value, 3),
                    "limit": limit,
                    "unit": unit,
                    "met": bool(value < limit),
                }
            )

    sample = results.get("sample", {})
    if "end_to_end" in sample:
        add("sample end to end (snakemake)", sample["end_to_end"]["wall_s"], 20, "s")
    for name in ("sample", "sp500"):
        sc = results.get(name, {})
        if "noop_snakemake" in sc:
            add(f"{name} no-op snakemake", min(sc["noop_snakemake"]["wall_s"]), 2, "s")
        if "dvc" in sc:
            add(f"{name} no-op dvc repro", sc["dvc"]["noop_repro_s"], 2, "s")
    sp = results.get("sp500", {})
    if "end_to_end" in sp:
        add("S&P end to end (snakemake)", sp["end_to_end"]["wall_s"], 120, "s")
        # Issue 17: faster than Qlib, on the same folder.
        add("S&P end to end, issue 17 (snakemake)", sp["end_to_end"]["wall_s"], 60, "s")
        add("S&P largest stage peak RSS", _max_stage_rss(sp) / GB, 4, "GB")
        feat = sp["stages"].get("features", {})
        if feat:
            add(
                f"S&P features stage ({sp['features']} features; >= 100 wanted)",
                feat["wall_s"],
                30,
                "s",
            )
            add("S&P features stage, issue 17 (4x Qlib's build per row)", feat["wall_s"], 15, "s")
            add("S&P features stage peak RSS", feat["max_rss_mb"] / GB, 4, "GB")
        q = sp.get("features_qlib14", {})
        if "wall_s" in q:
            add(f"S&P features qlib14 ({q['features']} features)", q["wall_s"], 5, "s")
    for name in replay.SCENARIOS:
        if "target_met" in results.get(name, {}):
            add(f"{name}: 60 steps", results[name]["wall_s"], replay.TARGET_S[name], "s")
    syn = results.get("synthetic", {})
    if "stages" in syn:
        add("10x largest stage peak RSS", _max_stage_rss(syn) / GB, 16, "GB")
        failed = 1.0 if "error" in syn else 0.0
        add("10x pipeline failures (finishes on this machine)", failed, 1, "")
    return out


def _max_stage_rss(sc: dict[str, Any]) -> float:
    return max((s["max_rss_mb"] for s in sc["stages"].values()), default=0.0)


def growth(small: dict[str, Any], big: dict[str, Any]) -> dict[str, Any]:
    """How each figure grows from the S&P run to the 10x run, beside how the rows grew."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(b / a, 2) if a and b is not None else None

    def get(sc: dict[str, Any], *keys: str) -> Any:
        for key in keys:
            sc = sc.get(key) if isinstance(sc, dict) else None
        return sc

    out: dict[str, Any] = {
        "rows": ratio(small.get("panel_rows"), big.get("panel_rows")),
        "tickers": ratio(small.get("tickers"), big.get("tickers")),
        "features_file": ratio(small.get("features_file_mb"), big.get("features_file_mb")),
        "end_to_end_wall": ratio(
            get(small, "end_to_end", "wall_s"), get(big, "end_to_end", "wall_s")
        ),
        "end_to_end_cpu": ratio(get(small, "end_to_end", "cpu_s"), get(big, "end_to_end", "cpu_s")),
        "noop_snakemake": ratio(
            min(small["noop_snakemake"]["wall_s"]), min(big["noop_snakemake"]["wall_s"])
        ),
        "noop_dvc_repro": ratio(get(small, "dvc", "noop_repro_s"), get(big, "dvc", "noop_repro_s")),
        "add_one_ticker_panel": ratio(
            get(small, "add_one_ticker", "panel", "wall_s"),
            get(big, "add_one_ticker", "panel", "wall_s"),
        ),
        "features_qlib14": ratio(
            get(small, "features_qlib14", "wall_s"), get(big, "features_qlib14", "wall_s")
        ),
    }
    stages: dict[str, Any] = {}
    for stage, s in small["stages"].items():
        b = big["stages"].get(stage)
        if b:
            stages[stage] = {
                "wall": ratio(s["wall_s"], b["wall_s"]),
                "cpu": ratio(s["cpu_s"], b["cpu_s"]),
                "max_rss": ratio(s["max_rss_mb"], b["max_rss_mb"]),
            }
    out["stages"] = stages
    bs, bb = small.get("baseline", {}), big.get("baseline", {})
    if "ratio_compute" in bs and "ratio_compute" in bb:
        out["baseline_ratio"] = {"1x": bs["ratio_compute"], "10x": bb["ratio_compute"]}
    return out


def say(text: str) -> None:
    print(text, flush=True)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    for name, sc in report["scenarios"].items():
        if name in replay.SCENARIOS:
            add(replay.render(name, sc))
            continue
        if "error" in sc and "stages" not in sc:
            add(f"\n== {name}: FAILED: {sc['error'][:1500]}")
            continue
        add(
            f"\n== {name}: {sc['title']} (load average before {sc['load_before']}, after "
            f"{sc.get('load_after', '-')})"
        )
        add(
            f"   {sc['tickers']:,} tickers, {sc['raw_rows']:,} raw rows, {sc['panel_rows']:,} "
            f"panel rows, {sc['features']} features ({sc['features_file_mb']} MB)"
            + (f"; {sc['note']}" if sc.get("note") else "")
        )
        add(
            f"   {'stage':<10}{'procs':>7}{'wall s':>10}{'cpu s':>10}{'peak RSS MB':>13}"
            f"{'rows/s':>14}"
        )
        for stage, s in sc["stages"].items():
            failed = f"  ({s['failed']} FAILED)" if s.get("failed") else ""
            add(
                f"   {stage:<10}{s['processes']:>7}{fmt(s['wall_s'], 2):>10}{fmt(s['cpu_s'], 2):>10}"
                f"{fmt(s['max_rss_mb']):>13}{fmt(s['rows_per_s']):>14}{failed}"
            )
        e2e = sc["end_to_end"]
        add(
            f"   end to end (snakemake --cores {report['cores']}): {e2e['wall_s']:.2f} s wall, "
            f"{e2e['cpu_s']:.1f} s CPU, largest process {e2e['max_rss_mb']:.0f} MB"
        )
        if "error" in sc:
            add(f"   FAILED: {sc['error'][:1500]}")
            continue
        add(
            f"   no-op snakemake: {', '.join(f'{v:.2f}' for v in sc['noop_snakemake']['wall_s'])} s"
            f" ({sc['noop_snakemake']['stage_processes']} stages ran)"
        )
        if "dvc" in sc:
            d = sc["dvc"]
            add(
                f"   no-op dvc repro: {d['noop_repro_s']:.2f} s ({d['noop_stage_processes']} stages"
                f" ran; dvc commit of the built outputs took {d['commit_s']:.1f} s)"
            )
        q = sc.get("features_qlib14", {})
        if "wall_s" in q:
            add(
                f"   features stage with the qlib14 preset: {q['features']} features, "
                f"{q['wall_s']:.2f} s, {q['cpu_s']:.2f} s CPU, {q['max_rss_mb']:.0f} MB"
            )
        elif q:
            add(f"   features qlib14 preset: failed: {q.get('error')}")
        b = sc.get("baseline", {})
        if "ratio_compute" in b:
            lo, ve = b["loop"], b["vectorised"]
            add(
                f"   per-ticker pandas loop vs vectorised, same {lo['columns']} indicators: "
                f"{lo['compute_s']:.2f} s vs {ve['compute_s']:.2f} s compute = "
                f"{b['ratio_compute']:.1f}x ({lo['cpu_s']:.1f} vs {ve['cpu_s']:.1f} s CPU; whole "
                f"processes {b['ratio_process_wall']:.1f}x; {lo['check']})"
            )
        elif b:
            add(f"   baseline: failed: {b}")
        a = sc["add_one_ticker"]
        add(
            f"   add one ticker ({a['ticker']}) to the built panel: {a['panel']['wall_s']:.2f} s, "
            f"stages run {a['panel']['stages_run']}"
        )
        if "rest" in a and not a["rest"]["stages_run"]:
            add(
                f"   ... nothing below the panel reran ({a['rest']['wall_s']:.2f} s): the rebuilt "
                "panel is byte for byte the one they were built from, which Snakemake checks "
                "by checksum for files under 1 MB"
            )
        elif "rest" in a:
            add(
                f"   ... and everything below the panel: {a['rest']['wall_s']:.2f} s more "
                f"({a['total_s']:.2f} s in all), stages run {a['rest']['stages_run']}"
            )
    if report.get("growth_10x"):
        g = report["growth_10x"]
        add(
            f"\n== growth S&P -> 10x synthetic (rows x{g['rows']}, tickers x{g['tickers']}; "
            "linear in rows is the goal)"
        )
        add(
            f"   end to end wall x{g['end_to_end_wall']}, CPU x{g['end_to_end_cpu']}; no-op "
            f"snakemake x{g['noop_snakemake']}; no-op dvc x{g['noop_dvc_repro']}; add one "
            f"ticker to the panel x{g['add_one_ticker_panel']}; qlib14 features "
            f"x{g['features_qlib14']}; features file x{g['features_file']}"
        )
        for stage, s in g["stages"].items():
            add(f"   {stage:<10} wall x{s['wall']}, cpu x{s['cpu']}, peak RSS x{s['max_rss']}")
        if "baseline_ratio" in g:
            add(
                f"   loop/vectorised ratio: {g['baseline_ratio']['1x']}x at 1x, "
                f"{g['baseline_ratio']['10x']}x at 10x"
            )
    lines += qlib_side.render(report.get("qlib"))
    add("\n== targets (2 cores; printed, never asserted)")
    for t in report["targets"]:
        mark = "met   " if t["met"] else "MISSED"
        add(f"   {mark} {t['target']}: {t['value']} {t['unit']} (< {t['limit']} {t['unit']})")
    add(f"\nbench took {report['seconds']:.0f} s; written to {report['written_to']}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    mem_gb = None
    with contextlib.suppress(OSError, ValueError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpus": os.cpu_count(),
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            p: version(p) for p in ("snakemake", "dvc", "pandas", "numpy", "pyarrow", "lightgbm")
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default="sample,sp500,qlib,synthetic,sharded,dask",
        help="comma-separated: sample, sp500, qlib, synthetic, sharded (benchmarks/sharded.py), "
        "dask (benchmarks/dask_train.py), replay-sample, replay-sp500 (benchmarks/replay.py)",
    )
    parser.add_argument("--qlib-fit", action="store_true", help="qlib: also Qlib's LightGBM fit")
    parser.add_argument("--cores", type=int, default=int(os.environ.get("CORES", 2)))
    parser.add_argument("--sp500-dir", type=Path, default=SHARED_SP500)
    parser.add_argument("--sp500-tickers", type=int, default=None, help="first N files only")
    parser.add_argument(
        "--synthetic-scale",
        type=float,
        default=10.0,
        help="synthetic rows as a multiple of the S&P raw rows",
    )
    parser.add_argument(
        "--synthetic-ticker-factor",
        type=float,
        default=1.0,
        help="synthetic tickers as a multiple of the S&P tickers (the rest of "
        "the scale comes from longer histories)",
    )
    parser.add_argument(
        "--synthetic-interval",
        choices=["1h", "1d"],
        default="1h",
        help="bars of the synthetic panel: hourly (seven a day) or daily",
    )
    parser.add_argument(
        "--synthetic-tickers",
        type=int,
        default=None,
        help="exact number of synthetic tickers (with --synthetic-bars)",
    )
    parser.add_argument(
        "--synthetic-bars", type=int, default=None, help="exact number of bars per synthetic ticker"
    )
    parser.add_argument(
        "--synthetic-baseline",
        action="store_true",
        help="also run the per-ticker loop on the synthetic panel (needs about "
        "twice the memory of the features stage)",
    )
    parser.add_argument("--dask-rows", type=int, default=dask_train.DEFAULT_ROWS)
    parser.add_argument("--dask-features", type=int, default=dask_train.DEFAULT_FEATURES)
    parser.add_argument("--no-dvc", action="store_true", help="skip the dvc no-op measurement")
    parser.add_argument(
        "--add-one-full",
        action="store_true",
        help="after adding a ticker to the S&P and synthetic panels, also time the rerun of every "
        "stage below the panel (the sample always does; elsewhere it is about the end-to-end "
        "time less acquire, so off by default to keep the bench short)",
    )
    parser.add_argument(
        "--as-limit-gb",
        type=float,
        default=_default_as_limit_gb(),
        help="address-space cap per stage process (0: none), so a stage too big "
        "for the machine fails alone",
    )
    parser.add_argument("--workdir", type=Path, default=BENCH / "out")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "bench.json")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    args = parser.parse_args(argv)

    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, _interrupt)
    as_limit_mb = int(args.as_limit_gb * 1024) or None
    t0 = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": args.cores,
        "machine": machine(),
        "stage_address_space_cap_gb": args.as_limit_gb or None,
        "scenarios": {},
    }
    results = report["scenarios"]
    for name in wanted:
        try:
            if name == "qlib":  # benchmarks/qlib_side.py: Qlib's Alpha158 build on the S&P folder
                dates = {"start": SP500_START, "end": SP500_END, **_split_dates()}
                where = (args.sp500_dir, args.workdir, dates, measure)
                report["qlib"] = qlib_side.run(*where, args.qlib_fit, args.cores, args.timeout)
                continue
            if name == "sample":
                sc = sample_scenario()
            elif name == "sp500":
                if not args.sp500_dir.is_dir():
                    say(f"[sp500] skipped: {args.sp500_dir} is absent")
                    continue
                sc = sp500_scenario(args.sp500_dir, args.sp500_tickers)
                sc.add_one_full = args.add_one_full
            elif name == "dask":
                report["dask_train"] = dask_train.run(
                    args.workdir, args.dask_rows, args.dask_features
                )
                continue
            elif name in replay.SCENARIOS:  # benchmarks/replay.py: the live loop's replay
                changes = sp500_scenario(args.sp500_dir, None).params if "sp500" in name else {}

                def copy(dest: Path, c: dict[str, Any] = changes) -> Path:
                    Project(copy_project(dest), args.cores, dest, args.timeout).set_params(c)
                    return dest

                path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
                results[name] = replay.run_scenario(
                    name, args.workdir, args.cores, copy, measure, clean_env({"PATH": path}),
                    args.timeout,
                )  # fmt: skip
                continue
            elif name == "synthetic":
                sc = _synthetic_from_args(args, results)
                sc.baseline = args.synthetic_baseline
                sc.add_one_full = args.add_one_full
            elif name == "sharded":  # benchmarks/sharded.py: its own report and lines
                report["sharded"] = sharded.run(sys.modules[__name__], args, as_limit_mb)
                continue
            else:
                parser.error(f"unknown scenario {name!r}")
            sc.dvc = sc.dvc and not args.no_dvc
            results[name] = run_scenario(sc, args.workdir, args.cores, args.timeout, as_limit_mb)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            results[name] = {"error": str(exc)}
            say(f"[{name}] FAILED: {exc}")
    if (
        "sp500" in results
        and "synthetic" in results
        and "error" not in results["sp500"]
        and ("error" not in results["synthetic"])
    ):
        report["growth_10x"] = growth(results["sp500"], results["synthetic"])
    if "qlib" in report:
        report["qlib"]["vs_updown"] = qlib_side.compare(report["qlib"], results.get("sp500"))
    report["targets"] = targets(results) + qlib_side.targets(report.get("qlib"))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["written_to"] = str(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    tmp.replace(args.out)
    say(render(report) + "\n".join(dask_train.render(report.get("dask_train", {}))))
    if "sharded" in report:
        say(sharded.render(report["sharded"]))
    return 1 if any("error" in r for r in results.values()) else 0


def _synthetic_from_args(args: argparse.Namespace, results: dict[str, Any]) -> Scenario:
    """Size the synthetic panel: `scale` times the S&P raw rows, from `ticker_factor` times its
    tickers (by default as many) with histories long enough for the rest: by default hourly bars,
    the other way users grow."""
    sp = results.get("sp500", {})
    base_tickers = sp.get("tickers") or 404
    base_rows = sp.get("raw_rows") or 1_700_000
    if args.synthetic_tickers and args.synthetic_bars:
        tickers, bars, label = args.synthetic_tickers, args.synthetic_bars, "custom"
    else:
        tickers = max(2, round(args.synthetic_ticker_factor * base_tickers))
        # About a third of the tickers list late and lose an eighth of their bars on average.
        bars = math.ceil(args.synthetic_scale * base_rows / (tickers * (1 - 1 / 24)))
        label = f"{args.synthetic_scale:g}x the S&P rows"
    data = args.workdir / "synthetic-data"
    if data.exists():
        shutil.rmtree(data)
    return synthetic_scenario(data, tickers, bars, label, args.synthetic_interval)


def _split_dates() -> dict[str, str]:
    split = yaml.safe_load((REPO / "params.yaml").read_text())["split"]
    return {"train_end": split["train_end"], "valid_end": split["valid_end"]}


def _default_as_limit_gb() -> float:
    """Most of the machine's memory, at most 22 GB: the 16 GB target plus the address space a
    process reserves beyond what it touches (allocator arenas, thread stacks), a few GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        return 0.0
    return round(min(22.0, 0.92 * total), 1)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
