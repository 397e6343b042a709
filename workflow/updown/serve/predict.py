"""The predict stage's latest bars and the one-ticker answer of `updown predict --ticker`.

Both score through updown.serve.scoring (the path the MLflow pyfunc model takes too) and add
what only they know: which bars to score (the latest of every ticker, or a ticker's last bar at
or before --as-of, fetched from the source when the acquired data stops short) and whether the
scored bar is stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from updown.config import Params
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.serve.profile import model_profile
from updown.serve.scoring import (
    ModelProfile,
    compute_features,
    last_bars,
    prepare_bars,
    score_bars,
    score_window,
    served_booster,
    utc_times,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# Bars per calendar day, to turn a number of bars into a look-back when fetching.
BARS_PER_DAY = {"1d": 250 / 365, "1h": 7 * 250 / 365}


def time_ordered(panel: pd.DataFrame) -> bool:
    """True when each ticker's rows are contiguous and in increasing time (a validated panel):
    then the last rows of a ticker are its latest bars."""
    if len(panel) < 2:
        return True
    codes = pd.factorize(panel["ticker"])[0]
    same = codes[1:] == codes[:-1]
    if int((~same).sum()) != int(codes.max()):  # a ticker's rows are split in several runs
        return False
    ts = utc_times(panel["timestamp"])
    return bool((ts[1:] > ts[:-1])[same].all())


def bars_behind(last: pd.Series, reference: pd.Timestamp, interval: str) -> np.ndarray:
    """How many bars the interval implies between each `last` bar and `reference`: business
    days for daily bars; for hourly bars, hours on the same day plus 7 bars per business day."""
    last_days = pd.DatetimeIndex(last).tz_convert("UTC").normalize().tz_localize(None)
    ref_day = reference.tz_convert("UTC").normalize().tz_localize(None)
    first = (last_days + pd.Timedelta(days=1)).to_numpy().astype("datetime64[D]")
    end = np.datetime64(ref_day + pd.Timedelta(days=1), "D")
    days = np.busday_count(first, end)
    days = np.maximum(days, 0)
    if interval == "1d":
        return np.asarray(days, dtype=np.int64)
    hours = (reference - pd.DatetimeIndex(last)) / pd.Timedelta(hours=1)
    return np.where(days == 0, np.floor(np.maximum(hours, 0)), days * 7).astype(np.int64)


def predict_latest(
    prices: pd.DataFrame, model_text: str, params: Params, run_id: str
) -> pd.DataFrame:
    """reports/latest.csv: the latest bar of every ticker scored, flagged stale when it lags the
    panel's newest bar by more than predict.max_staleness_bars bars."""
    if prices.empty:
        raise UpdownError("prices: the price panel is empty")
    history = params.predict.history_bars
    # Only the last history_bars bars of each ticker are scored: on a validated panel they are
    # cut out before anything else touches the rows, and their features, computed once, serve
    # both the profile's cross-sectional check and the answer (score_bars gives the same).
    recent = last_bars(prices, history) if time_ordered(prices) else prices
    window = last_bars(prepare_bars(recent), history)
    feats = compute_features(window, params.features, params.data.interval)
    profile = model_profile(prices, model_text, params, run_id, window=(window, feats))
    out = score_window(window, served_booster(model_text), params.features, profile, feats)
    as_of = pd.to_datetime(out["as_of"], utc=True, format="ISO8601")
    behind = bars_behind(as_of, as_of.max(), profile.interval)
    return out.assign(stale=behind > params.predict.max_staleness_bars)


def parse_as_of(text: str) -> tuple[pd.Timestamp, bool]:
    """An --as-of value as a UTC instant: a date means the end of that day (UTC); a time
    without a zone is UTC. Also returns whether it was a plain date."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            day = pd.Timestamp(dt.date.fromisoformat(text.strip()), tz="UTC")
            return day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1), True
        ts = pd.Timestamp(text.strip())
    except ValueError as exc:
        raise UpdownError(f"--as-of: {text!r} is not a date or time (e.g. 2018-06-29)") from exc
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")), False


def lookback_days(profile: ModelProfile) -> int:
    """Calendar days of bars to fetch so that `history_bars` bars arrive, with room to spare."""
    return int(np.ceil(profile.history_bars / BARS_PER_DAY[profile.interval] * 1.25)) + 14


def answer(
    prices: pd.DataFrame,
    ticker: str,
    as_of: pd.Timestamp | None,
    model_text: str,
    params: Params,
    profile: ModelProfile,
) -> dict[str, Any]:
    """The question for one ticker at one time: its last bar at or before `as_of` (the newest if
    None) scored with the other tickers the model needs; `stale` when that bar lags `as_of`."""
    needed = list(profile.tickers) if profile.cross_sectional else [ticker]
    if ticker not in needed:
        needed.append(ticker)
    bars = prices[prices["ticker"].isin(needed)]
    if as_of is not None:
        bars = bars[bars["timestamp"] <= as_of]
    if not (bars["ticker"] == ticker).any():
        when = f" at or before {as_of}" if as_of is not None else ""
        raise UpdownError(f"ticker {ticker}: no bars{when} in the data")
    scored = score_bars(bars, served_booster(model_text), params.features, profile)
    row = scored[scored["ticker"] == ticker].iloc[0].to_dict()
    bar_time = pd.Timestamp(row["as_of"])
    reference = as_of if as_of is not None else pd.Timestamp(bars["timestamp"].max())
    behind = int(bars_behind(pd.Series([bar_time]), reference, profile.interval)[0])
    row["stale"] = bool(behind > params.predict.max_staleness_bars)
    return row


def fetch_bars(
    tickers: list[str],
    as_of: pd.Timestamp,
    params: Params,
    profile: ModelProfile,
    fetch: Callable[[list[str], Any], dict[str, pd.DataFrame]],
) -> pd.DataFrame:
    """Bars of `tickers` up to `as_of` from the configured source, validated as the pipeline
    validates them, when the acquired data does not reach that far."""
    start = (as_of - pd.Timedelta(days=lookback_days(profile))).date()
    data = dataclasses.replace(params.data, tickers=tuple(tickers), start=start, end=as_of.date())
    raw = fetch(list(tickers), data)
    cfg = dataclasses.replace(
        params.validate, min_rows=profile.min_history, on_error="fail", overrides={}
    )
    panel, _ = validate_all(raw, cfg)
    return panel
