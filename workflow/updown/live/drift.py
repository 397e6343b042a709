"""Feature drift: the population stability index (PSI) of each feature, recent bars against the
training block.

PSI = sum over bins of (recent share - training share) x ln(recent share / training share), with
bins at the training block's deciles (so each holds a tenth of the training rows) and shares
floored at 1e-4 so an empty bin stays finite. Rules of thumb: below 0.1 stable, 0.1 to 0.25 a
moderate shift, above 0.25 (`monitor.psi_threshold`) a shift worth an alert. Missing values are a
bin of their own: a feature that stops being computed drifts too.

A PSI measured on few rows is large by chance alone: with k bins and no drift its expectation is
about (k - 1) x (1 / n_recent + 1 / n_train) (the chi-square approximation) for independent rows.
Features are not independent bar to bar: a 60-bar volatility barely moves in 20 bars, so 20 bars
of it are worth far fewer than 20 draws. Each feature's n is therefore its effective size,
n x (1 - rho) / (1 + rho), with rho its lag-1 autocorrelation within tickers in the training
block (the AR(1) variance inflation). A feature is reported as drifted only when its PSI passes
the threshold plus its own noise level; one with less than one effective recent row per bin is
reported as untestable rather than judged (a short window of a slow feature cannot say).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import KEYS

BINS = 10
FLOOR = 1e-4
RHO_PAIRS = 200_000  # consecutive-bar pairs that estimate a feature's autocorrelation


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


def lag_pairs(tickers: np.ndarray, stamps: np.ndarray, limit: int = RHO_PAIRS) -> np.ndarray:
    """Row positions i (at most `limit`, evenly spread) whose next bar of the same ticker is the
    row `order[i + 1]`; returned as a (2, m) array of (row, next row)."""
    order = np.lexsort((stamps, tickers))
    same = np.flatnonzero(tickers[order][1:] == tickers[order][:-1])
    if len(same) > limit:
        same = same[np.linspace(0, len(same) - 1, limit).round().astype(np.int64)]
    return np.stack([order[same], order[same + 1]])


def autocorrelation(values: np.ndarray, pairs: np.ndarray) -> float:
    """Lag-1 autocorrelation of `values` over `pairs` (see lag_pairs); 0 when it cannot be
    estimated (too few pairs, a constant feature)."""
    a, b = values[pairs[0]], values[pairs[1]]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def effective_rows(rows: int, rho: float) -> float:
    """Rows worth of independent draws for a series of `rows` with lag-1 autocorrelation rho."""
    return rows * (1 - rho) / (1 + rho) if rho > 0 else float(rows)


def feature_drift(
    features: pd.DataFrame, train_end: dt.date, window_bars: int, threshold: float
) -> dict[str, Any]:
    """PSI per feature column of `features` (the features stage's table): the rows up to
    `train_end` against those of the last `window_bars` bars; the features above `threshold`
    plus their sampling noise, and those too slow to judge on so short a window."""
    stamps = pd.to_datetime(features["timestamp"], utc=True)
    cut = pd.Timestamp(train_end, tz="UTC") + pd.Timedelta(days=1)
    recent_bars = np.sort(stamps.unique())[-window_bars:]
    train, recent = features[stamps < cut], features[stamps.isin(recent_bars)]
    names = [c for c in features.columns if c not in KEYS and features[c].dtype.kind == "f"]
    pairs = lag_pairs(train["ticker"].to_numpy(), train["timestamp"].to_numpy())
    values, noise, untestable = {}, {}, []
    for n in names:
        reference, now = train[n].to_numpy("float64"), recent[n].to_numpy("float64")
        values[n] = psi(reference, now)
        rho = autocorrelation(reference, pairs)
        n_recent = effective_rows(len(recent), rho)
        noise[n] = (BINS - 1) * (
            1 / max(n_recent, 1e-9) + 1 / max(effective_rows(len(train), rho), 1e-9)
        )
        gone = len(now) > 0 and not np.isfinite(now).any() and np.isfinite(reference).any()
        if n_recent < BINS and not gone:
            untestable.append(n)
        if gone:
            noise[n] = 0.0  # a feature no longer computed has drifted, however slow it is
    ranked = sorted(
        ((n, v) for n, v in values.items() if np.isfinite(v)), key=lambda nv: (-nv[1], nv[0])
    )
    drifted = [n for n, v in ranked if n not in untestable and v > threshold + noise[n]]
    return {
        "train_rows": len(train),
        "recent_rows": len(recent),
        "noise": {n: noise[n] for n, _ in ranked},
        "untestable": sorted(untestable),
        "recent_from": pd.Timestamp(recent_bars[0]) if len(recent_bars) else None,
        "threshold": threshold,
        "psi": dict(ranked),
        "drifted": drifted,
    }
