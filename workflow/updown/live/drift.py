"""Feature drift: the population stability index (PSI) of each feature, recent bars against the
training block.

PSI = sum over bins of (recent share - training share) x ln(recent share / training share), with
bins at the training block's deciles (so each holds a tenth of the training rows) and shares
floored at 1e-4 so an empty bin stays finite. Rules of thumb: below 0.1 stable, 0.1 to 0.25 a
moderate shift, above 0.25 (`monitor.psi_threshold`) a shift worth an alert. Missing values are a
bin of their own: a feature that stops being computed drifts too.

A PSI measured on few rows is large by chance alone: with k bins and no drift its expectation is
about (k - 1) x (1 / n_recent + 1 / n_train) (the chi-square approximation). A feature is
reported as drifted only when its PSI passes the threshold plus that noise level, so a short
window does not raise alerts on sampling noise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import KEYS

BINS = 10
FLOOR = 1e-4


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = BINS) -> float:
    """The PSI of `recent` against `reference` (see the module's docstring); NaN when the
    reference has no finite value or `recent` is empty."""
    ref = reference[np.isfinite(reference)]
    if len(ref) == 0 or len(recent) == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        finite = np.isfinite(values)
        counts = np.bincount(
            np.searchsorted(edges, values[finite], side="right"), minlength=len(edges) + 1
        )
        counts = np.append(counts, (~finite).sum())
        return np.maximum(counts / len(values), FLOOR)

    e, a = shares(reference), shares(recent)
    return float(((a - e) * np.log(a / e)).sum())


def feature_drift(
    features: pd.DataFrame, train_end: dt.date, window_bars: int, threshold: float
) -> dict[str, Any]:
    """PSI per feature column of `features` (the features stage's table): the rows up to
    `train_end` against those of the last `window_bars` bars; the features above `threshold`."""
    stamps = pd.to_datetime(features["timestamp"], utc=True)
    cut = pd.Timestamp(train_end, tz="UTC") + pd.Timedelta(days=1)
    recent_bars = np.sort(stamps.unique())[-window_bars:]
    train, recent = features[stamps < cut], features[stamps.isin(recent_bars)]
    names = [c for c in features.columns if c not in KEYS and features[c].dtype.kind == "f"]
    values = {n: psi(train[n].to_numpy("float64"), recent[n].to_numpy("float64")) for n in names}
    ranked = sorted(
        ((n, v) for n, v in values.items() if np.isfinite(v)), key=lambda nv: (-nv[1], nv[0])
    )
    noise = (BINS - 1) * (1 / max(len(recent), 1) + 1 / max(len(train), 1))
    drifted = [n for n, v in ranked if v > threshold + noise]
    return {
        "train_rows": len(train),
        "recent_rows": len(recent),
        "noise": noise,
        "recent_from": pd.Timestamp(recent_bars[0]) if len(recent_bars) else None,
        "threshold": threshold,
        "psi": dict(ranked),
        "drifted": drifted,
    }
