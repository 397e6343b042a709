"""Answer "up or down from here, and how sure?" for the latest bar of a window of raw bars.

One scoring path serves the predict stage (reports/latest.csv), the `updown predict --ticker`
command and the MLflow pyfunc model (updown.serve.serving): each hands raw OHLCV bars to `score_bars`,
which checks them against the model's profile, keeps the last `history_bars` bars per ticker,
computes features with updown.learn.features.make_features (the function training used) and scores
the last bar of each ticker. Because every path trims to the same window before computing
features, the same bars give the same answer to the last bit, however much history a caller
sends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig, Params
from updown.contract import PANEL_COLUMNS, PRICE_COLUMNS
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.learn.features import make_features

if TYPE_CHECKING:
    from collections.abc import Callable

    import lightgbm as lgb


INTERVALS = {"1d": pd.Timedelta(days=1), "1h": pd.Timedelta(hours=1)}
# A window's typical bar spacing, as a multiple of the nominal interval, that still counts as
# that interval: daily bars are 1 day apart (3 over a weekend), hourly bars 1 hour.
SPACING_RANGE = (0.5, 3.5)
# Bars per calendar day, to turn a number of bars into a look-back when fetching.
BARS_PER_DAY = {"1d": 250 / 365, "1h": 7 * 250 / 365}
PROBABILITY_OBJECTIVES = ("binary", "cross_entropy", "xentropy", "multiclass", "multiclassova")
# Class codes of updown.learn.label: 0 down, 1 up, 2 flat (a kept dead zone).
CLASS_NAMES = ("down", "up", "flat")
# How many tickers (and bars each, in multiples of history_bars) to compute features on when
# measuring the warm-up: enough to see every window fill, cheap on any universe.
PROFILE_TICKERS = 20
_LISTED = 8


@dataclass(frozen=True)
class ModelProfile:
    """What the trained model expects of the bars it scores; stored with the MLflow model."""

    interval: str
    label_kind: str
    objective: str
    threshold: float
    feature_names: tuple[str, ...]
    min_history: int
    history_bars: int
    max_gap_seconds: float
    tickers: tuple[str, ...]
    cross_sectional: tuple[str, ...]
    run_id: str = ""

    @property
    def probability(self) -> bool:
        """True when the model outputs P(up); False when it predicts a return."""
        return self.objective in PROBABILITY_OBJECTIVES

    @property
    def output(self) -> str:
        return "p_up" if self.probability else "predicted_return"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelProfile:
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names
        }
        return cls(**values)


def objective_of(model_text: str) -> str:
    """The LightGBM objective named in a text model's header ('binary', 'regression', ...)."""
    found = re.search(r"^objective=(\S+)", model_text, re.M)
    if found is None:
        raise UpdownError("model: no objective in the model text (is it a LightGBM text model?)")
    return found.group(1)


def load_booster(model_text: str) -> lgb.Booster:
    import lightgbm as lgb

    try:
        return lgb.Booster(model_str=model_text)
    except lgb.basic.LightGBMError as exc:
        raise UpdownError(f"model: cannot load the LightGBM text model: {exc}") from exc


def compute_features(panel: pd.DataFrame, cfg: FeaturesConfig, interval: str) -> pd.DataFrame:
    """make_features exactly as the features stage calls it."""
    return make_features(panel, cfg, intraday=interval != "1d")


def last_bars(panel: pd.DataFrame, n: int) -> pd.DataFrame:
    """The last `n` rows of each ticker of a sorted panel, with a fresh index."""
    return panel.groupby("ticker", sort=False).tail(n).reset_index(drop=True)


def first_bars(panel: pd.DataFrame, n: int) -> pd.DataFrame:
    return panel.groupby("ticker", sort=False).head(n).reset_index(drop=True)


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return ", ".join(items[:_LISTED]) + more


def warmup_bars(
    prices: pd.DataFrame, cfg: FeaturesConfig, interval: str, names: list[str], bars: int
) -> int:
    """Bars a ticker needs before every model feature has a value: measured by computing the
    features on the first `bars` bars of (up to PROFILE_TICKERS) training tickers."""
    tickers = sorted(prices["ticker"].unique())[:PROFILE_TICKERS]
    head = first_bars(prices[prices["ticker"].isin(tickers)].reset_index(drop=True), bars)
    feats = compute_features(head, cfg, interval)
    present = [n for n in names if n in feats.columns]
    pos = head.groupby("ticker", sort=False).cumcount().to_numpy()
    valid = feats[present].notna().to_numpy()
    first = np.where(valid, pos[:, None], np.iinfo(np.int64).max)
    # A window fills at the same bar for every ticker; the earliest ticker shows it, a ticker
    # whose feature is undefined for long (a flat price, say) does not.
    per_feature = (
        pd.DataFrame(first, columns=present).groupby(head["ticker"].to_numpy()).min().min()
    )
    filled = per_feature[per_feature < np.iinfo(np.int64).max]
    return int(filled.max()) + 1 if len(filled) else 1


