"""Hostile data files through the real `updown acquire` and `updown validate` (csv source).

Each bad file stops the run with one line naming the ticker, the file and what is wrong (exit 1,
no traceback), and the previous outputs stay byte-identical. Time zones, as documented in the
README: values with a UTC offset are taken as written; values without one are read in
data.csv.timezone (CSV and Parquet alike); a column mixing the two, or a naive local time that a
daylight-saving change makes ambiguous or impossible, is refused by row.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hostile import csv_text, daily_bars, error_line, fingerprint, updown, write_params

# Every test here runs the real `updown` CLI: `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow

GOOD = daily_bars()
NY = "America/New_York"


def _utc(day: str) -> str:
    return pd.Timestamp(day, tz=NY).tz_convert("UTC").isoformat()


def _with(frame: pd.DataFrame, **cells: object) -> pd.DataFrame:
    out = frame.copy()
    for spec, value in cells.items():
        col, row = spec.rsplit("_", 1)
        out[col] = out[col].astype(object)
        out.loc[int(row), col] = value
    return out


def _files() -> dict[str, str]:
    swapped = GOOD.copy()
    swapped.iloc[[50, 51]] = swapped.iloc[[51, 50]].to_numpy()
    negative = GOOD.copy()
    negative.loc[::10, "low"] = -negative.loc[::10, "low"]
    one_zero = GOOD.copy()
    one_zero.loc[200, ["open", "high", "low", "close", "adjusted_close"]] = 0.0
    no_volume = GOOD.copy().astype({"volume": object})
    no_volume["volume"] = None
    mixed = GOOD.copy()
    mixed.loc[1::2, "timestamp"] = mixed.loc[1::2, "timestamp"] + " 00:00:00-05:00"
    dst_gap = GOOD.copy()
    # 2001-04-01 02:30 never happened in New York: clocks went from 02:00 to 03:00.
    at = int((dst_gap["timestamp"] < "2001-04-01").sum())
    dst_gap = pd.concat(
        [
            dst_gap.iloc[:at],
            dst_gap.iloc[[at]].assign(timestamp="2001-04-01 02:30:00"),
            dst_gap.iloc[at + 1 :],
        ]
    )
    epoch = GOOD.copy()
    epoch["timestamp"] = [int(pd.Timestamp(d).timestamp()) for d in GOOD["timestamp"]]
    # Offsets that change with daylight saving, every value with one: fine, not "mixed".
    offsets = GOOD.copy()
    offsets["timestamp"] = [
        pd.Timestamp(d, tz="America/New_York").isoformat() for d in GOOD["timestamp"]
    ]
    return {
        "GOOD": csv_text(GOOD),
        "MISSCOL": csv_text(GOOD.rename(columns={"volume": "vol"})),
        "NONNUM": csv_text(_with(GOOD, close_100="abc")),
        "EMPTY": "",
        "HEADER": csv_text(GOOD.head(0)),
        "DUP": csv_text(pd.concat([GOOD.iloc[:51], GOOD.iloc[50:]])),
        "UNSORTED": csv_text(swapped),
        "NEGATIVE": csv_text(negative),
        "ONEZERO": csv_text(one_zero),
        "NANCOL": csv_text(no_volume),
        "MIXEDTZ": csv_text(mixed),
        "DSTGAP": csv_text(dst_gap),
        "EPOCH": csv_text(epoch),
        "OFFSETS": csv_text(offsets),
        "SHORT": csv_text(GOOD.head(40)),
    }


@pytest.fixture(scope="module")
def acquired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of hostile CSV files, acquired in one go; plus previous good outputs."""
    root = tmp_path_factory.mktemp("bad_data")
    (root / "in").mkdir()
    files = _files()
    for name, text in files.items():
        (root / "in" / f"{name}.csv").write_text(text)
    params = {
        "data.source": "csv",
        "data.tickers": sorted(files),
        "data.start": "2000-01-01",
        "data.end": "2003-12-31",
        "split.train_end": "2001-12-31",
        "split.valid_end": "2002-03-31",
        "data.csv.path": "in",
        "data.csv.pattern": "{ticker}.csv",
    }
    write_params(root / "params.yaml", params)
    done = updown("acquire", "--out-dir", "raw", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    write_params(root / "good.yaml", {**params, "data.tickers": ["GOOD"]})
    done = updown(*_validate("good.yaml", "previous"), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def _validate(params: str, out: str) -> list[str]:
    return [
        "validate",
        "--params",
        params,
        "--raw-dir",
        "raw",
        "--out",
        f"{out}/prices.parquet",
        "--report",
        f"{out}/validation.json",
    ]


def validate_one(root: Path, ticker: str, tmp_path: Path, **changes: object) -> tuple[str, bool]:
    """Validate one ticker over a copy of the previous outputs; return the error line and
    whether those outputs came through byte-identical."""
    out = tmp_path / "out"
    shutil.copytree(root / "previous", out)
    before = fingerprint(tmp_path, "out")
    params = write_params(
        tmp_path / "params.yaml", {"data.tickers": [ticker], **changes}, base=root / "params.yaml"
    )
    done = updown(*_validate(str(params), str(out)), cwd=root)
    line = error_line(done, "validate", f"ticker {ticker} (in/{ticker}.csv)")
    return line, fingerprint(tmp_path, "out") == before


CASES = {
    "MISSCOL": [
        "missing columns ['volume']",
        "data.csv.columns wants volume: 'volume'",
        "'vol'",
    ],
    "NONNUM": [
        f"column 'close' has non-numeric values (first: 'abc' on {_utc(GOOD.timestamp[100])})"
    ],
    "EMPTY": ["empty file: no header and no rows"],
    "HEADER": ["no rows"],
    "DUP": [f"1 duplicate timestamps (first: {_utc(GOOD.timestamp[50])})"],
    "UNSORTED": [
        "timestamps are not in increasing order",
        f"{_utc(GOOD.timestamp[50])} at row 51 follows {_utc(GOOD.timestamp[51])}",
    ],
    "NEGATIVE": [
        "40 of 400 rows break OHLC, sign, NaN or finiteness rules",
        "more than validate.max_bad_row_fraction=0.01",
    ],
    # A ticker without volume is kept by default (validate.zero_volume: drop_features, see
    # test_gaps_and_volume.py); with zero_volume: fail it is a bad file like the others.
    "NANCOL": ["no volume: column 'volume' is entirely empty (NaN)", "validate.zero_volume=fail"],
    "MIXEDTZ": [
        "timestamps mix values with and without a UTC offset",
        f"row 0: '{GOOD.timestamp[0]}' has none",
        f"row 1: '{GOOD.timestamp[1]} 00:00:00-05:00' has one",
    ],
    "DSTGAP": [
        "timestamp '2001-04-01 02:30:00'",
        "does not exist or is ambiguous in data.csv.timezone America/New_York",
    ],
    "EPOCH": [
        f"timestamps are plain numbers (first: {int(pd.Timestamp(GOOD.timestamp[0]).timestamp())})"
    ],
    "SHORT": ["only 40 usable rows, fewer than validate.min_rows=300"],
}


CASE_PARAMS: dict[str, dict[str, object]] = {"NANCOL": {"validate.zero_volume": "fail"}}


@pytest.mark.parametrize("ticker", sorted(CASES))
def test_a_bad_file_stops_validate_by_name_and_keeps_previous_outputs(
    acquired: Path, tmp_path: Path, ticker: str
) -> None:
    line, unchanged = validate_one(acquired, ticker, tmp_path, **CASE_PARAMS.get(ticker, {}))
    for fragment in CASES[ticker]:
        assert fragment in line
    assert f"validate.overrides.{ticker}: drop" in line  # the way out is named too
    assert unchanged


def test_a_provider_error_message_is_named_as_such(sp500_dir: Path, tmp_path: Path) -> None:
    shutil.copy(sp500_dir / "BF.B.csv.gz", tmp_path / "BF.B.csv.gz")
    write_params(
        tmp_path / "params.yaml",
        {"data.source": "csv", "data.tickers": ["BF.B"], "data.csv.path": "."},
    )
    assert updown("acquire", "--out-dir", "raw", cwd=tmp_path).returncode == 0
    done = updown(*_validate("params.yaml", "out"), cwd=tmp_path)
    error_line(
        done,
        "validate",
        "ticker BF.B (BF.B.csv.gz)",
        "not price data but a provider error message: '{ Error Message }'",
    )
    assert not (tmp_path / "out").exists()


def test_a_few_bad_rows_are_dropped_and_reported_not_fatal(acquired: Path, tmp_path: Path) -> None:
    params = write_params(
        tmp_path / "params.yaml", {"data.tickers": ["ONEZERO"]}, base=acquired / "params.yaml"
    )
    done = updown(*_validate(str(params), str(tmp_path / "out")), cwd=acquired)
    assert done.returncode == 0, done.stderr[-2000:]
    report = pd.read_json(tmp_path / "out" / "validation.json", typ="series")
    ticker = report["tickers"]["ONEZERO"]
    assert ticker["bad_rows_dropped"] == 1 and ticker["rows_out"] == 399
    assert "dropped 1 of 400 rows break OHLC" in ticker["problems"][0]


def test_offsets_that_change_with_daylight_saving_are_one_time_zone(
    acquired: Path, tmp_path: Path
) -> None:
    params = write_params(
        tmp_path / "params.yaml", {"data.tickers": ["OFFSETS"]}, base=acquired / "params.yaml"
    )
    done = updown(*_validate(str(params), str(tmp_path / "out")), cwd=acquired)
    assert done.returncode == 0, done.stderr[-2000:]
    prices = pd.read_parquet(tmp_path / "out" / "prices.parquet")
    # New York midnight is 05:00 UTC in winter and 04:00 UTC in summer.
    hours = prices.set_index(prices["timestamp"].dt.month)["timestamp"].dt.hour
    assert set(hours.loc[1]) == {5} and set(hours.loc[7]) == {4}


def test_naive_parquet_timestamps_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    bars = daily_bars(300).rename(columns={"adjusted_close": "adj"})
    bars["timestamp"] = pd.to_datetime(bars["timestamp"])  # datetime64 without a zone
    bars.to_parquet(tmp_path / "NAIVE.parquet")
    write_params(
        tmp_path / "params.yaml",
        {
            "data.source": "csv",
            "data.tickers": ["NAIVE"],
            "data.start": "2000-01-01",
            "data.end": "2003-12-31",
            "split.train_end": "2001-12-31",
            "split.valid_end": "2002-03-31",
            "data.csv.path": ".",
            "data.csv.pattern": "{ticker}.parquet",
            "data.csv.timezone": "Asia/Tokyo",
            "data.csv.columns.adj_close": "adj",
        },
    )
    assert updown("acquire", "--out-dir", "raw", cwd=tmp_path).returncode == 0
    raw = pd.read_parquet(tmp_path / "raw" / "NAIVE.parquet")
    assert str(raw["timestamp"].dt.tz) == "UTC"
    # Tokyo midnight is 15:00 UTC the day before (no daylight saving in Japan).
    assert raw["timestamp"].iloc[0] == pd.Timestamp("2001-01-01 15:00", tz="UTC")


def test_a_raw_file_without_a_time_zone_is_refused(acquired: Path, tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    raw = pd.read_parquet(acquired / "raw" / "GOOD.parquet")
    raw["timestamp"] = raw["timestamp"].dt.tz_localize(None)
    raw.to_parquet(tmp_path / "raw" / "GOOD.parquet")
    write_params(
        tmp_path / "params.yaml", {"data.tickers": ["GOOD"]}, base=acquired / "params.yaml"
    )
    done = updown(*_validate("params.yaml", "out"), cwd=tmp_path)
    error_line(done, "validate", "ticker GOOD", "timestamps have no time zone")


def test_an_unknown_time_zone_stops_acquire_by_key(acquired: Path, tmp_path: Path) -> None:
    shutil.copytree(acquired / "raw", tmp_path / "raw")
    before = fingerprint(tmp_path, "raw")
    write_params(
        tmp_path / "params.yaml",
        {
            "data.tickers": ["GOOD"],
            "data.csv.timezone": "Mars/Olympus_Mons",
            "data.csv.path": str(acquired / "in"),
        },
        base=acquired / "params.yaml",
    )
    done = updown("acquire", "--out-dir", "raw", cwd=tmp_path)
    error_line(done, "acquire", "data.csv.timezone", "'Mars/Olympus_Mons'")
    assert fingerprint(tmp_path, "raw") == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("GOOD.csv.gz", b"\x1f\x8b\x08\x00 a gzip header and then garbage"),
        ("GOOD.csv", b"\xff\xfe\x00\x00 binary \x80\x81"),
        ("GOOD.csv", b"a,b\n1,2\n1,2,3,4\n"),
    ],
    ids=["broken-gzip", "binary", "ragged"],
)
def test_an_unreadable_file_stops_acquire_by_path(
    acquired: Path, tmp_path: Path, name: str, content: bytes
) -> None:
    shutil.copytree(acquired / "raw", tmp_path / "raw")
    before = fingerprint(tmp_path, "raw")
    (tmp_path / name).write_bytes(content)
    write_params(
        tmp_path / "params.yaml",
        {"data.tickers": ["GOOD"], "data.csv.path": ".", "data.csv.pattern": "{ticker}" + name[4:]},
        base=acquired / "params.yaml",
    )
    done = updown("acquire", "--out-dir", "raw", cwd=tmp_path)
    error_line(done, "acquire", f"{name}: cannot parse")
    assert fingerprint(tmp_path, "raw") == before
