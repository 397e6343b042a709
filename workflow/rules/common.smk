# Helpers shared by the rules. Each rule passes the params.yaml sections it reads through
# `params:`, so Snakemake reruns it when (and only when) those values change.

import datetime

from updown.dag.acquire_jobs import acquire_jobs
from updown.dag.code_deps import stage_code
from updown.dag.stage_path import SNAKEMAKE_PREFIX

# Jobs find `updown` even when snakemake was started as .venv/bin/snakemake from a plain shell.
shell.prefix(SNAKEMAKE_PREFIX)

SOURCE = config["data"]["source"]
TICKERS = config["data"]["tickers"]
RAW_DIR = f"data/raw/{SOURCE}"
ACQUIRE_JOBS = acquire_jobs(TICKERS, config["data"]["acquire_jobs"])


def section(name, exclude=()):
    """A params.yaml section, less the keys a rule must not rerun for."""
    return {k: v for k, v in config[name].items() if k not in exclude}


def acquire_data():
    """The data section acquire reruns on. `end: null` (the newest bar) stands for
    the current UTC day (hour, for 1h bars): a new day reruns acquire once."""
    data = section("data", exclude=["tickers", "acquire_jobs"])
    if data["end"] is None:
        now = datetime.datetime.now(datetime.timezone.utc)
        hour = "T%H" if data["interval"] == "1h" else ""
        data["end"] = now.strftime(f"newest on %Y-%m-%d{hour}")
    return data


def label_entry_source():
    """What label reads beyond its section: `label.entry: auto` is the backtest's execution
    point, so a change of evaluate.backtest.execution relabels. Declared whatever the entry, so
    dvc.yaml does not change with it (an explicit entry merely relabels to the same rows).
    """
    return {"backtest": {"execution": config["evaluate"]["backtest"]["execution"]}}


def shard_files(stage, folder):
    """The shard outputs a sharded stage (features.shards / label.shards > 1) gathers, in shard
    order; none for one job (see updown.learn.shards)."""
    n = config[stage]["shards"]
    return [f"{folder}/shard-{i}-of-{n}.parquet" for i in range(n)] if n > 1 else []


def gathered(command, stage):
    """The stage's shell line: `command` as one job, or gathering its shards (input.shards)."""
    return command + (" --gather {input.shards}" if config[stage]["shards"] > 1 else "")


def scaled(base, per_input_mb, ceiling=None):
    """A resource (mem_mb, or runtime in minutes) that grows with the size of the job's inputs:
    base + per_input_mb x their size in MB, times the attempt, so a retry asks for more. The
    factors fit the peak RSS and time per stage that `make bench` measures on the sample, the
    S&P folder and the 10x panel, with headroom. `ceiling` = (base, per MB) bounds a stage whose
    memory grows more slowly on large inputs (batches, capped samples). A cluster executor
    places each job by these numbers."""

    def value(wildcards, input, attempt):
        amount = base + per_input_mb * input.size_mb
        if ceiling is not None:
            amount = min(amount, ceiling[0] + ceiling[1] * input.size_mb)
        return max(1, int(amount * attempt))

    return value


def code(command):
    """The files `updown <command>` runs (its imports inside the package, derived from the
    source by updown.dag.code_deps) and the lock file that pins every library under them: an
    edit to either reruns the stage, and what follows it. Snakemake's own `code` trigger only
    sees the shell line, not the package behind it."""
    files = [*stage_code(command), "requirements.lock"]
    # Relative to the working directory, which `--directory` moves (make run-hourly); from the
    # project folder these are the paths as written.
    return [os.path.relpath(os.path.join(workflow.basedir, f)) for f in files]