def cross_sectional_features(
    window: pd.DataFrame,
    cfg: FeaturesConfig,
    interval: str,
    names: list[str],
    together: pd.DataFrame | None = None,
) -> list[str]:
    """Model features whose value for a ticker changes when other tickers are in the panel
    (ranks across tickers, say): found by computing one ticker alone and within the panel
    (`together`: the window's features, when already computed)."""
    if window["ticker"].nunique() < 2:
        return []
    if together is None:
        together = compute_features(window, cfg, interval)
    ticker = window["ticker"].iloc[0]
    mine = together["ticker"] == ticker
    alone = compute_features(
        window[window["ticker"] == ticker].reset_index(drop=True), cfg, interval
    )
    out = []
    for name in names:
        if name not in alone.columns:
            out.append(name)
            continue
        a = alone[name].to_numpy(dtype="float64")
        b = together.loc[mine, name].to_numpy(dtype="float64")
        if not np.array_equal(a, b, equal_nan=True):
            out.append(name)
    return out


def utc_times(timestamps: pd.Series) -> np.ndarray:
    """Timestamps as numpy datetime64 in UTC: differences and comparisons without building a
    Timestamp object per row (what .to_numpy() of tz-aware values does)."""
    index = pd.DatetimeIndex(timestamps)
    return (index.tz_convert(None) if index.tz is not None else index).to_numpy()


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


