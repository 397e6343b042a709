"""Labels: what happens after bar t. Every row keeps the end time of the window it looked at."""

from __future__ import annotations

import numpy as np
import pandas as pd

from updown.config import LabelConfig
from updown.panel import adjusted_ohlc, check_sorted, lead, rows_left_in_ticker

LABEL_COLUMNS = ["ticker", "timestamp", "label", "forward_return", "label_end"]


def forward_log_return(panel: pd.DataFrame, horizon: int) -> tuple[pd.Series, pd.Series]:
    """log(close[t + horizon] / close[t]) per ticker, and the timestamp of bar t + horizon."""
    left = rows_left_in_ticker(panel["ticker"])
    close = adjusted_ohlc(panel)["close"]
    fwd = np.log(lead(close, horizon, left) / close)
    end = panel["timestamp"].shift(-horizon).where(left >= horizon)
    return fwd, end


def direction_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """1 if the forward log return over `horizon` bars exceeds `threshold`, 0 if below -threshold.

    Rows inside the dead zone (|r| <= threshold, when threshold > 0) and rows whose horizon runs
    past the end of the data are dropped. Shape: one row per labelled (ticker, timestamp).
    """
    check_sorted(panel)
    fwd, end = forward_log_return(panel, cfg.horizon)
    keep = fwd.notna() & ((fwd.abs() > cfg.threshold) | (cfg.threshold == 0))
    out = pd.DataFrame(
        {
            "ticker": panel["ticker"],
            "timestamp": panel["timestamp"],
            "label": (fwd > cfg.threshold).astype("int8"),
            "forward_return": fwd,
            "label_end": end,
        }
    )
    return out.loc[keep].reset_index(drop=True)


def make_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    labels = direction_labels(panel, cfg)
    labels.attrs = {"label_kind": cfg.kind, "horizon": str(cfg.horizon)}
    return labels
