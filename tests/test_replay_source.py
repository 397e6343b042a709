"""A replay copies a csv source once into its folder as Parquet, and each retrain's acquire reads
the copy: the bars must be those the CSV files give, to the bit (updown.live.replay)."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pandas as pd
import pytest
from updown.config import Params, build_params
from updown.data.sources import get_fetch
from updown.live.replay import COPIED, copy_source, with_copied_source
from updown.safe_yaml import read_yaml

REPO = Path(__file__).resolve().parents[1]
SP500 = REPO.parent / "shared" / "data" / "sp500-daily"
HEADER = "timestamp,open,high,low,close,adjusted_close,volume\n"


def params_for(folder: Path, tickers: list[str], pattern: str, **csv: object) -> Params:
    raw = read_yaml(REPO / "params.yaml")
    raw["data"] |= {"source": "csv", "tickers": tickers, "start": "2010-01-01"}
    raw["data"]["end"] = "2018-12-31"
    raw["data"]["csv"] |= {"path": str(folder), "pattern": pattern, **csv}
    return build_params(raw)


def assert_same_bars(params: Params, copy: Path) -> None:
    """The source read through the copy gives the same frames (and notes) as the files."""
    csv = dataclasses.replace(params.data.csv, path=str(copy), pattern="{ticker}.parquet")
    tickers = list(params.data.tickers)
    want = get_fetch("csv")(tickers, params.data)
    got = get_fetch("csv")(tickers, dataclasses.replace(params.data, csv=csv))
    for ticker in tickers:
        pd.testing.assert_frame_equal(got[ticker], want[ticker], check_exact=True)
        same = [
            {k: v for k, v in f.attrs.items() if k != "origin"} for f in (got[ticker], want[ticker])
        ]
        assert same[0] == same[1], ticker


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if name.endswith(".gz"):
        (folder / name).write_bytes(gzip.compress(text.encode()))
    else:
        (folder / name).write_text(text)


def test_the_copy_gives_the_same_bars_as_the_csv_files(tmp_path: Path) -> None:
    src = tmp_path / "csv"
    days = pd.bdate_range("2017-12-20", "2018-02-10")
    rows = "".join(f"{d.date()},{10 + i},{11 + i},{9 + i},{10.5 + i},{10.4 + i},{100 * i}\n"
                   for i, d in enumerate(days))  # fmt: skip
    write(src, "GOOD.csv.gz", HEADER + rows)
    write(src, "MSG.csv.gz", '{"Error Message": "Invalid API call"}\n')  # a provider's message
    write(src, "LATE.csv.gz", HEADER + "2019-03-01,1,1,1,1,1,1\n")  # no bar in the window
    write(src, "TEXT.csv.gz", HEADER + "2018-01-02,1,1,1,1,1,1\nnot a day,2,2,2,2,2,2\n")
    write(src, "EMPTY.csv.gz", "")
    params = params_for(src, ["GOOD", "MSG", "LATE", "TEXT", "EMPTY"], "{ticker}.csv.gz")
    copy = tmp_path / "replay" / "source"
    assert copy_source(params, copy)
    assert (copy / COPIED).is_file() and (copy / "GOOD.parquet").is_file()
    assert_same_bars(params, copy)
    assert copy_source(params, copy)  # a resumed replay finds the copy whole


def test_no_copy_for_parquet_files_or_the_sample(tmp_path: Path) -> None:
    params = params_for(tmp_path, ["X"], "{ticker}.parquet")
    assert not copy_source(params, tmp_path / "source")
    sample = build_params(read_yaml(REPO / "params.yaml"))
    assert not copy_source(sample, tmp_path / "source")
    assert not (tmp_path / "source").exists()


def test_the_replay_params_point_at_the_copy_with_at_most_cores_acquire_jobs(
    tmp_path: Path,
) -> None:
    raw = read_yaml(REPO / "params.yaml")
    out = with_copied_source(raw, tmp_path, 2)
    assert out["data"]["csv"]["path"] == str(tmp_path.resolve())
    assert out["data"]["csv"]["pattern"] == "{ticker}.parquet"
    assert out["data"]["acquire_jobs"] == 2
    assert out["data"]["csv"]["columns"] == raw["data"]["csv"]["columns"]
    assert raw["data"]["csv"]["pattern"] == "{ticker}.csv.gz"  # the user's params untouched


@pytest.mark.skipif(not SP500.is_dir(), reason="../shared/data/sp500-daily is absent")
def test_the_copy_of_sp500_files_gives_the_same_bars(tmp_path: Path) -> None:
    tickers = sorted(p.name.removesuffix(".csv.gz") for p in SP500.glob("*.csv.gz"))
    # some of each kind: the provider's message (BF.B), tickers listed after the window
    picked = sorted({*tickers[:12], "BF.B", "DOW", "OTIS", "BRK.B"} & set(tickers))
    params = params_for(SP500, picked, "{ticker}.csv.gz")
    assert copy_source(params, tmp_path / "source")
    assert_same_bars(params, tmp_path / "source")
