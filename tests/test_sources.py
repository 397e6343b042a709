"""The offline sample and the csv folder source deliver raw bars in one layout."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pandas as pd
import pytest
from updown.config import load_params
from updown.data.sources import get_fetch
from updown.data.sources.sample import SAMPLE_TICKERS
from updown.errors import UpdownError

REPO = Path(__file__).resolve().parents[1]
SP500_HEADER = (
    "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
)


@pytest.fixture(scope="module")
def data_cfg():
    return load_params(REPO / "params.yaml").data


def test_sample_ships_two_instruments_with_15_years_of_daily_bars(data_cfg) -> None:
    frames = get_fetch("sample")(list(SAMPLE_TICKERS), data_cfg)
    assert len(frames) >= 2
    for ticker, bars in frames.items():
        span = bars["timestamp"].iloc[-1] - bars["timestamp"].iloc[0]
        assert span > pd.Timedelta(days=15 * 365), ticker
        assert str(bars["timestamp"].dt.tz) == "UTC"
        assert list(bars.columns) == [
            "timestamp",
            "open",
            "high",
            "low",
            "close",
            "adj_close",
            "volume",
        ]
        assert bars["timestamp"].is_monotonic_increasing
        assert bars["close"].gt(0).all()


def test_sample_refuses_a_ticker_it_does_not_ship(data_cfg) -> None:
    with pytest.raises(UpdownError, match="'AAPL' is not in the offline sample"):
        get_fetch("sample")(["AAPL"], data_cfg)


def _write_gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt") as fh:
        fh.write(text)


def test_csv_source_reads_the_sp500_layout_with_a_mapping_alone(tmp_path: Path, data_cfg) -> None:
    _write_gz(
        tmp_path / "AAPL.csv.gz",
        SP500_HEADER
        + "2018-01-02,170.16,172.3,169.26,172.26,166.8,25555934,0.0,1.0\n"
        + "2018-01-03,172.53,174.55,171.96,172.23,166.77,29517899,0.0,1.0\n",
    )
    cfg = dataclasses.replace(
        data_cfg, source="csv", csv=dataclasses.replace(data_cfg.csv, path=str(tmp_path))
    )
    bars = get_fetch("csv")(["AAPL"], cfg)["AAPL"]
    assert bars["adj_close"].tolist() == [166.8, 166.77]
    # a naive date is a New York trading day: midnight there, 05:00 UTC in winter
    assert bars["timestamp"].iloc[0] == pd.Timestamp("2018-01-02 05:00", tz="UTC")
    assert bars.attrs["origin"].endswith("AAPL.csv.gz")


def test_csv_source_reads_parquet_files(tmp_path: Path, data_cfg) -> None:
    pd.DataFrame(
        {
            "Date": pd.to_datetime(["2018-01-02", "2018-01-03"]).tz_localize("UTC"),
            "O": [1.0, 2.0],
            "H": [2.0, 3.0],
            "L": [0.5, 1.5],
            "C": [1.5, 2.5],
            "V": [10, 20],
        }
    ).to_parquet(tmp_path / "X.parquet")
    cfg = dataclasses.replace(
        data_cfg,
        source="csv",
        csv=dataclasses.replace(
            data_cfg.csv,
            path=str(tmp_path),
            pattern="{ticker}.parquet",
            columns={
                "timestamp": "Date",
                "open": "O",
                "high": "H",
                "low": "L",
                "close": "C",
                "adj_close": None,
                "volume": "V",
            },
        ),
    )
    bars = get_fetch("csv")(["X"], cfg)["X"]
    assert bars["adj_close"].tolist() == bars["close"].tolist() == [1.5, 2.5]


def test_csv_source_names_a_missing_file(tmp_path: Path, data_cfg) -> None:
    cfg = dataclasses.replace(
        data_cfg, source="csv", csv=dataclasses.replace(data_cfg.csv, path=str(tmp_path))
    )
    with pytest.raises(UpdownError, match=r"NOPE\.csv\.gz: file not found"):
        get_fetch("csv")(["NOPE"], cfg)


def test_the_shared_sp500_folder_loads_with_the_default_mapping(sp500_dir: Path, data_cfg) -> None:
    cfg = dataclasses.replace(
        data_cfg, source="csv", csv=dataclasses.replace(data_cfg.csv, path=str(sp500_dir))
    )
    frames = get_fetch("csv")(["AAPL", "BRK.B", "BF.B"], cfg)
    assert len(frames["AAPL"]) > 4000
    assert frames["AAPL"]["close"].dtype == "float64"
    # the provider error message arrives as it is; validate judges it
    assert "timestamp" not in frames["BF.B"].columns


def test_unknown_source_is_named() -> None:
    with pytest.raises(UpdownError, match="unknown source 'ftp'"):
        get_fetch("ftp")