def model_profile(
    prices: pd.DataFrame,
    model_text: str,
    params: Params,
    run_id: str = "",
    window: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> ModelProfile:
    """The profile of a model trained on `prices` (the validated panel) with `params`.

    `window`: the last history_bars bars of every ticker of `prices` and their features, when
    the caller has them already (they are computed otherwise)."""
    booster = load_booster(model_text)
    names = list(booster.feature_name())
    interval, history = params.data.interval, params.predict.history_bars
    if prices.empty:
        raise UpdownError("prices: the price panel is empty")
    need = warmup_bars(prices, params.features, interval, names, 2 * history)
    if need > history:
        raise UpdownError(
            f"predict.history_bars: {history} bars per ticker are too few; the feature windows "
            f"need {need} (raise predict.history_bars)"
        )
    ts = utc_times(prices["timestamp"])
    codes = pd.factorize(prices["ticker"])[0]
    gaps = (ts[1:] - ts[:-1])[codes[1:] == codes[:-1]]
    max_gap = pd.Timedelta(gaps.max()).total_seconds() if len(gaps) else 0.0
    bars, feats = window if window is not None else (last_bars(prices, history), None)
    cross = cross_sectional_features(bars, params.features, interval, names, together=feats)
    objective = objective_of(model_text)
    return ModelProfile(
        interval=interval,
        label_kind=params.label.kind,
        objective=objective,
        threshold=float(params.evaluate.threshold) if objective in PROBABILITY_OBJECTIVES else 0.0,
        feature_names=tuple(names),
        min_history=need,
        history_bars=history,
        max_gap_seconds=float(max_gap),
        tickers=tuple(sorted(prices["ticker"].unique())),
        cross_sectional=tuple(cross),
        run_id=run_id,
    )


def _timestamps(values: pd.Series) -> pd.Series:
    """Tz-aware UTC timestamps from datetimes or ISO 8601 text; naive values are taken as UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    try:
        if values.dtype.kind == "M":
            return values.dt.tz_localize("UTC")
        return pd.to_datetime(values.astype("str"), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        sample = values.astype("str").head(2).tolist()
        raise UpdownError(
            f"timestamp: cannot read {sample} as ISO 8601 times (e.g. 2018-06-29T04:00:00Z)"
        ) from exc


def prepare_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Raw bars as a sorted panel: ticker, UTC timestamp, float prices. Refuses missing columns,
    unreadable or missing values, non-positive prices and repeated timestamps."""
    missing = [c for c in PANEL_COLUMNS if c not in bars.columns]
    if missing:
        raise UpdownError(
            f"bars: missing column(s) {', '.join(missing)}; the model reads "
            f"{', '.join(PANEL_COLUMNS)} (got {', '.join(map(str, bars.columns))})"
        )
    if bars.empty:
        raise UpdownError("bars: no rows")
    panel = pd.DataFrame({"ticker": bars["ticker"].astype("str").to_numpy()})
    panel["timestamp"] = _timestamps(bars["timestamp"].reset_index(drop=True))
    for col in PRICE_COLUMNS:
        values = pd.to_numeric(bars[col].reset_index(drop=True), errors="coerce")
        panel[col] = values.astype("float64")
        bad = panel[col].isna() | ~np.isfinite(panel[col])
        if col != "volume":
            bad |= panel[col] <= 0
        else:
            bad |= panel[col] < 0
        if bad.any():
            row = panel.loc[bad.idxmax()]
            raise UpdownError(
                f"bars: {col} is missing, not a number or out of range in {int(bad.sum())} "
                f"row(s), first {row['ticker']} at {row['timestamp']}: {bars[col].iloc[bad.idxmax()]!r}"
            )
    if panel["timestamp"].isna().any():
        raise UpdownError("bars: some timestamps are missing")
    panel = panel.sort_values(["ticker", "timestamp"], ignore_index=True, kind="mergesort")
    dup = panel.duplicated(["ticker", "timestamp"])
    if dup.any():
        row = panel.loc[dup.idxmax()]
        raise UpdownError(f"bars: {row['ticker']} has two bars at {row['timestamp']}")
    return panel


def _spacing(window: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Time between consecutive bars of the same ticker, and the index of the later bar."""
    codes = pd.factorize(window["ticker"])[0]
    ts = utc_times(window["timestamp"])
    same = codes[1:] == codes[:-1]
    return (ts[1:] - ts[:-1])[same], np.nonzero(same)[0] + 1


def check_window(window: pd.DataFrame, profile: ModelProfile) -> None:
    """Refuse a window the model cannot answer for as it was trained: another bar interval,
    too little history for the feature windows, gaps longer than any in training, or (for a
    model with cross-sectional features) a different set of tickers."""
    counts = window.groupby("ticker", sort=True).size()
    spacing, later = _spacing(window)
    nominal = INTERVALS[profile.interval]
    if len(spacing):
        typical = pd.Timedelta(np.median(spacing))
        lo, hi = SPACING_RANGE
        if not lo * nominal <= typical <= hi * nominal:
            raise UpdownError(
                f"bars: the bars are {typical} apart (median), not {profile.interval} bars as "
                f"the model was trained on (data.interval: {profile.interval})"
            )
    short = counts[counts < profile.min_history]
    if len(short):
        listed = [f"{t} has {n}" for t, n in short.items()]
        raise UpdownError(
            f"bars: too short a history for the feature windows: the model needs at least "
            f"{profile.min_history} bars per ticker ({profile.history_bars} are used); "
            f"{_listed(listed)}"
        )
    if len(spacing):
        widest = int(np.argmax(spacing))
        if pd.Timedelta(spacing[widest]).total_seconds() > profile.max_gap_seconds:
            row = later[widest]
            raise UpdownError(
                f"bars: {window['ticker'].iloc[row]} has a gap of {pd.Timedelta(spacing[widest])} "
                f"before {window['timestamp'].iloc[row]}; the model never saw a gap longer than "
                f"{pd.Timedelta(seconds=profile.max_gap_seconds)} in training"
            )
    if profile.cross_sectional:
        got = sorted(counts.index)
        if got != sorted(profile.tickers):
            raise UpdownError(
                f"bars: the model ranks features across tickers "
                f"({_listed(list(profile.cross_sectional))}), so it needs bars of exactly its "
                f"{len(profile.tickers)} training tickers ({_listed(list(profile.tickers))}); "
                f"got {_listed(got)}"
            )


def score_bars(
    bars: pd.DataFrame, booster: lgb.Booster, features_cfg: FeaturesConfig, profile: ModelProfile
) -> pd.DataFrame:
    """One row per ticker for the last bar of `bars`: ticker, as_of (ISO 8601 UTC), direction
    (up/down), p_up (or predicted_return for a return model) and the model's run id."""
    window = last_bars(prepare_bars(bars), profile.history_bars)
    return score_window(window, booster, features_cfg, profile)


def score_window(
    window: pd.DataFrame,
    booster: lgb.Booster,
    features_cfg: FeaturesConfig,
    profile: ModelProfile,
    feats: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """score_bars on bars already prepared and cut to the last history_bars of each ticker
    (`feats`: their features, when already computed)."""
    check_window(window, profile)
    if feats is None:
        feats = compute_features(window, features_cfg, profile.interval)
    names = list(profile.feature_names)
    absent = [n for n in names if n not in feats.columns]
    if absent:
        raise UpdownError(
            f"bars: these bars do not yield the model's feature(s) {_listed(absent)} "
            "(check features in params.yaml against the model's)"
        )
    last = feats.groupby("ticker", sort=True).tail(1).reset_index(drop=True)
    raw = np.asarray(booster.predict(last[names]), dtype="float64")
    if raw.ndim == 2:  # one probability per class: the most likely class is the answer
        classes = CLASS_NAMES[: raw.shape[1]]
        direction = np.asarray(classes)[raw.argmax(axis=1)]
        values = {f"p_{c}": raw[:, k] for k, c in enumerate(classes)}
    else:
        cut = profile.threshold if profile.probability else 0.0
        direction = np.where(raw > cut, "up", "down")
        values = {profile.output: raw}
    return pd.DataFrame(
        {
            "ticker": last["ticker"].astype("str").to_numpy(),
            "as_of": [t.isoformat() for t in pd.DatetimeIndex(last["timestamp"])],
            "direction": direction,
            **values,
            "run_id": profile.run_id,
        }
    )


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
    out = score_window(window, load_booster(model_text), params.features, profile, feats)
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
    scored = score_bars(bars, load_booster(model_text), params.features, profile)
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
