"""The yfinance source, run through yfinance's real download code against a fake Yahoo.

Nothing here touches the network and `yf.download` is not mocked: every download call gets a fake
HTTP session (yfinance's own Session class, with `get` answering from recorded v8 chart JSON in
tests/fixtures/yfinance), and the cookie/crumb handshake is skipped. So yfinance's download ->
Ticker.history -> chart parsing -> multi-ticker assembly all run as they would against Yahoo.

The fixtures have the exact shape of Yahoo's v8 chart answers (meta, float32-rounded prices, no
adjclose for intraday, tradingPeriods for intraday, the 404 "No data found" body); the values were
reconstructed by hand, not captured, since Yahoo is unreachable from here.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from updown.config import DataConfig, load_params
from updown.contract import RAW_COLUMNS
from updown.data.sources.yahoo import fetch
from updown.errors import UpdownError
from yfinance import _http, base, cache, multi
from yfinance.data import YfData

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yfinance"
CHART_URL = re.compile(
    r"https://query[12]\.finance\.yahoo\.com/v8/finance/chart/(?P<symbol>[^/?]+)"
)
RECENT = dt.date(2025, 6, 1)  # "today" for hourly requests, so the 730-day limit holds forever


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


def recorded(name: str, block: str, column: str) -> list[float]:
    """A series as it stands in a fixture file."""
    indicators = load(name)["chart"]["result"][0]["indicators"]
    return list(indicators[block][0][column])


def relabel(payload: dict[str, Any], symbol: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    out["chart"]["result"][0]["meta"]["symbol"] = symbol
    return out


def make_response(url: str, status: int, payload: dict[str, Any]) -> Any:
    """A real Response object of yfinance's HTTP backend (curl_cffi, or requests as fallback)."""
    resp = _http.requests.Response()
    resp.status_code = status
    resp.url = url
    resp.reason = HTTPStatus(status).phrase
    resp.headers["Content-Type"] = "application/json;charset=utf-8"
    body = json.dumps(payload).encode()
    if _http.HAS_CURL_CFFI:
        resp.content = body
        resp.ok = status < 400
    else:
        resp._content = body
    return resp


@dataclass
class Call:
    url: str
    params: dict[str, Any]

    @property
    def symbol(self) -> str | None:
        match = CHART_URL.fullmatch(self.url)
        return match["symbol"] if match else None

    @property
    def is_history(self) -> bool:
        """A price-history request (the timezone lookup asks for range=1d instead)."""
        return self.symbol is not None and "period1" in self.params


