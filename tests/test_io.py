"""Outputs are written atomically, and ticker file names cannot escape their folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from updown.errors import UpdownError
from updown.io import atomic_path, read_json, ticker_path, write_json, write_parquet


def test_interrupted_write_leaves_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_parquet_round_trip_keeps_attrs_and_utc(tmp_path: Path) -> None:
    df = pd.DataFrame({"timestamp": pd.to_datetime(["2020-01-02"], utc=True), "close": [1.5]})
    df.attrs = {"origin": "somewhere.csv"}
    back = pd.read_parquet(write_parquet(df, tmp_path / "x.parquet"))
    assert back.attrs["origin"] == "somewhere.csv"
    assert str(back["timestamp"].dt.tz) == "UTC"


@pytest.mark.parametrize("ticker", ["BRK.B", "^GSPC", "EURUSD=X"])
def test_ticker_file_lives_directly_in_its_folder(tmp_path: Path, ticker: str) -> None:
    path = ticker_path(tmp_path / "raw", ticker)
    assert path.parent == tmp_path / "raw"
    assert path.name == f"{ticker}.parquet"


@pytest.mark.parametrize("ticker", ["../../x", "a/b", "", "..", "x" * 40, "a\\b"])
def test_hostile_ticker_cannot_name_a_file(tmp_path: Path, ticker: str) -> None:
    with pytest.raises(UpdownError, match="not safe as a file name"):
        ticker_path(tmp_path / "raw", ticker)
