"""validate's all-tickers-at-once path (updown.data.validate_clean): a clean ticker gets exactly
the bars, segments and report the ticker-by-ticker checks give it, and any ticker with a doubt
goes through those checks, so validate_all's panel and report are the same either way."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from updown.config import ValidateConfig, load_params
from updown.data import validate
from updown.data.validate_clean import CleanTickers, clean_tickers

N = 400
ROOT = Path(__file__).resolve().parents[1]


def bars(seed: int, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    frame = pd.DataFrame(
        {
            "timestamp": pd.bdate_range("2015-01-01", periods=n, tz="UTC") + pd.Timedelta(hours=21),
            "open": close * 1.001,
            "high": close * 1.02,
            "low": close * 0.98,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(0, 5, n).astype("float64") * 1000,
        }
    )
    frame.attrs["origin"] = f"file{seed}.csv"
    return frame


def dirty(frame: pd.DataFrame, how: Callable[[pd.DataFrame], None]) -> pd.DataFrame:
    out = frame.copy()
    how(out)
    return out


def _gap(f: pd.DataFrame) -> None:
    f["timestamp"] = f["timestamp"].where(f.index < 200, f["timestamp"] + pd.Timedelta(days=30))


def _jump(f: pd.DataFrame) -> None:
    f.loc[250:, ["open", "high", "low", "close", "adj_close"]] *= 2.0


def _nan(f: pd.DataFrame) -> None:
    f.loc[10, "close"] = np.nan


def _bad_high(f: pd.DataFrame) -> None:
    f.loc[20, "high"] = 1.0


def _unsorted(f: pd.DataFrame) -> None:
    t = f["timestamp"].to_numpy(copy=True)
    t[[5, 6]] = t[[6, 5]]
    f["timestamp"] = pd.DatetimeIndex(t)


def _no_volume(f: pd.DataFrame) -> None:
    f["volume"] = 0.0


def _int_volume(f: pd.DataFrame) -> None:
    f["volume"] = f["volume"].astype("int64")


def _inf(f: pd.DataFrame) -> None:
    f.loc[30, "volume"] = np.inf


DIRT = {
    "GAP": _gap,
    "JUMP": _jump,
    "NAN": _nan,
    "BADHIGH": _bad_high,
    "UNSORTED": _unsorted,
    "NOVOL": _no_volume,
    "INTVOL": _int_volume,
    "INF": _inf,
}


def panel() -> dict[str, pd.DataFrame]:
    raw = {f"OK{i}": bars(i) for i in range(3)}
    raw.update({name: dirty(bars(10 + i), how) for i, (name, how) in enumerate(DIRT.items())})
    raw["SHORT"] = bars(30, n=50)
    raw["NOCOL"] = bars(31).drop(columns=["volume"])
    return raw


def ticker_by_ticker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "clean_tickers", lambda raw, cfg: CleanTickers({}, {}, {}, {}))


def base_cfg() -> ValidateConfig:
    return dataclasses.replace(
        load_params(ROOT / "params.yaml").validate, on_error="drop", min_rows=100
    )


@pytest.mark.parametrize(
    "change",
    [{}, {"max_gap_days": 2}, {"max_abs_log_return": 0.03}, {"bad_rows": "fail"}],
    ids=["defaults", "short-gaps", "small-jumps", "bad-rows-fail"],
)
def test_validate_all_is_the_same_with_and_without_the_all_at_once_path(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, object]
) -> None:
    cfg = dataclasses.replace(base_cfg(), **change)
    fast_panel, fast_report = validate.validate_all(panel(), cfg)
    ticker_by_ticker(monkeypatch)
    slow_panel, slow_report = validate.validate_all(panel(), cfg)
    pd.testing.assert_frame_equal(fast_panel, slow_panel, check_exact=True)
    assert json.dumps(fast_report, default=str) == json.dumps(slow_report, default=str)


def test_only_tickers_without_a_doubt_take_the_all_at_once_path() -> None:
    clean = clean_tickers(panel(), base_cfg())
    assert sorted(clean.segments) == ["GAP", "JUMP", "OK0", "OK1", "OK2"]
    assert clean.segments["GAP"].tolist() == [0] * 200 + [1] * 200
    assert len(clean.gaps["GAP"]) == 1 and clean.gaps["GAP"][0]["days"] > 7
    (jump,) = clean.jumps["JUMP"]  # the doubling, plus that day's own move
    assert jump["at"] == bars(0)["timestamp"].iloc[250].isoformat()
    assert abs(jump["log_return"] - np.log(2.0)) < 0.1
    on_gap_fail = clean_tickers(panel(), dataclasses.replace(base_cfg(), on_gap="fail"))
    assert "GAP" not in on_gap_fail.segments  # validate_ticker raises the error that names it
