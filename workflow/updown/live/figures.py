"""Live figures of matured calls: what the monitor reports and what the promotion gate compares.

Input: one row per matured call with `direction` (the call), `score` (P(up), or the predicted
return of a regression model), `p_up` (NaN for a regression model), `realised` (the tradable
forward log return, updown.returns) and `as_of`. The outcome is up when the realised return is
above 0 (the direction label's rule at threshold 0: a tie is down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EPS = 1e-15  # probabilities clipped to [EPS, 1 - EPS] in the log loss (as assess.metrics)


@dataclass(frozen=True)
class LiveMetric:
    name: str
    higher_is_better: bool
    test_name: str  # the figure in metrics.json's `model` block it is compared with
    glossary: str


LIVE_METRICS: dict[str, LiveMetric] = {
    m.name: m
    for m in (
        LiveMetric("hit_rate", True, "accuracy", "share of matured calls that were right"),
        LiveMetric("brier", False, "brier", "mean squared error of P(up)"),
        LiveMetric("log_loss", False, "log_loss", "mean negative log-likelihood of P(up)"),
        LiveMetric("roc_auc", True, "roc_auc", "chance an up bar outranks a down bar"),
        LiveMetric("rank_ic", True, "rank_ic_mean", "mean over bars of the rank correlation"),
    )
}


def roc_auc(score: np.ndarray, up: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half; NaN unless both outcomes occur."""
    n_up, n_down = int(up.sum()), int((~up).sum())
    if n_up == 0 or n_down == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[up].sum() - n_up * (n_up + 1) / 2) / (n_up * n_down))


def rank_ic(rows: pd.DataFrame) -> tuple[float, int]:
    """Mean over as-of bars of the Spearman correlation of score and realised return across
    tickers (bars with at least two tickers and some spread), and the number of such bars."""
    per_bar = []
    for _, bar in rows.groupby("as_of", sort=True):
        if len(bar) < 2:
            continue
        a = bar["score"].rank().to_numpy()
        b = bar["realised"].rank().to_numpy()
        if a.std() == 0 or b.std() == 0:
            continue
        per_bar.append(float(np.corrcoef(a, b)[0, 1]))
    return (float(np.mean(per_bar)) if per_bar else float("nan")), len(per_bar)


def live_figures(rows: pd.DataFrame) -> dict[str, float | int]:
    """The live figures of `rows` (see the module's docstring), NaN where undefined."""
    up = rows["realised"].to_numpy("float64") > 0
    call_up = rows["direction"].to_numpy(str) == "up"
    p = rows["p_up"].to_numpy("float64")
    probability = len(p) > 0 and bool(np.isfinite(p).all())
    y = up.astype("float64")
    clipped = np.clip(p, EPS, 1 - EPS)
    ic, ic_bars = rank_ic(rows)
    nan = float("nan")
    return {
        "rows": len(rows),
        "bars": int(rows["as_of"].nunique()),
        "hit_rate": float((call_up == up).mean()) if len(rows) else nan,
        "up_rate": float(y.mean()) if len(rows) else nan,
        "brier": float(((p - y) ** 2).mean()) if probability else nan,
        "log_loss": float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean())
        if probability
        else nan,
        "mean_p_up": float(p.mean()) if probability else nan,
        "roc_auc": roc_auc(rows["score"].to_numpy("float64"), up),
        "rank_ic": ic,
        "rank_ic_bars": ic_bars,
    }


def better(metric: str, a: float, b: float, margin: float) -> bool:
    """Whether figure `a` beats `b` by more than `margin` on `metric` (its direction)."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return False
    sign = 1.0 if LIVE_METRICS[metric].higher_is_better else -1.0
    return bool(sign * (a - b) > margin)
