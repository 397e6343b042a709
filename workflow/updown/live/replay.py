"""The replay: the live loop (updown.live.loop) stepped by a simulated clock over history.

The clock visits every bar of the source between --start and --end (daily bars, csv or sample
source). The source is read once; at each step it is cut at the clock (updown.data.clock.up_to)
to the bars a live loop would have had, and only the last bars the step needs are validated, so
a step costs the same late in a long history as early: the scored bars' window
(predict.history_bars, at least validate.min_rows) before --start, and the bars since.

A replay works in its own folder (`replays/<name>/`, git-ignored): its params.yaml (the user's,
with data.end at the clock, the registry on, paths pointing where they did), its pipeline
outputs, MLflow store and journal. The first model is trained on the bars up to --start. The
loop's ledger makes a killed replay resume: rerun the same command.

A csv source is copied once into the replay's folder as Parquet (`source/`, the files' tables as
read, their timestamps parsed), and the replay's params point data.csv there: each retrain's
acquire (the pipeline's own stage) then reads the copy, which gives the same bars as the CSV
files in a fraction of the time (the S&P folder: about 9 s of CPU down to 2). Acquire runs as
at most `--cores` jobs: each is a process whose start-up costs more than its share of files.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from updown.config import CsvConfig, Params, build_params
from updown.data.clock import up_to
from updown.data.sources import get_fetch
from updown.data.sources.csv_folder import read_table, source_file
from updown.data.sources.normalise import to_utc_timestamps
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.io import write_parquet, write_text
from updown.live.loop import STEP, Loop, loop_ledger, step
from updown.live.retrain import HEADER, clock_params
from updown.safe_yaml import read_yaml
from updown.sweep.runner import localised, prepare

log = logging.getLogger(__name__)

REPLAYS = "replays"
SOURCE, COPIED = "source", ".copied"  # the csv source's copy; written last, once it is whole
#: The registered model a replay uses when params.yaml names none.
DEFAULT_MODEL = "updown"


def replay_name(raw: dict[str, Any], start: dt.date, end: dt.date) -> str:
    """A replay's folder name: its dates and a digest of the params it starts from, so the same
    command resumes the same replay and changed params start another."""
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"{start}_{end}_{digest[:8]}"


def replay_folder(project: Path, start: dt.date, end: dt.date, name: str | None) -> Path:
    """Where the replay of `project`'s params.yaml from `start` to `end` works."""
    user = read_yaml(project / "params.yaml")
    return project / REPLAYS / (name or replay_name(user, start, end))


def replay_params(raw: dict[str, Any], folder: Path, project: Path) -> dict[str, Any]:
    """The user's params as a replay in `folder` runs them: the csv folder where it was, the
    replay's own MLflow store and journal, and a registered model (the loop needs aliases)."""
    out = localised(copy.deepcopy(raw), project)
    here = folder.resolve()
    mlflow = out["mlflow"]
    mlflow["tracking_uri"] = f"sqlite:///{here / 'mlflow.db'}"
    mlflow["registered_model"] = mlflow["registered_model"] or DEFAULT_MODEL
    out["monitor"]["journal"] = str(here / "journal")
    return out


def copied_table(path: Path, cfg: CsvConfig) -> pd.DataFrame:
    """A source file's table as read, its timestamp column parsed as acquire would parse it
    (when all of it parses): read back from Parquet it gives the same bars, minus the parsing."""
    table = read_table(path, cfg)
    names = [str(c).strip() for c in table.columns]
    theirs = cfg.columns.get("timestamp")
    if not theirs or names.count(theirs) != 1:
        return table
    at = names.index(theirs)
    try:
        parsed = to_utc_timestamps(table.iloc[:, at], cfg.timezone, cfg.dayfirst, cfg.date_format)
    except ValueError:  # an unknown zone: acquire names it
        return table
    # Parquet stores seconds as milliseconds: such a column (an empty file's) is left as text.
    if parsed is not None and parsed.dt.unit != "s":
        table = table.copy()
        table.isetitem(at, parsed)
    return table


def copy_source(params: Params, to: Path) -> bool:
    """Copy the csv source of `params` into `to` as Parquet, once (a resumed replay finds it);
    False when there is nothing to gain (not a csv source, or Parquet files already) or a file
    will not copy (the replay then reads the source itself, and acquire names the problem)."""
    cfg = params.data
    if cfg.source != "csv" or cfg.csv.pattern.endswith(".parquet"):
        return False
    if (to / COPIED).is_file():
        return True
    try:
        for ticker in cfg.tickers:
            table = copied_table(source_file(cfg.csv, ticker), cfg.csv)
            write_parquet(table, to / f"{ticker}.parquet")
    except (UpdownError, ValueError, TypeError, OSError) as exc:
        log.warning("replay: reading the csv source itself (%s)", exc)
        return False
    write_text(f"{cfg.csv.path}\n", to / COPIED)
    return True


