"""A clock over the local sources: `updown acquire --end` shows only bars up to "now".

The replay steps this clock over history (csv or sample source); a bar after the clock must
never reach the raw snapshot. Also: `data.end: null` means the newest bar, and Snakemake reruns
acquire when data.end changes (and, with `end: null`, once per day).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import run, set_params
from hypothesis import given, settings
from hypothesis import strategies as st
from updown.cli import main
from updown.config import load_params
from updown.data.clock import parse_end, up_to
from updown.data.sources import get_fetch

REPO = Path(__file__).resolve().parents[1]
HOURS = [f"2024-03-{d}T{h}:30:00-04:00" for d in (12, 13, 14) for h in range(9, 16)]


def write_hourly_csv(folder: Path, ticker: str = "HRLY") -> Path:
    """Hourly bars, stamped with their UTC offset as a provider writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"{ts},{100 + i},{101 + i},{99 + i},{100.5 + i},{100.5 + i},{1000 + i}"
            for i, ts in enumerate(HOURS)]  # fmt: skip
    header = "timestamp,open,high,low,close,adjusted_close,volume\n"
    path = folder / f"{ticker}.csv"
    path.write_text(header + "\n".join(rows) + "\n")
    return path


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def csv_project(tmp_path: Path) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    write_hourly_csv(tmp_path / "csv")
    set_params(
        tmp_path,
        {"data.source": "csv", "data.tickers": ["HRLY"], "data.interval": "1h",
         "data.csv.path": str(tmp_path / "csv"), "data.csv.pattern": "{ticker}.csv",
         "data.start": "2024-03-01", "data.end": "2024-03-14",
         "split.train_end": "2024-03-05", "split.valid_end": "2024-03-08"},
        render_dvc=False,
    )  # fmt: skip
    return tmp_path


def acquire(project: Path, *extra: str) -> tuple[int, Path]:
    out = project / "raw"
    code = main(
        ["acquire", "--params", str(project / "params.yaml"), "--out-dir", str(out), *extra]
    )
    return code, out


def stamps(path: Path) -> list[pd.Timestamp]:
    return list(pd.read_parquet(path)["timestamp"])


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


@pytest.mark.parametrize(
    ("clock", "last"),
    [
        ("2024-03-13T17:30:00Z", "2024-03-13T13:30:00-04:00"),  # a bar exactly at the clock
        ("2024-03-13T17:29:59Z", "2024-03-13T12:30:00-04:00"),  # one second before it
        ("2024-03-13T13:30:00-04:00", "2024-03-13T13:30:00-04:00"),  # any zone
        ("2024-03-13 17:45", "2024-03-13T13:30:00-04:00"),  # no zone: UTC
        ("2024-03-13", "2024-03-13T15:30:00-04:00"),  # a date: that day, in the csv's zone
    ],
)
def test_csv_source_shows_no_bar_after_the_clock(csv_project: Path, clock: str, last: str) -> None:
    code, out = acquire(csv_project, "--end", clock)
    assert code == 0
    got = stamps(out / "HRLY.parquet")
    assert got[-1] == utc(last)
    assert got == [utc(t) for t in HOURS if utc(t) <= utc(last)]  # everything up to it, too


def test_data_end_null_reads_up_to_the_newest_bar(csv_project: Path) -> None:
    set_params(csv_project, {"data.end": None}, render_dvc=False)
    assert load_params(csv_project / "params.yaml").data.end is None
    code, out = acquire(csv_project)
    assert code == 0
    assert stamps(out / "HRLY.parquet") == [utc(t) for t in HOURS]
    code, out = acquire(csv_project, "--end", "2024-03-12T14:00Z")  # a clock bounds it still
    assert stamps(out / "HRLY.parquet")[-1] == utc("2024-03-12T09:30:00-04:00")


