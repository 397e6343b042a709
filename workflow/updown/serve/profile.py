"""The profile of a trained model, measured on the panel it was trained on: its bar interval,
the warm-up its feature windows need, the widest gap it saw, its tickers and which of its
features are cross-sectional. updown.serve.scoring checks every window it scores against it;
the track stage stores it with the MLflow model.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig, Params
from updown.contract import SEGMENT
from updown.errors import UpdownError
from updown.serve.scoring import (
    PROBABILITY_OBJECTIVES,
    ModelProfile,
    compute_features,
    last_bars,
    served_booster,
    utc_times,
)

# How many tickers (and bars each, in multiples of history_bars) to compute features on when
# measuring the warm-up: enough to see every window fill, cheap on any universe.
PROFILE_TICKERS = 20


def objective_of(model_text: str) -> str:
    """The LightGBM objective named in a text model's header ('binary', 'regression', ...)."""
    found = re.search(r"^objective=(\S+)", model_text, re.M)
    if found is None:
        raise UpdownError("model: no objective in the model text (is it a LightGBM text model?)")
    return found.group(1)


def first_bars(panel: pd.DataFrame, n: int) -> pd.DataFrame:
    return panel.groupby("ticker", sort=False).head(n).reset_index(drop=True)


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
    booster = served_booster(model_text)
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
    same = codes[1:] == codes[:-1]
    if SEGMENT in prices.columns:  # a gap between segments was cut, never learned across
        segment = prices[SEGMENT].to_numpy()
        same &= segment[1:] == segment[:-1]
    gaps = (ts[1:] - ts[:-1])[same]
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