class FakeSession(_http.requests.Session):
    """yfinance's own Session type, so it passes yfinance's checks, answering from FakeYahoo."""

    def __init__(self, server: FakeYahoo, broken: bool) -> None:
        super().__init__()
        self.server = server
        self.broken = broken
        self.calls: list[Call] = []

    def get(self, url: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.server.answer(self, url, dict(params or {}))

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.server.answer(self, url, {})

    def history_symbols(self) -> list[str]:
        return sorted({c.symbol for c in self.calls if c.is_history and c.symbol})


@dataclass
class FakeYahoo:
    """Yahoo's v8 chart endpoint, serving the recorded bars that fall in the requested window."""

    charts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sessions: list[FakeSession] = field(default_factory=list)
    broken_sessions: int = 0  # the first n download calls find the network down
    empty_answers: dict[str, int] = field(default_factory=dict)  # symbol -> empty history answers
    failing_session_factories: int = 0  # the first n download calls fail to open a session

    def session(self) -> FakeSession:
        if self.failing_session_factories:
            self.failing_session_factories -= 1
            raise RuntimeError("cannot create an HTTP session")
        new = FakeSession(self, broken=len(self.sessions) < self.broken_sessions)
        self.sessions.append(new)
        return new

    def answer(self, session: FakeSession, url: str, params: dict[str, Any]) -> Any:
        call = Call(url, params)
        session.calls.append(call)
        if session.broken:
            raise _http.requests.exceptions.ConnectionError("Failed to connect to Yahoo")
        if call.symbol is None:  # quoteSummary etc., asked for only when a ticker is unknown
            return make_response(url, 404, not_found_elsewhere(url))
        # The timezone lookup asks for 1d bars whatever the interval; any recording has the zone.
        chart = self.charts.get((call.symbol, params.get("interval", "1d"))) or next(
            (v for (s, _), v in self.charts.items() if s == call.symbol), None
        )
        if chart is None:
            return make_response(url, 404, load("not_found.json"))
        if call.is_history and self.empty_answers.get(call.symbol, 0) > 0:
            self.empty_answers[call.symbol] -= 1
            return make_response(url, 200, window(chart, {"period1": 0, "period2": 0}))
        return make_response(url, 200, window(chart, params))


def not_found_elsewhere(url: str) -> dict[str, Any]:
    """Yahoo's 404 body outside the chart API (quoteSummary names the symbol, others do not)."""
    if "/quoteSummary/" in url:
        symbol = url.rsplit("/", 1)[-1]
        error = {"code": "Not Found", "description": f"Quote not found for symbol: {symbol}"}
        return {"quoteSummary": {"result": None, "error": error}}
    return {"finance": {"result": None, "error": {"code": "Not Found", "description": "Not Found"}}}


def window(payload: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """What Yahoo answers for `params`: bars in [period1, period2), or the latest for a range."""
    result = copy.deepcopy(payload["chart"]["result"][0])
    stamps = result.pop("timestamp")
    if "range" in params:
        keep = [len(stamps) - 1]
    else:
        keep = [i for i, t in enumerate(stamps) if params["period1"] <= t < params["period2"]]
    meta = result["meta"]
    meta["range"] = params.get("range", "")
    if "tradingPeriods" in meta:
        days = {pd.Timestamp(stamps[i], unit="s").date() for i in keep}
        meta["tradingPeriods"] = [
            day
            for day in meta["tradingPeriods"]
            if pd.Timestamp(day[0]["start"], unit="s").date() in days
        ]
    indicators = result["indicators"]
    if not keep:  # Yahoo's answer for a window without bars: no timestamps, empty indicators
        result["indicators"] = {name: [{}] for name in indicators}
        return {"chart": {"result": [result], "error": None}}
    result["timestamp"] = [stamps[i] for i in keep]
    for blocks in indicators.values():
        for series in blocks:
            for name, values in series.items():
                series[name] = [values[i] for i in keep]
    return {"chart": {"result": [result], "error": None}}


@pytest.fixture
def yahoo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYahoo]:
    server = FakeYahoo(
        charts={
            ("AAPL", "1d"): load("AAPL_1d.json"),
            ("MSFT", "1d"): load("MSFT_1d.json"),
            ("AAPL", "1h"): load("AAPL_1h.json"),
        }
    )
    # Each yf.download call opens its session with multi.new_session: hand it a fake one.
    monkeypatch.setattr(multi, "new_session", server.session)
    # The cookie and crumb come from fc.yahoo.com and getcrumb; the chart API works without them.
    monkeypatch.setattr(
        YfData, "_get_cookie_and_crumb", lambda self, timeout=30: (None, self._cookie_strategy)
    )
    # No on-disk timezone cache, so each ticker's timezone is looked up through the fake too.
    monkeypatch.setattr(cache._TzCacheManager, "_tz_cache", cache._TzCacheDummy())
    monkeypatch.setattr(base, "_tz_info_fetch_ctr", 0)
    singleton = YfData()
    for attr in ("_session", "_cookie_strategy", "_cookie", "_crumb"):  # restored afterwards
        monkeypatch.setattr(singleton, attr, getattr(singleton, attr))
    YfData.cache_get.cache_clear()
    yield server
    YfData.cache_get.cache_clear()


@dataclass
class Sleeps:
    seconds: list[float] = field(default_factory=list)

    def __call__(self, s: float) -> None:
        self.seconds.append(s)


def data_cfg(
    start: str = "2024-03-01", end: str = "2024-03-14", interval: str = "1d", **yfinance: Any
) -> DataConfig:
    data = load_params(ROOT / "params.yaml").data
    knobs = {"auto_adjust": False, "batch_size": 20, "retries": 3, "backoff_seconds": 2.0}
    return replace(
        data,
        source="yfinance",
        interval=interval,
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
        yfinance=replace(data.yfinance, **{**knobs, **yfinance}),
    )


def ny_midnights_utc(*days: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(d, tz="America/New_York").tz_convert("UTC") for d in days]


def test_several_tickers_come_from_one_download_call(yahoo: FakeYahoo) -> None:
    sleeps = Sleeps()
    frames = fetch(["AAPL", "MSFT"], data_cfg(), sleep=sleeps)

    assert len(yahoo.sessions) == 1 and sleeps.seconds == []
    assert yahoo.sessions[0].history_symbols() == ["AAPL", "MSFT"]
    assert list(frames) == ["AAPL", "MSFT"]
    for ticker, bars in frames.items():
        assert tuple(bars.columns) == RAW_COLUMNS
        assert len(bars) == 10
        assert str(bars["timestamp"].dt.tz) == "UTC"
        assert bars["timestamp"].is_monotonic_increasing and bars["timestamp"].is_unique
        assert all(bars[c].dtype == "float64" for c in RAW_COLUMNS[1:])
        assert bars.attrs["origin"] == f"yfinance {ticker} 1d 2024-03-01..2024-03-14"
    aapl, msft = frames["AAPL"], frames["MSFT"]
    # Daily bars are New York dates: midnight is 05:00 UTC before the 10 March DST change, 04:00
    # after it.
    first, last = ny_midnights_utc("2024-03-01", "2024-03-14")
    assert aapl["timestamp"].iloc[0] == first == pd.Timestamp("2024-03-01 05:00", tz="UTC")
    assert aapl["timestamp"].iloc[-1] == last == pd.Timestamp("2024-03-14 04:00", tz="UTC")
    assert aapl["close"].iloc[0] == 179.66000366210938  # Yahoo's float32 rounding, kept
    assert aapl["open"].tolist() == recorded("AAPL_1d.json", "quote", "open")
    assert aapl["adj_close"].tolist() == recorded("AAPL_1d.json", "adjclose", "adjclose")
    assert msft["close"].iloc[-1] == 425.2200012207031
    assert msft["high"].iloc[2] == 414.25
    assert msft["volume"].iloc[-1] == 34157300.0


def test_the_request_covers_start_to_end_inclusive(yahoo: FakeYahoo) -> None:
    frames = fetch(["AAPL"], data_cfg(start="2024-03-05", end="2024-03-07"))

    history = [c for c in yahoo.sessions[0].calls if c.is_history]
    assert len(history) == 1
    start, after_end = ny_midnights_utc("2024-03-05", "2024-03-08")
    assert history[0].params["period1"] == int(start.timestamp())
    assert history[0].params["period2"] == int(after_end.timestamp())  # end + 1 day, exclusive
    assert history[0].params["interval"] == "1d"
    assert frames["AAPL"]["timestamp"].tolist() == ny_midnights_utc(
        "2024-03-05", "2024-03-06", "2024-03-07"
    )


def test_auto_adjust_gives_adj_close_equal_to_close(yahoo: FakeYahoo) -> None:
    frames = fetch(["AAPL", "MSFT"], data_cfg(auto_adjust=True))

    for name, bars in [("AAPL_1d.json", frames["AAPL"]), ("MSFT_1d.json", frames["MSFT"])]:
        assert len(bars) == 10
        assert bars["adj_close"].tolist() == bars["close"].tolist()
        assert bars["close"].tolist() == recorded(name, "adjclose", "adjclose")
        ratio = (bars["open"] / pd.Series(recorded(name, "quote", "open"))).to_numpy()
        adjustment = (bars["close"] / pd.Series(recorded(name, "quote", "close"))).to_numpy()
        assert ratio == pytest.approx(adjustment, rel=1e-12)
        assert (ratio < 1).all()  # later dividends scale the past down


def test_hourly_bars_come_back_tz_aware_utc(yahoo: FakeYahoo) -> None:
    cfg = data_cfg(start="2024-03-13", end="2024-03-14", interval="1h")
    bars = fetch(["AAPL"], cfg, today=RECENT)["AAPL"]

    assert len(bars) == 14
    assert str(bars["timestamp"].dt.tz) == "UTC"
    # Yahoo's hourly bars start at the 09:30 open, EDT = UTC-4.
    hours = [f"{h}:30" for h in range(13, 20)]
    expected = [pd.Timestamp(f"2024-03-{d} {h}", tz="UTC") for d in (13, 14) for h in hours]
    assert bars["timestamp"].tolist() == expected
    assert bars["open"].iloc[0] == 172.77000427246094
    assert bars["close"].iloc[-1] == 173.0
    # Yahoo sends no adjclose for intraday bars; yfinance then takes the close.
    assert bars["adj_close"].tolist() == bars["close"].tolist()
    assert bars.attrs["origin"] == "yfinance AAPL 1h 2024-03-13..2024-03-14"


def test_hourly_start_older_than_730_days_is_refused(yahoo: FakeYahoo) -> None:
    cfg = data_cfg(start="2024-03-13", end="2024-03-14", interval="1h")
    with pytest.raises(UpdownError, match=r"data\.start: 2024-03-13 .*730 days") as err:
        fetch(["AAPL"], cfg, today=dt.date(2026, 6, 1))
    assert "\n" not in str(err.value)
    assert yahoo.sessions == []  # refused before asking Yahoo


def test_unknown_ticker_is_retried_then_named(yahoo: FakeYahoo) -> None:
    sleeps = Sleeps()
    with pytest.raises(UpdownError) as err:
        fetch(["AAPL", "NOSUCHTKR"], data_cfg(retries=3, backoff_seconds=2.0), sleep=sleeps)

    message = str(err.value)
    assert "\n" not in message
    assert "NOSUCHTKR" in message and "AAPL" not in message
    assert "1d" in message and "2024-03-01" in message and "2024-03-14" in message
    assert "4 attempts" in message and "spelling" in message and "network" in message
    assert sleeps.seconds == [2.0, 4.0, 8.0]
    assert len(yahoo.sessions) == 4  # retries + 1 download calls
    assert yahoo.sessions[0].history_symbols() == ["AAPL"]
    # Each retry asks Yahoo again for the missing ticker only (not a memoised answer).
    for session in yahoo.sessions:
        assert {c.symbol for c in session.calls if c.symbol} == {"NOSUCHTKR"} | (
            {"AAPL"} if session is yahoo.sessions[0] else set()
        )


def test_an_empty_answer_is_retried_and_recovers(yahoo: FakeYahoo) -> None:
    yahoo.empty_answers["MSFT"] = 1
    sleeps = Sleeps()
    frames = fetch(["AAPL", "MSFT"], data_cfg(), sleep=sleeps)

    assert sleeps.seconds == [2.0]
    assert [s.history_symbols() for s in yahoo.sessions] == [["AAPL", "MSFT"], ["MSFT"]]
    assert len(frames["AAPL"]) == len(frames["MSFT"]) == 10
    assert frames["MSFT"]["close"].iloc[-1] == 425.2200012207031


def test_a_network_failure_is_retried_and_recovers(yahoo: FakeYahoo) -> None:
    yahoo.broken_sessions = 1
    sleeps = Sleeps()
    frames = fetch(["AAPL", "MSFT"], data_cfg(), sleep=sleeps)

    assert sleeps.seconds == [2.0]
    assert len(yahoo.sessions) == 2 and yahoo.sessions[0].calls  # the first did reach "Yahoo"
    assert len(frames["AAPL"]) == len(frames["MSFT"]) == 10


def test_an_exception_out_of_download_is_retried(yahoo: FakeYahoo) -> None:
    yahoo.failing_session_factories = 1
    sleeps = Sleeps()
    frames = fetch(["AAPL"], data_cfg(), sleep=sleeps)
    assert sleeps.seconds == [2.0] and len(frames["AAPL"]) == 10


def test_an_exception_on_every_attempt_is_reported(yahoo: FakeYahoo) -> None:
    yahoo.failing_session_factories = 3
    sleeps = Sleeps()
    with pytest.raises(UpdownError, match=r"AAPL.*3 attempts; last error: RuntimeError: cannot"):
        fetch(["AAPL"], data_cfg(retries=2, backoff_seconds=0.5), sleep=sleeps)
    assert sleeps.seconds == [0.5, 1.0]


def test_tickers_are_fetched_in_batches(yahoo: FakeYahoo) -> None:
    for symbol in ("GOOG", "AMZN", "NVDA"):
        yahoo.charts[(symbol, "1d")] = relabel(load("AAPL_1d.json"), symbol)
    tickers = ["MSFT", "GOOG", "AAPL", "AMZN", "NVDA"]
    frames = fetch(tickers, data_cfg(batch_size=2))

    batches = [s.history_symbols() for s in yahoo.sessions]
    assert batches == [["GOOG", "MSFT"], ["AAPL", "AMZN"], ["NVDA"]]
    assert list(frames) == tickers
    assert all(len(bars) == 10 for bars in frames.values())


def test_bars_only_a_batch_mate_has_are_not_padded_in(yahoo: FakeYahoo) -> None:
    # GOOG lacks 2024-03-06 (say, a halt): yfinance pads that row with NaN when it joins the batch.
    gappy = load("MSFT_1d.json")
    result = relabel(gappy, "GOOG")["chart"]["result"][0]
    del result["timestamp"][3]
    for blocks in result["indicators"].values():
        for series in blocks:
            for values in series.values():
                del values[3]
    yahoo.charts[("GOOG", "1d")] = {"chart": {"result": [result], "error": None}}
    frames = fetch(["AAPL", "GOOG"], data_cfg())

    assert len(yahoo.sessions) == 1
    assert len(frames["AAPL"]) == 10 and len(frames["GOOG"]) == 9
    assert not frames["GOOG"].isna().any().any()
    assert ny_midnights_utc("2024-03-06")[0] not in set(frames["GOOG"]["timestamp"])


def test_lower_case_tickers_keep_their_name(yahoo: FakeYahoo) -> None:
    frames = fetch(["aapl"], data_cfg())
    assert list(frames) == ["aapl"] and len(frames["aapl"]) == 10


def test_importing_the_source_does_not_import_yfinance() -> None:
    code = "import sys, updown.data.sources.yahoo; print('yfinance' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
