"""Incremental yfinance updates, through `updown acquire` and yfinance's real download code.

The fake Yahoo of tests/test_source_yfinance.py serves v8 chart answers; the second-fetch
answers are the recorded ones transformed, in Yahoo's own shape: extended by later trading days
(the recorded bars' shapes, rescaled to follow on), and rewritten as Yahoo rewrites history
after a split (every earlier price divided by the ratio, volume multiplied) or a dividend (every
earlier adjclose scaled). The first fetch runs to A = 2024-03-14 (10 bars), the second to
B = 2024-03-28 (10 more).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import set_params
from test_source_yfinance import (  # noqa: F401 (yahoo: fixture)
    FakeSession,
    FakeYahoo,
    load,
    ny_midnights_utc,
    yahoo,
)
from updown.cli import main
from updown.data.incremental import describe_revision
from updown.data.snapshot import SNAPSHOT_KEY
from updown.io import parquet_metadata
from yfinance.data import YfData

REPO = Path(__file__).resolve().parents[1]
TICKERS = ["AAPL", "MSFT"]
A, B = "2024-03-14", "2024-03-28"
NY = "America/New_York"


# -- answers of the real shape, transformed --------------------------------------------------


def _f32(x: float) -> float:
    return float(np.float32(x))  # Yahoo's prices are float32


def _day(stamp: int) -> dt.date:
    return pd.Timestamp(stamp, unit="s", tz="UTC").tz_convert(NY).date()


def extended(name: str, until: str) -> dict[str, Any]:
    """The recorded chart with a bar for every weekday after its last one through `until`."""
    payload = copy.deepcopy(load(name))
    result = payload["chart"]["result"][0]
    quote, adj = result["indicators"]["quote"][0], result["indicators"]["adjclose"][0]["adjclose"]
    stamps, n = result["timestamp"], len(result["timestamp"])
    adj_factor = adj[-1] / quote["close"][-1]
    day = _day(stamps[-1])
    k = 0
    while (day := day + dt.timedelta(days=1)) <= dt.date.fromisoformat(until):
        if day.weekday() >= 5:
            continue
        src = k % n
        scale = quote["close"][-1] / quote["open"][src]  # open where the last bar closed
        stamps.append(int(pd.Timestamp(f"{day} 09:30", tz=NY).timestamp()))
        for col in ("open", "high", "low", "close"):
            quote[col].append(_f32(quote[col][src] * scale))
        quote["volume"].append(quote["volume"][src])
        adj.append(_f32(quote["close"][-1] * adj_factor))
        k += 1
    return payload


def rewritten(
    payload: dict[str, Any], before: str, price: float = 1.0, volume: float = 1.0,
    adjclose: float = 1.0,
) -> dict[str, Any]:  # fmt: skip
    """`payload` as Yahoo serves it once history before `before` was re-adjusted."""
    out = copy.deepcopy(payload)
    result = out["chart"]["result"][0]
    quote, adj = result["indicators"]["quote"][0], result["indicators"]["adjclose"][0]["adjclose"]
    for i, stamp in enumerate(result["timestamp"]):
        if _day(stamp) >= dt.date.fromisoformat(before):
            continue
        for col in ("open", "high", "low", "close"):
            quote[col][i] = _f32(quote[col][i] * price)
        quote["volume"][i] = round(quote["volume"][i] * volume)
        adj[i] = _f32(adj[i] * price * adjclose)
    return out


def serve(server: FakeYahoo, charts: dict[str, dict[str, Any]]) -> None:
    for ticker, chart in charts.items():
        server.charts[(ticker, "1d")] = chart


def both(until: str = B) -> dict[str, dict[str, Any]]:
    return {t: extended(f"{t}_1d.json", until) for t in TICKERS}


# -- a project folder and the CLI -------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    set_params(
        tmp_path,
        {"data.source": "yfinance", "data.tickers": TICKERS, "data.start": "2024-03-01",
         "data.end": A, "split.train_end": "2024-03-05", "split.valid_end": "2024-03-08",
         "data.yfinance.retries": 0, "data.yfinance.backoff_seconds": 0.0,
         "validate.min_rows": 5},
        render_dvc=False,
    )  # fmt: skip
    return tmp_path


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """The CLI configures the root logger; give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def acquire(project: Path, end: str | None, out: str = "raw", *extra: str) -> int:
    set_params(project, {"data.end": end}, render_dvc=False)
    YfData.cache_get.cache_clear()  # a new process would not hold earlier answers
    args = ["acquire", "--params", str(project / "params.yaml"), "--out-dir", str(project / out)]
    return main([*args, *extra])


