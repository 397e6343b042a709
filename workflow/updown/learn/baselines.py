"""The baselines a model must beat, fitted on the training block and stored as plain JSON numbers.

Every contender (the model and each baseline) gives three things for each row:

- ``score``: a ranking; higher means "more likely up" or "higher return" (ROC AUC, IC, rank IC and
  the cross-sectional backtest use it);
- ``value``: P(up) for a classification label, the predicted return for a regression label (log
  loss, Brier, RMSE, MAE and calibration use it);
- ``up``: the call, up or down (accuracy, the confusion matrix and the long/flat backtest use it).

The rule baselines (momentum, reversal) make a hard call. Scoring a hard call as a probability of
0 or 1 would give them a log loss of ~18 and an unfair defeat; instead each call carries the rate
at which "up" followed that same call in the training block (for a return label: the mean return
that followed it). One consequence is spelled out in the report: as probabilities, momentum and
reversal are the same one-bit model (a call and its opposite calibrate to the same numbers); they
differ in their call and in their ranking.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from updown.contract import CLASSIFICATION

BASELINES = ("majority", "momentum", "reversal", "linear")


@dataclass(frozen=True)
class Contender:
    """One contender's outputs on a set of rows (arrays aligned with those rows)."""

    score: np.ndarray
    value: np.ndarray
    up: np.ndarray