def test_sample_source_shows_no_bar_after_the_clock(tmp_path: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    code, out = acquire(tmp_path, "--end", "2010-06-30T03:59:59Z")
    assert code == 0
    gspc = pd.read_parquet(out / "^GSPC.parquet")
    # Daily bars are stamped at New York midnight: 04:00 UTC in summer.
    assert gspc["timestamp"].iloc[-1] == pd.Timestamp("2010-06-29 04:00", tz="UTC")
    whole = get_fetch("sample")(["^GSPC"], load_params(REPO / "params.yaml").data)["^GSPC"]
    cut = whole[whole["timestamp"] <= pd.Timestamp("2010-06-30 03:59:59", tz="UTC")]
    pd.testing.assert_frame_equal(gspc, cut.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "--end: 'yesterday' is not a date or time"),
        ("1990-01-01", "--end: 1990-01-01 is not after data.start (1999-01-01)"),
    ],
)
def test_a_bad_clock_is_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    code, out = acquire(tmp_path, "--end", value)
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    (line,) = [x for x in err.splitlines() if x.startswith("updown acquire: error: ")]
    assert message in line


BARS = pd.DataFrame(
    {"timestamp": pd.date_range("2024-01-01", periods=50, freq="7h", tz="UTC"), "close": range(50)}
)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=400 * 3600 * 10**9), st.booleans())
def test_up_to_keeps_exactly_the_bars_at_or_before_the_clock(
    offset_ns: int, shuffled: bool
) -> None:
    bars = BARS.sample(frac=1.0, random_state=7) if shuffled else BARS  # sorted: bisection
    clock = BARS["timestamp"].iloc[0] + pd.Timedelta(offset_ns, "ns")
    shown = up_to(bars, clock)
    assert (shown["timestamp"] <= clock).all()
    expected = bars[bars["timestamp"] <= clock]  # nothing after it, nothing held back
    assert shown["close"].tolist() == expected["close"].tolist()


def test_parse_end_reads_a_date_as_data_end_and_a_time_as_a_cut() -> None:
    day, cut = parse_end("2024-03-13")
    assert (str(day), cut) == ("2024-03-13", None)
    day, cut = parse_end("2024-03-13T23:30:00-05:00")  # 04:30 UTC on the 14th
    assert cut == pd.Timestamp("2024-03-14 04:30", tz="UTC") and str(day) == "2024-03-15"


@pytest.mark.integration
def test_snakemake_reruns_acquire_when_data_end_changes_and_daily_for_end_null(
    new_project,
) -> None:
    project = new_project()
    csv = write_hourly_csv(project / "hourly").parent
    set_params(
        project,
        {"data.source": "csv", "data.tickers": ["HRLY"], "data.interval": "1h",
         "data.csv.path": str(csv), "data.csv.pattern": "{ticker}.csv",
         "data.start": "2024-03-01", "data.end": "2024-03-12",
         "split.train_end": "2024-03-05", "split.valid_end": "2024-03-08"},
    )  # fmt: skip
    target = "data/raw/csv/HRLY.parquet"
    run(["snakemake", "--cores", "1", target], project)
    assert len(stamps(project / target)) == 7

    def planned() -> list[str]:
        plan = run(["snakemake", "-n", target], project).stdout
        if "Job stats:" not in plan:
            return []
        stats = plan.split("Job stats:", 1)[1].split("total", 1)[0]
        return re.findall(r"^(acquire_\w+)\s+1$", stats, re.M)

    assert planned() == []
    set_params(project, {"data.end": "2024-03-13"})
    assert len(planned()) == 1  # its params changed
    run(["snakemake", "--cores", "1", target], project)
    assert len(stamps(project / target)) == 14
    set_params(project, {"data.end": None})
    assert len(planned()) == 1  # "the newest bar on <today>" is not 2024-03-13
    run(["snakemake", "--cores", "1", target], project)
    assert len(stamps(project / target)) == 21
    assert planned() == []  # the same day: nothing to do until tomorrow