def history_calls(server: FakeYahoo, since: int = 0) -> list[dict[str, Any]]:
    return [c.params for s in server.sessions[since:] for c in s.calls if c.is_history]


def raw(project: Path, ticker: str, out: str = "raw") -> pd.DataFrame:
    return pd.read_parquet(project / out / f"{ticker}.parquet")


def record(project: Path, ticker: str) -> dict[str, Any]:
    text = parquet_metadata(project / "raw" / f"{ticker}.parquet", SNAPSHOT_KEY)
    assert text is not None
    meta: dict[str, Any] = json.loads(text)
    return meta


def epoch(day: str) -> int:
    return int(pd.Timestamp(day, tz=NY).timestamp())


# -- the tests --------------------------------------------------------------------------------


def test_a_later_end_fetches_only_new_bars_plus_the_overlap_and_appends(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve(yahoo, both())
    assert acquire(project, A) == 0
    first = {t: raw(project, t) for t in TICKERS}
    assert [len(first[t]) for t in TICKERS] == [10, 10]
    assert [c["period1"] for c in history_calls(yahoo)] == [epoch("2024-03-01")] * 2

    sessions = len(yahoo.sessions)
    capsys.readouterr()
    assert acquire(project, B) == 0
    calls = history_calls(yahoo, sessions)
    # One chart request per ticker (yfinance's way, in one download call), from the New York date of the 5th last stored bar (overlap_bars:
    # 5), not from data.start: 5 of the 10 stored bars are asked for again, 10 new ones.
    assert [c["period1"] for c in calls] == [epoch("2024-03-08")] * 2
    assert [c["period2"] for c in calls] == [epoch("2024-03-29")] * 2
    for ticker in TICKERS:
        bars = raw(project, ticker)
        assert len(bars) == 20
        assert bars["timestamp"].iloc[-1] == ny_midnights_utc(B)[0]
        pd.testing.assert_frame_equal(bars.iloc[:10], first[ticker])  # history kept as stored
        assert record(project, ticker)["revisions"] == []
    log = capsys.readouterr().err
    assert "AAPL: 10 new bars appended (bars from 2024-03-08 on; 4 stored bars matched)" in log

    # The appended snapshot is, byte for byte, the file one fetch of the whole range writes.
    assert acquire(project, B, "whole") == 0
    for ticker in TICKERS:
        appended = (project / "raw" / f"{ticker}.parquet").read_bytes()
        assert appended == (project / "whole" / f"{ticker}.parquet").read_bytes()


def test_end_null_asks_up_to_now_and_nothing_new_leaves_the_snapshot_byte_identical(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
) -> None:
    serve(yahoo, both())
    assert acquire(project, None) == 0
    assert [len(raw(project, t)) for t in TICKERS] == [20, 20]  # all the chart has
    before = {t: (project / "raw" / f"{t}.parquet").read_bytes() for t in TICKERS}
    sessions = len(yahoo.sessions)
    assert acquire(project, None) == 0
    calls = history_calls(yahoo, sessions)
    assert [c["period1"] for c in calls] == [epoch("2024-03-22")] * 2
    now = pd.Timestamp.now(tz="UTC").timestamp()
    assert all(abs(c["period2"] - now) < 3600 for c in calls)  # yfinance's "up to now"
    after = {t: (project / "raw" / f"{t}.parquet").read_bytes() for t in TICKERS}
    assert after == before


def test_a_split_between_fetches_refetches_the_ticker_whole_and_validate_reports_it(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
) -> None:
    serve(yahoo, both(A))
    assert acquire(project, A) == 0
    stored = raw(project, "AAPL")
    # AAPL splits 4:1 on 2024-03-20; Yahoo then divides every earlier price by 4.
    serve(yahoo, {"AAPL": rewritten(extended("AAPL_1d.json", B), "2024-03-20", 0.25, 4.0)})
    serve(yahoo, {"MSFT": extended("MSFT_1d.json", B)})
    sessions = len(yahoo.sessions)
    assert acquire(project, B) == 0

    calls = history_calls(yahoo, sessions)
    # The overlap request for both, then AAPL again from data.start: its overlap had changed.
    assert [c["period1"] for c in calls] == [epoch("2024-03-08")] * 2 + [epoch("2024-03-01")]
    aapl = raw(project, "AAPL")
    assert len(aapl) == 20 and len(raw(project, "MSFT")) == 20
    assert aapl["close"].iloc[0] == _f32(179.66000366210938 * 0.25)  # the refetched history
    ratio = aapl["close"].iloc[:10].to_numpy() / stored["close"].to_numpy()
    assert ratio == pytest.approx(0.25, rel=1e-6)
    (revision,) = record(project, "AAPL")["revisions"]
    assert record(project, "MSFT")["revisions"] == []
    assert revision["kind"] == "split"
    assert revision["from_bar"] == ny_midnights_utc("2024-03-01")[0].isoformat()
    assert revision["to_bar"] == revision["last_stored_bar"] == ny_midnights_utc(A)[0].isoformat()
    assert revision["bars_changed"] == revision["bars_compared"] == 10
    assert revision["columns"] == ["open", "high", "low", "close", "adj_close", "volume"]
    assert revision["ratios"]["close"] == pytest.approx(0.25, rel=1e-6)
    assert revision["ratios"]["adj_close"] == pytest.approx(0.25, rel=1e-6)
    assert revision["ratios"]["volume"] == pytest.approx(4.0, rel=1e-6)
    assert revision["update_to"] == B and revision["found"].startswith("open of 2024-03-08")

    report = project / "validation.json"
    args = ["--raw-dir", str(project / "raw"), "--out", str(project / "prices.parquet")]
    assert main(["validate", "--params", str(project / "params.yaml"), *args,
                 "--report", str(report)]) == 0  # fmt: skip
    validation = json.loads(report.read_text())
    assert validation["summary"]["tickers_revised"] == ["AAPL"]
    assert validation["tickers"]["AAPL"]["revisions"] == [revision]
    assert validation["tickers"]["MSFT"]["revisions"] == []
    (note,) = [n for n in validation["summary"]["notes"] if "revised" in n]
    assert "AAPL (split x0.25 from 2024-03-01)" in note


def test_a_dividend_between_fetches_is_recorded_as_one(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
) -> None:
    serve(yahoo, both(A))
    assert acquire(project, A) == 0
    serve(yahoo, both(B))
    serve(yahoo, {"MSFT": rewritten(extended("MSFT_1d.json", B), "2024-03-20", adjclose=0.9925)})
    assert acquire(project, B) == 0
    (revision,) = record(project, "MSFT")["revisions"]
    assert revision["kind"] == "dividend" and revision["columns"] == ["adj_close"]
    assert revision["ratios"] == {"adj_close": pytest.approx(0.9925, rel=1e-6)}
    assert revision["bars_changed"] == 10 and revision["found"].startswith("adj_close of")
    assert raw(project, "MSFT")["adj_close"].iloc[0] == _f32(411.5693664550781 * 0.9925)


def test_a_volume_correction_and_a_provisional_newest_bar_are_not_revisions(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
) -> None:
    serve(yahoo, both(A))
    assert acquire(project, A) == 0
    stored = raw(project, "AAPL")
    later = extended("AAPL_1d.json", B)
    quote = later["chart"]["result"][0]["indicators"]["quote"][0]
    quote["volume"][8] = round(quote["volume"][8] * 1.002)  # 2024-03-13: late trades, +0.2 %
    quote["close"][9] = _f32(quote["close"][9] * 1.01)  # 2024-03-14 was fetched before its close
    serve(yahoo, {"AAPL": later, "MSFT": extended("MSFT_1d.json", B)})
    assert acquire(project, B) == 0
    bars = raw(project, "AAPL")
    assert record(project, "AAPL")["revisions"] == []
    assert len(bars) == 20
    assert bars["volume"].iloc[8] == stored["volume"].iloc[8]  # within tolerance: kept
    assert bars["close"].iloc[9] == quote["close"][9]  # the newest stored bar: replaced


def test_a_changed_data_start_or_an_unrecorded_snapshot_is_fetched_whole(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
) -> None:
    serve(yahoo, both())
    assert acquire(project, A) == 0
    set_params(project, {"data.start": "2024-03-04"}, render_dvc=False)
    sessions = len(yahoo.sessions)
    assert acquire(project, B) == 0
    assert [c["period1"] for c in history_calls(yahoo, sessions)] == [epoch("2024-03-04")] * 2
    assert len(raw(project, "AAPL")) == 19

    legacy = raw(project, "AAPL")  # a snapshot written before snapshots recorded themselves
    legacy.to_parquet(project / "raw" / "AAPL.parquet", index=False)
    sessions = len(yahoo.sessions)
    assert acquire(project, B) == 0
    assert [c["period1"] for c in history_calls(yahoo, sessions)] == [
        epoch("2024-03-04"),  # AAPL, whole
        epoch("2024-03-22"),  # MSFT, the overlap
    ]


class FailingFrom(FakeYahoo):
    """Yahoo that stops answering from the `n`-th download call of the test on."""

    def __init__(self, base: FakeYahoo, n: int) -> None:
        super().__init__(charts=base.charts)
        self.n = n

    def session(self) -> FakeSession:
        new = FakeSession(self, broken=len(self.sessions) + 1 >= self.n)
        self.sessions.append(new)
        return new


@pytest.mark.parametrize("fails_from", [1, 2], ids=["the-overlap-request", "the-refetch"])
def test_a_failed_second_fetch_keeps_the_first_snapshots_byte_identical(
    project: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
    fails_from: int,
) -> None:
    from yfinance import multi

    serve(yahoo, both(A))
    assert acquire(project, A) == 0
    before = {p.name: p.read_bytes() for p in sorted((project / "raw").iterdir())}
    serve(yahoo, {"AAPL": rewritten(extended("AAPL_1d.json", B), "2024-03-20", 0.25, 4.0)})
    serve(yahoo, {"MSFT": extended("MSFT_1d.json", B)})
    # Download call 1 asks for the overlap, call 2 refetches AAPL whole after its split.
    failing = FailingFrom(yahoo, fails_from)
    monkeypatch.setattr(multi, "new_session", failing.session)
    assert acquire(project, B) == 1
    assert len(failing.sessions) == fails_from
    after = {p.name: p.read_bytes() for p in sorted((project / "raw").iterdir())}
    assert after == before  # MSFT's overlap was fine, yet nothing is written until all arrive


def test_describe_revision_counts_bars_added_and_removed_in_the_stored_range() -> None:
    ts = pd.date_range("2024-03-01", periods=4, freq="D", tz="UTC")
    stored = pd.DataFrame({"timestamp": ts, "close": [1.0, 2.0, 3.0, 4.0]})
    full = pd.DataFrame(
        {"timestamp": ts.delete(1).append(pd.DatetimeIndex([ts[-1] + pd.Timedelta(days=1)])),
         "close": [1.0, 3.0, 4.0, 5.0]}
    )  # fmt: skip
    revision = describe_revision(stored, full, "why", "2024-03-09")
    assert (revision["bars_removed"], revision["bars_added"], revision["bars_changed"]) == (1, 0, 0)
    assert revision["kind"] == "bars" and revision["from_bar"] is None