def with_copied_source(raw: dict[str, Any], to: Path, cores: int) -> dict[str, Any]:
    """The replay's params reading the source's copy in `to`, acquired by at most `cores` jobs."""
    out = copy.deepcopy(raw)
    out["data"]["csv"] |= {"path": str(to.resolve()), "pattern": "{ticker}.parquet"}
    out["data"]["acquire_jobs"] = max(1, min(int(out["data"]["acquire_jobs"]), cores))
    return out


def check_source(params: Params) -> None:
    if params.data.source not in ("csv", "sample"):
        raise UpdownError(
            f"replay: data.source is {params.data.source}; a replay reads a csv or sample source "
            "(history that does not change under it)"
        )
    if params.data.interval != "1d":
        raise UpdownError("replay: daily bars only (data.interval: 1d): data.end is a day")


def read_source(params: Params, end: dt.date) -> dict[str, pd.DataFrame]:
    """Every ticker's bars up to `end`, read once."""
    cfg = dataclasses.replace(params.data, end=end)
    return get_fetch(cfg.source)(list(cfg.tickers), cfg)


def times_of(frame: pd.DataFrame) -> pd.Series | None:
    """A ticker's bar times, or None when its file has none a clock can cut (validate then
    names the problem, as the pipeline's would)."""
    ts = frame.get("timestamp")
    if ts is None or not isinstance(ts.dtype, pd.DatetimeTZDtype):
        return None
    return ts.dt.tz_convert("UTC")


def clocks(frames: dict[str, pd.DataFrame], start: dt.date, end: dt.date) -> list[pd.Timestamp]:
    """The bars of any ticker from `start` to `end` (days, UTC), in order: the replay's clock."""
    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    found = [t for t in map(times_of, frames.values()) if t is not None]
    if not found:
        return []
    stamps = pd.concat(found, ignore_index=True).astype("datetime64[ns, UTC]")
    return sorted(pd.Timestamp(t) for t in stamps[(stamps >= lo) & (stamps < hi)].unique())


def window_starts(
    frames: dict[str, pd.DataFrame], first: pd.Timestamp, bars: int
) -> dict[str, int]:
    """Per ticker, the row `bars` bars before the first clock: where every step's window opens."""
    out = {}
    for ticker, frame in frames.items():
        ts = times_of(frame)
        out[ticker] = 0 if ts is None else max(0, int(ts.searchsorted(first)) - bars)
    return out


def bars_at(
    frames: dict[str, pd.DataFrame], starts: dict[str, int], clock: pd.Timestamp, params: Params
) -> pd.DataFrame:
    """The validated panel a live loop would have at `clock`, from each ticker's window start."""
    raw = {}
    for ticker, frame in frames.items():
        part = frame.iloc[starts[ticker] :]
        part.attrs = dict(frame.attrs)
        raw[ticker] = up_to(part, clock)
    panel, _ = validate_all(raw, params.validate)
    return panel


def replay(
    project: Path, start: dt.date, end: dt.date, cores: int, name: str | None = None
) -> Iterator[dict[str, str]]:
    """Run (or resume) the replay; yields what each step did."""
    user = read_yaml(project / "params.yaml")
    folder = replay_folder(project, start, end, name)
    raw = replay_params(user, folder, project)
    params = build_params(raw, source=str(project / "params.yaml"))
    check_source(params)
    if copy_source(params, folder / SOURCE):
        raw = with_copied_source(raw, folder / SOURCE, cores)
        params = build_params(raw, source=str(project / "params.yaml"))
    frames = read_source(params, end)
    times = clocks(frames, start, end)
    if not times:
        raise UpdownError(
            f"replay: no bar between {start} and {end} in the {params.data.source} source"
        )
    if not (folder / "params.yaml").is_file():
        first = clock_params(raw, times[0], None, False)
        prepare(project, folder, first, HEADER)
    loop = Loop(folder, project, cores, raw)
    window = max(params.predict.history_bars, params.validate.min_rows) + 5
    starts = window_starts(frames, times[0], window)
    done = loop_ledger(params.monitor.journal).read()
    finished = set(done[done["event"] == STEP]["bar"])
    log.info("replay in %s: %d steps, %d done before", folder, len(times), len(finished))
    for clock in times:
        if clock in finished:
            continue
        yield step(loop, bars_at(frames, starts, clock, params), clock, clock == times[-1])
