"""The workflow runs unchanged through a non-local Snakemake executor.

workflow/profiles/cluster-generic drives snakemake-executor-plugin-cluster-generic with submit.sh,
which starts each job as its own detached process (a new session, not a child of snakemake), and
status.sh, which snakemake polls by job id. A whole pipeline run through it shows that no rule
relies on state held in one process, and its results match a local run byte for byte.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import project_env, run, set_params

PROFILE = Path("workflow/profiles/cluster-generic")
SCRIPTS = Path(__file__).resolve().parents[1] / PROFILE


def spool_jobs(project: Path) -> dict[str, dict]:
    """Each submitted job's directory: its pid, exit code and the properties of its job script."""
    jobs = {}
    for job in sorted((project / ".snakemake" / "cluster-spool").iterdir()):
        script = (job / "jobscript.sh").read_text()
        props = json.loads(re.search(r"^# properties = (.*)$", script, re.M).group(1))
        jobs[job.name] = {
            "pid": int((job / "pid").read_text()),
            "exit": (job / "exit").read_text().strip(),
            "props": props,
        }
    return jobs


@pytest.mark.integration
def test_pipeline_runs_job_by_job_as_separate_submitted_processes(
    new_project, request: pytest.FixtureRequest
) -> None:
    project = new_project()
    done = run(["snakemake", "--profile", str(PROFILE)], project, timeout=1200)
    log = done.stdout + done.stderr

    submitted = re.findall(r"Submitted (?:group )?job \S+ with external jobid '([^']+)'", log)
    jobs = spool_jobs(project)
    assert sorted(submitted) == sorted(jobs), "every job went through submit.sh, once"
    assert all(job["exit"] == "0" for job in jobs.values())
    pids = [job["pid"] for job in jobs.values()]
    assert len(set(pids)) == len(pids), "each job had a process of its own"

    # Every rule ran remotely; only the target rule `all` (no command) ran in snakemake itself.
    assert set(re.findall(r"^localrule (\w+):", log, re.M)) <= {"all"}
    rules = {j["props"]["rule"] for j in jobs.values()}
    acquire = {r for r in rules if r.startswith("acquire_")}
    assert rules - acquire == {
        "validate",
        "label",
        "features",
        "train",
        "evaluate",
        "track",
        "predict",
    }
    # Each acquire job fetched its share of the tickers in one submitted process.
    fetched = sorted(
        path
        for j in jobs.values()
        if j["props"]["rule"] in acquire
        for path in j["props"]["output"]
    )
    assert fetched == ["data/raw/sample/^GSPC.parquet", "data/raw/sample/^IXIC.parquet"]

    # the local run to compare with, asked for only now: this test's own run needs no wait
    # for another worker's build of it
    built_sample_project = request.getfixturevalue("built_sample_project")
    for rel in ("reports/metrics.json", "models/model.txt"):
        assert (project / rel).read_bytes() == (built_sample_project / rel).read_bytes(), rel
    assert json.loads((project / "reports/mlflow_run.json").read_text())["run_id"]
    assert (project / "reports/latest.csv").read_text().count("\n") >= 3

    again = run(["snakemake", "--profile", str(PROFILE)], project)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert len(spool_jobs(project)) == len(jobs), "a no-op run submits nothing"


@pytest.mark.integration
def test_each_feature_and_label_shard_is_submitted_as_a_job_of_its_own(
    tmp_path: Path, built_sample_project: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(built_sample_project, project, symlinks=True)
    set_params(project, {"features.shards": 3, "label.shards": 2})
    made = ["data/processed/features.parquet", "data/interim/labels.parquet"]
    run(["snakemake", "--profile", str(PROFILE), *made], project, timeout=600)

    jobs = list(spool_jobs(project).values())
    assert all(job["exit"] == "0" for job in jobs)
    shards = sorted(
        (j["props"]["rule"], j["props"]["wildcards"]["shard"])
        for j in jobs
        if j["props"]["rule"].endswith("_shard")
    )
    assert shards == [
        ("features_shard", "0"),
        ("features_shard", "1"),
        ("features_shard", "2"),
        ("label_shard", "0"),
        ("label_shard", "1"),
    ]
    assert sorted(
        j["props"]["rule"]
        for j in jobs
        if "wildcards" not in j["props"] or not j["props"]["wildcards"]
    ) == ["features", "label"]
    pids = [job["pid"] for job in jobs]
    assert len(set(pids)) == len(pids) == 7, "each shard and gather had a process of its own"
    for rel in made:  # the gathered files are the one-job files, byte for byte
        assert (project / rel).read_bytes() == (built_sample_project / rel).read_bytes(), rel


def _wait_for(status: list[str], project: Path, jobid: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run(
            [*status, jobid], cwd=project, capture_output=True, text=True, check=True
        ).stdout.strip()
        if state != "running" or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


@pytest.mark.parametrize(("body", "verdict"), [("exit 0", "success"), ("exit 3", "failed")])
def test_status_script_follows_a_submitted_job_to_its_exit(
    tmp_path: Path, body: str, verdict: str
) -> None:
    jobscript = tmp_path / "job.sh"
    jobscript.write_text(f"#!/bin/sh\nsleep 0.3\n{body}\n")
    env = project_env()
    submit = subprocess.run(
        ["bash", str(SCRIPTS / "submit.sh"), str(jobscript)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    jobid = submit.stdout.strip()
    assert re.fullmatch(r"job-\d+-\d+", jobid)
    status = ["bash", str(SCRIPTS / "status.sh")]
    assert _wait_for(status, tmp_path, jobid) == verdict


def test_cancel_script_stops_a_running_job(tmp_path: Path) -> None:
    jobscript = tmp_path / "job.sh"
    jobscript.write_text("#!/bin/sh\nsleep 60\n")
    jobid = subprocess.run(
        ["bash", str(SCRIPTS / "submit.sh"), str(jobscript)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    status = ["bash", str(SCRIPTS / "status.sh")]
    pid_file = tmp_path / ".snakemake" / "cluster-spool" / jobid / "pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _wait_for(status, tmp_path, jobid, timeout=0.5) == "running"
    subprocess.run(["bash", str(SCRIPTS / "cancel.sh"), jobid], cwd=tmp_path, check=True)
    assert _wait_for(status, tmp_path, jobid) == "failed"


@pytest.mark.integration
def test_slurm_profile_plans_every_job(new_project) -> None:
    project = new_project()
    done = run(["snakemake", "--profile", "workflow/profiles/slurm", "--dry-run"], project)
    log = done.stdout + done.stderr
    assert "Using profile workflow/profiles/slurm" in log
    assert re.search(r"^rule acquire_\d+:", log, re.M)
    for rule in ("validate", "label", "features", "train", "evaluate", "track", "predict"):
        assert re.search(rf"^rule {rule}:", log, re.M), rule


def test_only_the_local_profile_lifts_the_submission_rate_limit() -> None:
    # Snakemake's limiter arms a 1 s timer after each job selection that the interpreter waits
    # for at exit; a cluster queue wants the limit, this machine does not. Snakemake's own parser
    # reads "10ms" as ten minutes, so the value is checked as Snakemake reads it.
    import yaml
    from snakemake.settings.types import MaxJobsPerTimespan

    profiles = SCRIPTS.parent
    local = yaml.safe_load((profiles / "local" / "config.yaml").read_text())
    assert MaxJobsPerTimespan.parse_choice(local["max-jobs-per-timespan"]).timespan == 0
    for name in ("slurm", "cluster-generic"):
        cluster = yaml.safe_load((profiles / name / "config.yaml").read_text())
        assert "max-jobs-per-timespan" not in cluster, name