def rule_calls(ret_1: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    """Momentum calls up after a rising bar, reversal after a falling one; a flat or unknown last
    bar is "down" for both."""
    last = np.nan_to_num(np.asarray(ret_1, dtype=float))
    return {"momentum": last > 0, "reversal": last < 0}


def _conditional(
    call: np.ndarray, target: np.ndarray, overall: float, w: np.ndarray
) -> dict[str, float]:
    """Mean target (weighted by `w`) after an up call and after a down call (the overall mean
    if a call never happened in training)."""
    out = {}
    for name, mask in (("after_up", call), ("after_down", ~call)):
        out[name] = float(np.average(target[mask], weights=w[mask])) if mask.any() else overall
    return out


def ridge(
    z: np.ndarray, y: np.ndarray, alpha: float, weight: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept: minimises |y - b - z w|^2 + alpha |w|^2
    (each row's squared error times its `weight` when given).

    Solved on the small (features x features) normal equations by least squares, which stays
    stable when features are nearly collinear (many windows of one family) and the penalty is
    weak next to millions of rows, where a Cholesky solve warns of an ill-conditioned matrix.
    """
    w = np.ones(len(y)) if weight is None else weight
    mz, my = np.average(z, axis=0, weights=w), float(np.average(y, weights=w))
    zc = z - mz
    gram = zc.T @ (zc * w[:, None]) + alpha * np.eye(z.shape[1])
    coef = np.linalg.lstsq(gram, zc.T @ (w * (y - my)), rcond=None)[0]
    return coef, my - float(mz @ coef)


BLAS_THREADS = 2  # the count the committed results (headline.json) were fitted with


def standardise(
    x: pd.DataFrame, threads: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each column's median (0 where it has none), then its mean and standard deviation with
    missing values filled by the median (1 for a constant column), and the filled columns
    standardised: (fill, mean, scale, z). Columns of one dtype are done a column per thread,
    each with pandas' own reductions and in the layout a frame's values have (rows x columns,
    column-major), so the numbers are those of the whole-frame expressions below, to the bit."""
    if len(set(x.dtypes)) != 1 or threads <= 1:
        fill = x.median().fillna(0.0)
        xf = x.fillna(fill)
        mean, scale = xf.mean(), xf.std(ddof=0).replace(0.0, 1.0)
        z = ((xf - mean) / scale).to_numpy()
        return fill.to_numpy(), mean.to_numpy(), scale.to_numpy(), z
    block = np.empty((x.shape[1], len(x)), dtype=x.dtypes.iloc[0])
    stats = np.empty((3, x.shape[1]), dtype=block.dtype)

    def column(i: int) -> None:
        values = x.iloc[:, i]
        median = values.median()
        fill = 0.0 if pd.isna(median) else median
        filled = values.fillna(fill)
        mean, std = filled.mean(), filled.std(ddof=0)
        scale = 1.0 if std == 0.0 else std
        block[i] = ((filled - mean) / scale).to_numpy()
        stats[:, i] = fill, mean, scale

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(column, range(x.shape[1])))
    return stats[0], stats[1], stats[2], block.T


def fit_linear(
    x: pd.DataFrame,
    y: pd.Series,
    task: str,
    c: float,
    weight: np.ndarray | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Standardised L2 linear model: logistic (C = c) or ridge (alpha = 1 / (2c), the same
    penalty on the summed loss). Missing values are filled with the training medians. The
    standardising runs on `threads` threads (the same numbers on any number)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    fill, mean, scale, z = standardise(x, threads)
    # The fit's sums depend on how BLAS splits them across threads, and the thread count on who
    # runs train: Snakemake sets OPENBLAS_NUM_THREADS to the job's threads, DVC leaves it to the
    # core count. A fixed count gives the same coefficients under either, on any machine.
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        if task == CLASSIFICATION:
            # Newton steps on the (features x features) Hessian: a few iterations to the optimum,
            # where L-BFGS crawls along the flat directions of nearly collinear windows (on the
            # S&P block: 0.6 s against 4 s, and a lower penalised loss than L-BFGS reaches).
            clf = LogisticRegression(C=c, solver="newton-cholesky", max_iter=200)
            clf.fit(z, y.to_numpy(), sample_weight=weight)
            coef, intercept, kind = clf.coef_[0], float(clf.intercept_[0]), "logistic"
        else:
            coef, intercept = ridge(z, y.to_numpy(dtype=float), 1.0 / (2.0 * c), weight)
            kind = "ridge"
    return {
        "kind": kind,
        "features": list(x.columns),
        "fill": [float(v) for v in fill],
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "coef": [float(v) for v in coef],
        "intercept": intercept,
        "C": c,
    }


def fit_baselines(
    train: pd.DataFrame,
    features: list[str],
    task: str,
    linear_c: float,
    weight: np.ndarray | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Fit every baseline on the training rows (`label`, `ret_1` and the feature columns);
    `weight`: each row's sample weight (train.sample_weight), None for equal weights;
    `threads`: for the linear baseline's standardising."""
    y = train["label"].to_numpy(dtype=float)
    w = np.ones(len(y)) if weight is None else weight
    overall = float(np.average(y, weights=w))
    out: dict[str, Any] = {"majority": {"value": overall}}
    for name, call in rule_calls(train["ret_1"]).items():
        out[name] = _conditional(call, y, overall, w)
    out["linear"] = fit_linear(train[features], train["label"], task, linear_c, weight, threads)
    return out


def linear_value(rows: pd.DataFrame, lin: dict[str, Any], task: str) -> np.ndarray:
    """The linear baseline's output for each row: standardised a column at a time into one
    float64 block (3x faster than the same steps on a DataFrame), multiplied through the same
    column-major layout a frame's values have, so the sums, and the numbers, are the same."""
    names = lin["features"]
    fill, mean, scale = (np.asarray(lin[k], dtype=float) for k in ("fill", "mean", "scale"))
    block = np.empty((len(names), len(rows)))
    for i, name in enumerate(names):
        col = rows[name].to_numpy(dtype=float)
        block[i] = (np.where(np.isnan(col), fill[i], col) - mean[i]) / scale[i]
    z = block.T @ np.array(lin["coef"])
    z = z + lin["intercept"]
    return 1.0 / (1.0 + np.exp(-z)) if task == CLASSIFICATION else z


def predict_baselines(
    rows: pd.DataFrame, fitted: dict[str, Any], task: str, threshold: float
) -> dict[str, Contender]:
    """Every baseline's score, value and call for each row of `rows`."""
    n = len(rows)
    cut = threshold if task == CLASSIFICATION else 0.0
    majority = float(fitted["majority"]["value"])
    out = {
        "majority": Contender(
            score=np.full(n, majority), value=np.full(n, majority), up=np.full(n, majority > cut)
        )
    }
    last = np.nan_to_num(rows["ret_1"].to_numpy(dtype=float))
    for name, call in rule_calls(rows["ret_1"]).items():
        rate = fitted[name]
        value = np.where(call, rate["after_up"], rate["after_down"])
        out[name] = Contender(score=last if name == "momentum" else -last, value=value, up=call)
    lin = linear_value(rows, fitted["linear"], task)
    out["linear"] = Contender(score=lin, value=lin, up=lin > cut)
    return out


def describe(task: str) -> dict[str, str]:
    """One sentence per baseline, for the report."""
    if task == CLASSIFICATION:
        return {
            "majority": "always calls the class that was more frequent in training, with "
            "P(up) = the training share of up bars",
            "momentum": "calls up after a rising bar; its P(up) is how often up followed that "
            "call in training; ranks by the last return",
            "reversal": "calls up after a falling bar; its P(up) is how often up followed that "
            "call in training; ranks by minus the last return",
            "linear": "L2-regularised logistic regression on the same standardised features",
        }
    return {
        "majority": "predicts the training mean return for every bar (so always calls the "
        "majority direction)",
        "momentum": "calls up after a rising bar and predicts the mean return that followed "
        "that call in training; ranks by the last return",
        "reversal": "calls up after a falling bar and predicts the mean return that followed "
        "that call in training; ranks by minus the last return",
        "linear": "ridge regression on the same standardised features",
    }
