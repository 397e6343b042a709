"""Score the latest bar of each ticker: up or down, and how sure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig, PredictConfig

INTERVALS = {"1d": pd.Timedelta(days=1), "1h": pd.Timedelta(hours=1)}


def latest_rows(features: pd.DataFrame) -> pd.DataFrame:
    """The last row of each ticker."""
    return features.groupby("ticker", sort=True).tail(1).reset_index(drop=True)


def predict_latest(
    prices: pd.DataFrame,
    model_text: str,
    features_cfg: FeaturesConfig,
    cfg: PredictConfig,
    interval: str,
    threshold: float,
    run_id: str,
) -> pd.DataFrame:
    """One row per ticker: as-of timestamp, direction, P(up), run id, staleness flag."""
    import lightgbm as lgb

    from updown.features import make_features

    booster = lgb.Booster(model_str=model_text)
    feats = latest_rows(make_features(prices, features_cfg, intraday=interval != "1d"))
    p_up = np.asarray(booster.predict(feats[booster.feature_name()]), dtype=float)
    newest = feats["timestamp"].max()
    # Daily bars skip weekends and holidays: allow for them before calling a bar stale.
    slack = INTERVALS[interval] * cfg.max_staleness_bars * (1.5 if interval == "1d" else 1.0)
    return pd.DataFrame(
        {
            "ticker": feats["ticker"],
            "as_of": feats["timestamp"].map(lambda t: t.isoformat()),
            "direction": np.where(p_up > threshold, "up", "down"),
            "p_up": np.round(p_up, 6),
            "run_id": run_id,
            "stale": (newest - feats["timestamp"]) > slack,
        }
    )
